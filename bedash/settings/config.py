"""RunConfig: every knob of an experiment, declared once with its metadata, and the loops over
that metadata (validation naming the field, the run store's type check, the one-line summary).
What a type of setting means is bedash.settings.types; the CLI, the sweep and the forms are
generated from `config_fields()`. Imports neither torch nor pandas."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bedash.names import (
    CORRUPTION_NAMES,
    MODEL_KINDS,
    MODEL_LABELS,
    OOD_NAMES,
    ConfigError,
    parse_ood,
    parse_severities,
    parse_shift,
    validation_size,
)
from bedash.settings.limits import (
    DEFAULT_LIMITS,
    MAX_BATCH_SIZE,
    MAX_CHANNELS,
    MAX_EPOCHS,
    MAX_HIDDEN,
    MAX_LAYERS,
    MAX_MEMBERS,
    MAX_SIZE,
    Limits,
)
from bedash.settings.recipes import AUTO, RECIPES, recipe
from bedash.settings.types import TYPES as T
from bedash.settings.types import SettingType, Spec, limit_suffix

ARCHS = ("mlp", "cnn", "resnet")
ARCH_LABELS = {"mlp": "MLP (the seed's)", "cnn": "CNN (3 conv blocks)", "resnet": "ResNet (GPU)"}
RESNET_DEPTHS = ("9", "18")
BUILTIN_DATASETS = ("cifar10", "synthetic")
FAST_INITS = ("signs", "normal")
BIAS_MODES = ("shared", "member")
MEMBER_BATCH_MODES = ("tiled", "split")
GROUPS = {  # the form's sections and the CLI's argument groups, in this order
    "model": "Models and architecture",
    "training": "Training",
    "data": "Data",
    "hardware": "Hardware",
    "recipe": "The BatchEnsemble recipe",
    "evaluation": "Evaluation",
    "output": "Output",
}


def setting(type: SettingType, default: Any, label: str, help: str, group: str, **more: Any) -> Any:
    """A RunConfig field with its metadata (see bedash.settings.types.Spec for the keys)."""
    return dataclasses.field(default=default, metadata=_meta(type, label, help, group, **more))


def _meta(type: SettingType, label: str, help: str, group: str, **more: Any) -> dict[str, Any]:
    return {"type": type, "label": label, "help": help, "group": group, **more}


@dataclass(frozen=True)
class RunConfig:
    """One experiment. Defaults reproduce the seed notebook (CIFAR-10, MLP 2 x 128, E = 5)."""

    # -- data
    dataset: str = setting(
        T["text"], "cifar10", "Dataset",
        "synthetic: a learnable 10-class set made in memory (no files, no network); an image "
        "folder holds train/<class>/* and test/<class>/*, resized to 32 x 32.",
        "data", allowed="cifar10, synthetic or the path of an image folder", example="synthetic",
        start="synthetic",  # the form's: offline, and the kinds separate within 20-40 s
    )  # fmt: skip
    data_dir: str = setting(
        T["text"], "./data", "Data folder",
        "Where CIFAR-10 is downloaded and decoded tensors are cached.", "data",
    )  # fmt: skip
    # -- model
    models: tuple[str, ...] = setting(
        T["list"], ("batchensemble", "ensemble", "single"), "Models",
        "The model kinds, trained one after the other on the same batches in the same order.",
        "model", choices=MODEL_KINDS, choice_labels=MODEL_LABELS,
    )  # fmt: skip
    arch: str = setting(
        T["choice"], "mlp", "Architecture",
        "mlp: the seed notebook's MLP; cnn: a small conv net; resnet: wants a GPU (ResNet-9: 2.3 "
        "GFLOP per training image, 110 TFLOP per CIFAR-10 epoch: hours on a CPU).",
        "model", choices=ARCHS, choice_labels=ARCH_LABELS, sweepable=True,
    )  # fmt: skip
    members: int = setting(
        T["int"], 5, "Members (E)", "Ensemble size E (the seed uses 5).", "model",
        lo=1, hi=MAX_MEMBERS, limit="max_members", sweepable=True,
    )  # fmt: skip
    hidden: int = setting(
        T["int"], 128, "Hidden width",
        "MLP hidden units per layer / CNN classifier width (the seed uses 128).", "model",
        lo=1, hi=MAX_HIDDEN, limit="max_hidden", sweepable=True,
    )  # fmt: skip
    layers: int = setting(
        T["int"], 2, "Hidden layers", "Hidden layers of the MLP (the seed has 2).", "model",
        lo=1, hi=MAX_LAYERS, limit="max_layers", sweepable=True, when=("arch", "mlp"),
    )  # fmt: skip
    channels: int = setting(
        T["int"], 32, "CNN channels", "Channels of the CNN's first conv block, doubled per block.",
        "model", lo=1, hi=MAX_CHANNELS, sweepable=True, when=("arch", "cnn"),
    )  # fmt: skip
    depth: str = setting(
        T["choice"], "9", "ResNet depth",
        "9: Page's ResNet-9 (the DAWNBench entry); 18: ResNet-18 for 32 x 32 images.", "model",
        choices=RESNET_DEPTHS, sweepable=True, when=("arch", "resnet"),
    )  # fmt: skip
    width: int = setting(
        T["int"], 64, "ResNet width", "Channels of the ResNet's first stage, doubled per stage.",
        "model", lo=1, hi=MAX_CHANNELS, sweepable=True, when=("arch", "resnet"),
    )  # fmt: skip
    # -- training
    epochs: int = setting(
        T["int"], 20, "Epochs", "Passes over the training images, per model (the seed trains 20).",
        "training", lo=1, hi=MAX_EPOCHS, limit="max_epochs", sweepable=True, start=5,
    )  # fmt: skip
    batch_size: int = setting(
        T["int"], 32, "Batch size",
        "Images per step; every member sees the whole batch unless member batch is 'split' "
        "(the seed uses 32).",
        "training", lo=1, hi=MAX_BATCH_SIZE, limit="max_batch_size", sweepable=True,
    )  # fmt: skip
    lr: float = setting(
        T["float"], 1e-3, "Learning rate",
        "Adam's learning rate (the seed: 0.001), or SGD's peak.",
        "training", lo=0.0, open_lo=True, sweepable=True, form_range=(1e-6, 10.0), step=1e-4,
        fmt="%.4g",
    )  # fmt: skip
    weight_decay: float = setting(
        T["float"], 0.0, "Weight decay", "L2 on shared weights and biases; never on fast weights.",
        "training", lo=0.0, sweepable=True, form_range=(0.0, 1.0), step=1e-4, fmt="%.4g",
    )  # fmt: skip
    optimizer: str = setting(
        T["choice"], "auto", "Optimizer",
        "adam: fused Adam at a constant rate (the seed's); sgd: SGD with Nesterov momentum 0.9 "
        "and a one-cycle rate; auto: sgd for resnet, adam otherwise.",
        "training", choices=("auto", "adam", "sgd"), sweepable=True,
    )  # fmt: skip
    label_smoothing: float = setting(
        T["float"], 0.0, "Label smoothing",
        "Cross-entropy's label smoothing in the training loss, below 1 (evaluation: none).",
        "training", lo=0.0, sweepable=True, form_range=(0.0, 0.99), step=0.05,
    )  # fmt: skip
    augment: str = setting(
        T["choice"], "auto", "Augmentation",
        "crop-flip: random crops of the image padded by 4 pixels, and horizontal flips, on the "
        "device, the same for every kind; auto: crop-flip for resnet, none otherwise (the seed).",
        "training", choices=("auto", "crop-flip", "none"), sweepable=True,
    )  # fmt: skip
    seed: int = setting(
        T["int"], 0, "Seed",
        "Seeds initialisation and batch order; ensemble member k is initialised with seed + k.",
        "training", lo=0, hi=2**31 - 1, sweepable=True,
    )  # fmt: skip
    # -- hardware
    device: str = setting(
        T["text"], "auto", "Device", "auto: CUDA, then MPS, then the CPU.", "hardware",
        allowed="auto, cpu, cuda, cuda:N or mps", example="cpu",
    )  # fmt: skip
    # -- the BatchEnsemble recipe
    fast_init: str = setting(
        T["choice"], "signs", "Fast-weight init",
        "The r and s factors: random +-1 signs (the seed), or N(1, sigma).", "recipe",
        choices=FAST_INITS, sweepable=True,
    )  # fmt: skip
    fast_init_std: float = setting(
        T["float"], 0.5, "Fast-weight init sigma",
        "Standard deviation of the normal fast-weight init.", "recipe",
        lo=0.0, open_lo=True, sweepable=True, when=("fast_init", "normal"),
        form_range=(0.001, 10.0),
    )  # fmt: skip
    fast_lr_mult: float = setting(
        T["float"], 1.0, "Fast-weight LR multiplier",
        "Learning-rate multiplier of the fast weights (r, s).", "recipe",
        lo=0.0, open_lo=True, sweepable=True, form_range=(0.001, 1000.0),
    )  # fmt: skip
    bias: str = setting(
        T["choice"], "shared", "Bias",
        "One bias shared by all members (the seed), or one per member (the paper).", "recipe",
        choices=BIAS_MODES, sweepable=True,
    )  # fmt: skip
    member_batch: str = setting(
        T["choice"], "tiled", "Member batch",
        "tiled: every member sees the whole batch (the seed); split: each member sees its own "
        "1/E slice.",
        "recipe", choices=MEMBER_BATCH_MODES, sweepable=True,
    )  # fmt: skip
    # -- data sizes
    train_size: int | None = setting(
        T["int"], None, "Training images",
        "Use only the first N training images (after a fixed shuffle); empty: all.", "data",
        lo=1, hi=MAX_SIZE, limit="max_train_size", optional=True, sweepable=True, start=10_000,
    )  # fmt: skip
    test_size: int | None = setting(
        T["int"], None, "Test images", "Evaluate on the first N test images only; empty: all.",
        "data", lo=1, hi=MAX_SIZE, optional=True, start=2_000,
    )  # fmt: skip
    # -- evaluation and hardware
    eval_batch_size: int = setting(
        T["int"], 500, "Evaluation batch size",
        "Images per evaluation forward pass: larger chunks cost page faults on a CPU.",
        "evaluation", lo=1, hi=1_000_000,
    )  # fmt: skip
    # -- uncertainty under shift (uncertainty.evaluation; text lists, parsed by parse_shift & co.)
    shift: str = setting(
        T["names"], "", "Corruptions",
        "Also evaluate on the test set corrupted in the manner of CIFAR-10-C: all (its 15 "
        "corruptions but frost, which needs the authors' photographs), extra (the two more of "
        f"make_cifar_c.py), or a comma list of {', '.join(CORRUPTION_NAMES)}; empty: none.",
        "evaluation", example="contrast",
    )  # fmt: skip
    severities: str = setting(
        T["names"], "1-5", "Severities",
        "The corruption severities to evaluate: a range or a comma list (1-5, 3, 1,3,5).",
        "evaluation", allowed="severities from 1 to 5, as 1-5, 3 or 1,3,5", example="3",
    )  # fmt: skip
    ood: str = setting(
        T["names"], "", "OOD sets",
        "Out-of-distribution sets to detect by entropy and mutual information: a comma list "
        f"of {', '.join(OOD_NAMES)} or paths of image folders; empty: none.",
        "evaluation", example="uniform",
    )  # fmt: skip
    temperature_scaling: bool = setting(
        T["bool"], False, "Temperature scaling",
        "Fit one temperature per model on a validation split held out of the training set and "
        "report the scaled metrics beside the raw ones.",
        "evaluation",
    )  # fmt: skip
    val_size: int | None = setting(
        T["int"], None, "Validation images",
        "Training images held out to fit the temperature (with temperature scaling only); "
        "empty: a tenth of the training images.",
        "evaluation", lo=1, hi=MAX_SIZE, optional=True, when=("temperature_scaling", True),
    )  # fmt: skip
    compile: bool = setting(
        T["bool"], False, "torch.compile",
        "Compile the models first: pays off on CUDA for long runs, costs minutes on a CPU.",
        "hardware",
    )  # fmt: skip
    cuda_graphs: bool = setting(
        T["bool"], True, "CUDA graphs",
        "CUDA: replay each training step as one CUDA graph (the same math, less launch "
        "overhead); ignored on the CPU.",
        "hardware", flag="--no-cuda-graphs", negated=True,
    )  # fmt: skip
    extra: dict[str, Any] = dataclasses.field(
        default_factory=dict, compare=False,
        metadata=_meta(T["dict"], "Notes", "Free-form notes saved with the run (config.json).",
                       "output", flag=None),
    )  # fmt: skip

    # -- construction --------------------------------------------------------------------

    @classmethod
    def of(cls, **given: Any) -> RunConfig:
        """The config of the settings given: the rest from their architecture's recipe
        (bedash.settings.recipes), else RunConfig's defaults. Every front end builds so."""
        return cls(**{**recipe(given.get("arch", spec("arch").default)), **given})

    def with_recipe(self, names: Any) -> RunConfig:
        """The settings `names` (not given) as this config's architecture sets them."""
        return self.replace(**{n: recipe(self.arch).get(n, spec(n).default) for n in names})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Build from a (JSON) dict; unknown keys are an error, lists become tuples."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting (known: {', '.join(sorted(known))})")
        values = dict(data)
        if "models" in values:
            values["models"] = T["list"].parse(values["models"], spec("models"))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["models"] = list(self.models)
        return out

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def chosen(self, name: str) -> str:
        """An "auto" setting (optimizer, augment) resolved for this architecture."""
        value = getattr(self, name)
        return recipe(self.arch).get(name, AUTO[name]) if value == "auto" else value

    # -- validation ----------------------------------------------------------------------

    def validate(self, limits: Limits = DEFAULT_LIMITS) -> RunConfig:
        """Raise ConfigError naming the first bad field and the allowed values; return self."""
        lim = limit_suffix(limits)
        if problem := arch_problem(self.arch, limits):  # first: the other fields matter less
            raise ConfigError("arch", problem)
        for s in config_fields(extra=True):
            check_value(s, getattr(self, s.name), limits)
        if len(set(self.models)) != len(self.models):
            raise ConfigError("models", f"lists a kind twice ({', '.join(self.models)})")
        if self.member_batch == "split" and self.batch_size < self.members:
            raise ConfigError(
                "batch_size",
                f"must be at least members ({self.members}) when member_batch is 'split' "
                f"(got {self.batch_size})",
            )
        parse_shift(self.shift)
        parse_severities(self.severities)
        for name in parse_ood(self.ood):
            _check_ood(name, self, limits)
        if self.temperature_scaling and self.train_size is not None:
            validation_size(self.val_size, self.train_size)
        if self.label_smoothing >= 1.0:
            raise ConfigError("label_smoothing", f"must be below 1 (got {self.label_smoothing})")
        if limits.cpu_only and self.device not in ("auto", "cpu"):
            raise ConfigError("device", f"only cpu is available{lim} (got {self.device!r})")
        if self.dataset not in BUILTIN_DATASETS and not limits.allows_folder(self.dataset):
            raise ConfigError(
                "dataset",
                f"folders on the server cannot be used{lim}; upload a zip of the image "
                "folder, or choose cifar10 or synthetic",
            )
        return self


def arch_problem(arch: Any, limits: Limits = DEFAULT_LIMITS) -> str:
    """Why `arch` cannot run under `limits` (a CPU-only profile: no ResNet), or ""."""
    if limits.cpu_only and arch == "resnet":
        return f"resnet wants a GPU, and only cpu is available{limit_suffix(limits)}"
    return ""


# -- the loops over the metadata ---------------------------------------------------------------


@functools.cache
def _specs() -> tuple[Spec, ...]:
    out = []
    for f in fields(RunConfig):
        meta = dict(f.metadata)
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        meta.setdefault("flag", "--" + f.name.replace("_", "-"))
        meta.setdefault("recipe", {a: r[f.name] for a, r in RECIPES.items() if f.name in r})
        out.append(Spec(name=f.name, default=default, **meta))
    return tuple(out)


def config_fields(extra: bool = False) -> Iterator[Spec]:
    """Every RunConfig field's Spec, in order; `extra` (notes: no widget, no flag) if asked."""
    return iter([s for s in _specs() if extra or s.flag is not None])


def spec(name: str) -> Spec:
    """The Spec of one RunConfig field (KeyError for an unknown name)."""
    for s in _specs():
        if s.name == name:
            return s
    raise KeyError(name)


OTHER_LABELS = {"out": "Run folder", "runs_dir": "Runs folder"}  # error fields beyond settings


def label(name: str) -> str:
    """How the page names a field: "Members (E)"; errors about other fields read sensibly."""
    try:
        return spec(name).label
    except KeyError:
        return OTHER_LABELS.get(name, name.replace("_", " ").capitalize())


def flag(name: str) -> str:
    """How the CLI names a field: "--batch-size" (also for "out", "runs_dir"...)."""
    try:
        return spec(name).flag or name
    except KeyError:
        return "--" + name.replace("_", "-")


def field_names(extra: bool = False) -> list[str]:
    """The fields a front end must offer: a test compares this with what it reaches."""
    return [s.name for s in config_fields(extra)]


def example_value(name: str) -> Any:
    """A valid value other than the default, within the demo limits (front-end tests)."""
    s = spec(name)
    return s.type.example(s)


def check_value(s: Spec, value: Any, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise ConfigError if `value` is not allowed for the field `s` (under `limits`)."""
    problem = s.type.problem(value, s, limits)
    if problem:
        raise ConfigError(s.name, problem)


def parse_value(s: Spec, raw: Any, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Text (or a widget's value) -> a value of field `s`; ConfigError naming it otherwise."""
    return _named(s, s.type.parse, raw, limits)


def sweep_values(s: Spec, raw: Any, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    """A sweep's text for field `s` ('1,2,4') -> its values; ConfigError naming it."""
    return _named(s, s.type.sweep_values, raw, limits)


def _named(s: Spec, convert: Any, raw: Any, limits: Limits) -> Any:
    try:
        return convert(raw, s, limits)
    except ValueError as e:
        raise ConfigError(s.name, str(e)) from None


def _check_ood(name: str, cfg: RunConfig, limits: Limits) -> None:
    if name in OOD_NAMES:
        if name == cfg.dataset:
            raise ConfigError("ood", f"{name!r} is the run's own dataset, not out of distribution")
        return
    path = Path(name)
    if not path.is_dir():
        raise ConfigError(
            "ood",
            f"unknown OOD set {name!r}; allowed: {', '.join(OOD_NAMES)} or the path of a "
            "folder of images",
        )
    if not limits.allows_folder(name):
        raise ConfigError(
            "ood", f"folders on the server cannot be used{limit_suffix(limits)} ({name})"
        )
    if cfg.dataset not in BUILTIN_DATASETS and path.resolve() == Path(cfg.dataset).resolve():
        raise ConfigError("ood", f"{name!r} is the run's own dataset, not out of distribution")

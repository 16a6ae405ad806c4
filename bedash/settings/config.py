"""RunConfig: every knob of an experiment, declared once with its metadata (label, help, flag,
bounds, choices, group, sweepable), and the loops over that metadata: validation with messages
that name the field, the run store's type check, the one-line summary. The CLI and the form are
generated from `config_fields()`. Imports neither torch nor pandas.

Longer than most modules (~450 lines) because it is the one place every setting is declared:
25 fields with a label, a help text and bounds each, then the loops over them.
"""

# Size: ~600 lines, most of them the field declarations themselves (one per setting, with
# its label, help, bounds and choices): the price of declaring each setting once.

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bedash.names import (
    CORRUPTION_NAMES,
    MODEL_KINDS,
    MODEL_LABELS,
    OOD_NAMES,
    SEVERITY_RANGE,
    FieldError,
    Spec,
)

ARCHS = ("mlp", "cnn")
ARCH_LABELS = {"mlp": "MLP (the seed's)", "cnn": "CNN (3 conv blocks)"}
BUILTIN_DATASETS = ("cifar10", "synthetic")
FAST_INITS = ("signs", "normal")
BIAS_MODES = ("shared", "member")
MEMBER_BATCH_MODES = ("tiled", "split")
# the caps, written once: RunConfig's metadata and Limits' defaults both read them
MAX_MEMBERS = 64  # beyond this a BatchEnsemble stops being a sensible comparison
MAX_HIDDEN = 16384  # a 3072 x 16384 layer is already 200 MB of weights
MAX_LAYERS = 16
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 65_536
MAX_CHANNELS = 1024  # the CNN's first block; x4 by the last, 4096 channels is plenty
MAX_SIZE = 10**9  # images in a split: far beyond any dataset bedash can hold in memory
GROUPS = {  # the form's sections and the CLI's argument groups, in this order
    "model": "Models and architecture",
    "training": "Training",
    "data": "Data",
    "hardware": "Hardware",
    "recipe": "The BatchEnsemble recipe",
    "evaluation": "Evaluation",
    "output": "Output",
}
ABSURD = 1000  # config.json: an integer this many times above its cap is not a real setting


class ConfigError(FieldError):
    """A RunConfig field holds a value that cannot be used; `field` names it."""


@dataclass(frozen=True)
class Limits:
    """Upper bounds enforced by `RunConfig.validate`. The demo profile tightens them."""

    max_members: int = MAX_MEMBERS
    max_hidden: int = MAX_HIDDEN
    max_layers: int = MAX_LAYERS
    max_epochs: int = MAX_EPOCHS
    max_batch_size: int = MAX_BATCH_SIZE
    max_train_size: int | None = None  # None: the whole split
    max_wall_seconds: float | None = None  # per job; enforced by the runner, not here
    unwatched_seconds: float | None = None  # the runner stops a job no page polled this long
    max_running: int | None = None  # jobs training at once on the server (None: its setting)
    torch_threads: int | None = None  # intra-op threads of a job (None: torch's default)
    eval_batch_size: int | None = None  # the runner evaluates at most this many images at once
    cpu_only: bool = False  # a shared host: no GPU jobs
    dataset_roots: tuple[str, ...] | None = None  # image folders only inside these (None: any)
    name: str = "default"  # shown in messages ("demo limit")


DEFAULT_LIMITS = Limits()


def setting(kind: str, default: Any, label: str, help: str, group: str, **more: Any) -> Any:
    """A RunConfig field with its metadata (see bedash.names.Spec for the keys)."""
    return dataclasses.field(default=default, metadata=_meta(kind, label, help, group, **more))


def _meta(kind: str, label: str, help: str, group: str, **more: Any) -> dict[str, Any]:
    return {"kind": kind, "label": label, "help": help, "group": group, **more}


@dataclass(frozen=True)
class RunConfig:
    """One experiment. Defaults reproduce the seed notebook (CIFAR-10, MLP 2 x 128, E = 5)."""

    # -- data
    dataset: str = setting(
        "text", "cifar10", "Dataset",
        "synthetic: a learnable 10-class set made in memory (no files, no network); an image "
        "folder holds train/<class>/* and test/<class>/*, resized to 32 x 32.",
        "data", allowed="cifar10, synthetic or the path of an image folder",
    )  # fmt: skip
    data_dir: str = setting(
        "text", "./data", "Data folder",
        "Where CIFAR-10 is downloaded and decoded tensors are cached.", "data",
    )  # fmt: skip
    # -- model
    models: tuple[str, ...] = setting(
        "kinds", ("batchensemble", "ensemble", "single"), "Models",
        "The model kinds, trained one after the other on the same batches in the same order.",
        "model", choices=MODEL_KINDS, choice_labels=MODEL_LABELS,
    )  # fmt: skip
    arch: str = setting(
        "choice", "mlp", "Architecture", "mlp: the seed notebook's MLP; cnn: a small conv net.",
        "model", choices=ARCHS, choice_labels=ARCH_LABELS, sweepable=True,
    )  # fmt: skip
    members: int = setting(
        "int", 5, "Members (E)", "Ensemble size E (the seed uses 5).", "model",
        lo=1, hi=MAX_MEMBERS, limit="max_members", sweepable=True,
    )  # fmt: skip
    hidden: int = setting(
        "int", 128, "Hidden width",
        "MLP hidden units per layer / CNN classifier width (the seed uses 128).", "model",
        lo=1, hi=MAX_HIDDEN, limit="max_hidden", sweepable=True,
    )  # fmt: skip
    layers: int = setting(
        "int", 2, "Hidden layers", "Hidden layers of the MLP (the seed has 2).", "model",
        lo=1, hi=MAX_LAYERS, limit="max_layers", sweepable=True, when=("arch", "mlp"),
    )  # fmt: skip
    channels: int = setting(
        "int", 32, "CNN channels", "Channels of the CNN's first conv block, doubled per block.",
        "model", lo=1, hi=MAX_CHANNELS, sweepable=True, when=("arch", "cnn"),
    )  # fmt: skip
    # -- training
    epochs: int = setting(
        "int", 20, "Epochs", "Passes over the training images, per model (the seed trains 20).",
        "training", lo=1, hi=MAX_EPOCHS, limit="max_epochs", sweepable=True,
    )  # fmt: skip
    batch_size: int = setting(
        "int", 32, "Batch size",
        "Images per step; every member sees the whole batch unless member batch is 'split' "
        "(the seed uses 32).",
        "training", lo=1, hi=MAX_BATCH_SIZE, limit="max_batch_size", sweepable=True,
    )  # fmt: skip
    lr: float = setting(
        "float", 1e-3, "Learning rate", "Adam's learning rate (the seed: 0.001).", "training",
        lo=0.0, open_lo=True, sweepable=True, form_range=(1e-6, 10.0), step=1e-4, fmt="%.4g",
    )  # fmt: skip
    weight_decay: float = setting(
        "float", 0.0, "Weight decay", "L2 on shared weights and biases; never on fast weights.",
        "training", lo=0.0, sweepable=True, form_range=(0.0, 1.0), step=1e-4, fmt="%.4g",
    )  # fmt: skip
    seed: int = setting(
        "int", 0, "Seed",
        "Seeds initialisation and batch order; ensemble member k is initialised with seed + k.",
        "training", lo=0, hi=2**31 - 1, sweepable=True,
    )  # fmt: skip
    # -- hardware
    device: str = setting(
        "text", "auto", "Device", "auto: CUDA, then MPS, then the CPU.", "hardware",
        allowed="auto, cpu, cuda, cuda:N or mps",
    )  # fmt: skip
    # -- the BatchEnsemble recipe
    fast_init: str = setting(
        "choice", "signs", "Fast-weight init",
        "The r and s factors: random +-1 signs (the seed), or N(1, sigma).", "recipe",
        choices=FAST_INITS, sweepable=True,
    )  # fmt: skip
    fast_init_std: float = setting(
        "float", 0.5, "Fast-weight init sigma",
        "Standard deviation of the normal fast-weight init.", "recipe",
        lo=0.0, open_lo=True, sweepable=True, when=("fast_init", "normal"),
        form_range=(0.001, 10.0),
    )  # fmt: skip
    fast_lr_mult: float = setting(
        "float", 1.0, "Fast-weight LR multiplier",
        "Learning-rate multiplier of the fast weights (r, s).", "recipe",
        lo=0.0, open_lo=True, sweepable=True, form_range=(0.001, 1000.0),
    )  # fmt: skip
    bias: str = setting(
        "choice", "shared", "Bias",
        "One bias shared by all members (the seed), or one per member (the paper).", "recipe",
        choices=BIAS_MODES, sweepable=True,
    )  # fmt: skip
    member_batch: str = setting(
        "choice", "tiled", "Member batch",
        "tiled: every member sees the whole batch (the seed); split: each member sees its own "
        "1/E slice.",
        "recipe", choices=MEMBER_BATCH_MODES, sweepable=True,
    )  # fmt: skip
    # -- data sizes
    train_size: int | None = setting(
        "int", None, "Training images",
        "Use only the first N training images (after a fixed shuffle); empty: all.", "data",
        lo=1, hi=MAX_SIZE, limit="max_train_size", optional=True, sweepable=True,
    )  # fmt: skip
    test_size: int | None = setting(
        "int", None, "Test images", "Evaluate on the first N test images only; empty: all.",
        "data", lo=1, hi=MAX_SIZE, optional=True,
    )  # fmt: skip
    # -- evaluation and hardware
    eval_batch_size: int = setting(
        "int", 500, "Evaluation batch size",
        "Images per evaluation forward pass: larger chunks cost page faults on a CPU.",
        "evaluation", lo=1, hi=1_000_000,
    )  # fmt: skip
    # -- uncertainty under shift (uncertainty.evaluation; text lists, parsed by parse_shift & co.)
    shift: str = setting(
        "text", "", "Corruptions",
        "Also evaluate on the test set corrupted in the manner of CIFAR-10-C: all, or a comma "
        f"list of {', '.join(CORRUPTION_NAMES)}; empty: none.",
        "evaluation",
    )  # fmt: skip
    severities: str = setting(
        "text", "1-5", "Severities",
        "The corruption severities to evaluate: a range or a comma list (1-5, 3, 1,3,5).",
        "evaluation", allowed="severities from 1 to 5, as 1-5, 3 or 1,3,5",
    )  # fmt: skip
    ood: str = setting(
        "text", "", "OOD sets",
        "Out-of-distribution sets to detect by entropy and mutual information: a comma list "
        f"of {', '.join(OOD_NAMES)} or paths of image folders; empty: none.",
        "evaluation",
    )  # fmt: skip
    temperature_scaling: bool = setting(
        "bool", False, "Temperature scaling",
        "Fit one temperature per model on a validation split held out of the training set and "
        "report the scaled metrics beside the raw ones.",
        "evaluation",
    )  # fmt: skip
    val_size: int | None = setting(
        "int", None, "Validation images",
        "Training images held out to fit the temperature (with temperature scaling only); "
        "empty: a tenth of the training images.",
        "evaluation", lo=1, hi=MAX_SIZE, optional=True, when=("temperature_scaling", True),
    )  # fmt: skip
    compile: bool = setting(
        "bool", False, "torch.compile",
        "Compile the models first: pays off on CUDA for long runs, costs minutes on a CPU.",
        "hardware",
    )  # fmt: skip
    cuda_graphs: bool = setting(
        "bool", True, "CUDA graphs",
        "CUDA: replay each training step as one CUDA graph (the same math, less launch "
        "overhead); ignored on the CPU.",
        "hardware", flag="--no-cuda-graphs", negated=True,
    )  # fmt: skip
    extra: dict[str, Any] = dataclasses.field(
        default_factory=dict, compare=False,
        metadata=_meta("dict", "Notes", "Free-form notes saved with the run (config.json).",
                       "output", flag=None),
    )  # fmt: skip

    # -- construction --------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Build from a (JSON) dict; unknown keys are an error, lists become tuples."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting (known: {', '.join(sorted(known))})")
        values = dict(data)
        if "models" in values:
            values["models"] = parse_models(values["models"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["models"] = list(self.models)
        return out

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    # -- validation ----------------------------------------------------------------------

    def validate(self, limits: Limits = DEFAULT_LIMITS) -> RunConfig:
        """Raise ConfigError naming the first bad field and the allowed values; return self.
        Each field is checked against its metadata, then the rules about several fields."""
        for s in config_fields(extra=True):
            check_value(s, getattr(self, s.name), limits)
        lim = _limit_suffix(limits)
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
        if limits.cpu_only and self.device not in ("auto", "cpu"):
            raise ConfigError("device", f"only cpu is available{lim} (got {self.device!r})")
        if self.dataset not in BUILTIN_DATASETS and limits.dataset_roots is not None:
            path = Path(self.dataset).resolve()
            roots = [Path(r).resolve() for r in limits.dataset_roots]
            if not any(path == r or r in path.parents for r in roots):
                raise ConfigError(
                    "dataset",
                    f"folders on the server cannot be used{lim}; upload a zip of the image "
                    "folder, or choose cifar10 or synthetic",
                )
        return self


# -- the loops over the metadata ---------------------------------------------------------------


@functools.cache
def _specs() -> tuple[Spec, ...]:
    out = []
    for f in fields(RunConfig):
        meta = dict(f.metadata)
        default = {} if meta["kind"] == "dict" else f.default
        meta.setdefault("flag", "--" + f.name.replace("_", "-"))
        out.append(Spec(name=f.name, default=default, **meta))
    return tuple(out)


def config_fields(extra: bool = False) -> Iterator[Spec]:
    """Every RunConfig field's Spec, in declaration order; `extra` (free-form notes, no
    widget and no flag) only when asked for."""
    return iter([s for s in _specs() if extra or s.kind != "dict"])


def spec(name: str) -> Spec:
    """The Spec of one RunConfig field (KeyError for an unknown name)."""
    for s in _specs():
        if s.name == name:
            return s
    raise KeyError(name)


OTHER_LABELS = {"out": "Run folder", "runs_dir": "Runs folder"}  # fields errors name that are
# not settings of a run


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
    """A valid value other than the default, within the demo limits: front-end tests set
    each field to it and check that it arrives in the RunConfig."""
    s = spec(name)
    d = s.default
    if s.kind == "int":  # small: valid under any profile's caps
        return int(s.lo) + 1 if d != s.lo + 1 else int(s.lo) + 2
    if s.kind == "float":
        return d * 2 if d else 0.01
    if s.kind == "choice":
        return next(c for c in s.choices if c != d)
    if s.kind == "kinds":
        return ("single",)
    if s.kind == "bool":
        return not d
    if s.kind == "dict":
        return {"notes": "an example"}
    texts = {"dataset": "synthetic", "device": "cpu", "shift": "contrast", "severities": "3",
             "ood": "uniform"}  # fmt: skip
    return texts.get(name, d + "-other")


def _limit_suffix(limits: Limits) -> str:
    return f" ({limits.name} limit)" if limits.name != "default" else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_value(s: Spec, value: Any, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise ConfigError if `value` is not allowed for the field `s` (under `limits`)."""
    lo, hi = s.bounds(limits)
    capped = s.limit is not None and getattr(limits, s.limit, None) is not None
    lim = _limit_suffix(limits) if capped else ""
    if s.kind == "int":
        if value is None and s.optional:
            if capped:  # a profile caps it: "all" is too many
                raise ConfigError(s.name, f"must be at most {hi}{lim} (got all)")
            return
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(s.name, f"must be a whole number from {lo} to {hi} (got {value!r})")
        if s.optional and value > hi:
            raise ConfigError(s.name, f"must be at most {hi}{lim} (got {value})")
        if not lo <= value <= hi:
            raise ConfigError(s.name, f"must be from {lo} to {hi}{lim} (got {value})")
    elif s.kind == "float":
        rel = ">" if s.open_lo else ">="
        finite = _is_number(value) and math.isfinite(value)
        if not finite or (s.open_lo and value <= lo):
            raise ConfigError(s.name, f"must be a finite number {rel} {lo:g} (got {value!r})")
        if value < lo:
            raise ConfigError(s.name, f"must be {rel} {lo:g} (got {value})")
    elif s.kind == "choice":
        _choice(s.name, value, s.choices)
    elif s.kind == "kinds":
        if not value:
            raise ConfigError(s.name, f"choose at least one of {', '.join(s.choices)}")
        for kind in value:
            _choice(s.name, kind, s.choices)
    elif s.kind == "text":
        if not isinstance(value, str) or (s.allowed and not value.strip()):
            raise ConfigError(s.name, f"must be {s.allowed or 'text'}")
    elif s.kind == "bool" and not isinstance(value, bool):
        raise ConfigError(s.name, f"must be true or false (got {value!r})")
    elif s.kind == "dict" and not isinstance(value, dict):
        raise ConfigError(s.name, f"must be a mapping of notes (got {value!r})")


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(name, f"unknown value {value!r}; allowed: {', '.join(allowed)}")


# -- run folders: what config.json may hold, and its one-line summary -------------------------


def _stored_ok(s: Spec, value: Any) -> bool:
    """Can this value from a config.json be shown as field `s`? Types only, not limits: a run
    made under looser limits, or a newer version's choice, is still shown."""
    if value is None:
        return s.optional
    if s.kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return ok and s.lo <= value <= s.hi * ABSURD
    if s.kind == "float":
        return _is_number(value) and math.isfinite(value)
    if s.kind == "kinds":
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    return isinstance(value, s.type)


def config_problem(d: dict[str, Any]) -> str:
    """Why a config.json dict cannot be shown (a setting of the wrong type, a NaN, an absurd
    integer), or "". Missing fields are fine (an older run); unknown keys are ignored (a newer
    version's setting); "_meta" must be a mapping."""
    for s in config_fields(extra=True):
        if s.name in d and not _stored_ok(s, d[s.name]):
            return f"config.json has a bad {s.name!r}: {_short(d[s.name])}"
    if d.get("_meta") is not None and not isinstance(d["_meta"], dict):
        return f"config.json has a bad '_meta': {_short(d['_meta'])}"
    return ""


def _short(value: Any) -> str:
    try:
        text = json.dumps(value)  # escapes control characters: safe to print
    except (TypeError, ValueError):
        text = ascii(value)
    return text[:40]


def config_summary(d: dict[str, Any]) -> str:
    """One line: dataset and sizes, architecture, E, epochs, batch, learning rate, seed."""

    def count(value: object) -> str:
        if value in (None, ""):
            return "all"
        return f"{value:,}" if _is_number(value) else str(value)

    dataset = str(d.get("dataset", ""))
    if "/" in dataset:  # an image folder: its name is enough
        dataset = dataset.rstrip("/").rsplit("/", 1)[-1]
    shape = (
        f"{d.get('layers')} × {d.get('hidden')}"
        if d.get("arch") == "mlp"
        else f"{d.get('channels')} channels, width {d.get('hidden')}"
    )
    return (
        f"{dataset} ({count(d.get('train_size'))} train / {count(d.get('test_size'))} test "
        f"images) · {str(d.get('arch', '')).upper()} {shape} · E = {d.get('members')} · "
        f"{d.get('epochs')} epochs · batch {d.get('batch_size')} · lr {d.get('lr')} · "
        f"seed {d.get('seed')}"
    )


def parse_models(value: Any) -> tuple[str, ...]:
    """Accept 'a,b', ['a', 'b'] or ('a', 'b'); strip blanks; keep order."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(v).strip() for v in items if str(v).strip())


# -- uncertainty under shift: the text lists -> tuples -----------------------------------------


def _items(text: Any, name: str) -> list[str]:
    if not isinstance(text, str):
        raise ConfigError(name, f"must be text (got {text!r})")
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_shift(text: Any) -> tuple[str, ...]:
    """'all' or 'a,b' -> the corruption names, in order, once each ('' -> none)."""
    out: list[str] = []
    for item in _items(text, "shift"):
        if item != "all" and item not in CORRUPTION_NAMES:
            raise ConfigError(
                "shift",
                f"unknown corruption {item!r}; allowed: all, {', '.join(CORRUPTION_NAMES)}",
            )
        for n in CORRUPTION_NAMES if item == "all" else (item,):
            if n not in out:
                out.append(n)
    return tuple(out)


def parse_severities(text: Any) -> tuple[int, ...]:
    """'1-5', '3' or '1,3,5' (ranges and single values, comma-separated) -> sorted severities."""
    lo, hi = SEVERITY_RANGE
    bad = ConfigError(
        "severities", f"must be severities from {lo} to {hi}, as 1-5, 3 or 1,3,5 (got {text!r})"
    )
    items = _items(text, "severities")
    if not items:
        raise bad
    out: set[int] = set()
    for item in items:
        a, sep, b = item.partition("-")
        try:
            first, last = int(a), int(b) if sep else int(a)
        except ValueError:
            raise bad from None
        if not lo <= first <= last <= hi:
            raise bad
        out.update(range(first, last + 1))
    return tuple(sorted(out))


def parse_ood(text: Any) -> tuple[str, ...]:
    """'uniform,PATH' -> the OOD sets named (set names or folder paths), once each."""
    return tuple(dict.fromkeys(_items(text, "ood")))


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
    if limits.dataset_roots is not None:
        roots = [Path(r).resolve() for r in limits.dataset_roots]
        p = path.resolve()
        if not any(p == r or r in p.parents for r in roots):
            raise ConfigError(
                "ood", f"folders on the server cannot be used{_limit_suffix(limits)} ({name})"
            )
    if cfg.dataset not in BUILTIN_DATASETS and path.resolve() == Path(cfg.dataset).resolve():
        raise ConfigError("ood", f"{name!r} is the run's own dataset, not out of distribution")


def validation_size(val_size: int | None, train_images: int) -> int:
    """The images to hold out for temperature scaling (None: a tenth of the training set); the
    split must leave training images, and hold at least one."""
    n = max(train_images // 10, 1) if val_size is None else val_size
    if n >= train_images:
        raise ConfigError(
            "val_size",
            f"must be smaller than the training set ({train_images} images; got {n})",
        )
    return n

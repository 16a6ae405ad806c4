"""RunConfig: every knob of an experiment, validated with messages that name the field."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

MODEL_KINDS = ("batchensemble", "ensemble", "ensemble_parallel", "single")
ARCHS = ("mlp", "cnn")
BUILTIN_DATASETS = ("cifar10", "synthetic")
FAST_INITS = ("signs", "normal")
BIAS_MODES = ("shared", "member")
MEMBER_BATCH_MODES = ("tiled", "split")


class ConfigError(ValueError):
    """A RunConfig field holds a value that cannot be used; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Limits:
    """Upper bounds enforced by `RunConfig.validate`. The demo profile tightens them."""

    max_members: int = 64  # beyond this a BatchEnsemble stops being a sensible comparison
    max_hidden: int = 16384  # a 3072 x 16384 layer is already 200 MB of weights
    max_layers: int = 16
    max_epochs: int = 10_000
    max_batch_size: int = 65_536
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


@dataclass(frozen=True)
class RunConfig:
    """One experiment. Defaults reproduce the seed notebook (CIFAR-10, MLP 2 x 128, E = 5)."""

    dataset: str = "cifar10"  # cifar10 | synthetic | path of an image folder (train/ and test/)
    data_dir: str = "./data"  # where CIFAR-10 is downloaded and decoded tensors are cached
    models: tuple[str, ...] = ("batchensemble", "ensemble", "single")  # kinds, trained in order
    arch: str = "mlp"  # mlp: the seed's MLP; cnn: a small 3-block CNN
    members: int = 5  # E, ensemble size (the seed uses 5)
    hidden: int = 128  # MLP hidden width / CNN classifier width (the seed uses 128)
    layers: int = 2  # number of hidden layers of the MLP (the seed has 2)
    channels: int = 32  # CNN: channels of the first conv block (doubled per block)
    epochs: int = 20  # the seed trains for 20 epochs
    batch_size: int = 32  # the seed's DataLoader batch size
    lr: float = 1e-3  # Adam learning rate, as the seed
    weight_decay: float = 0.0  # L2 on shared weights and biases; never on fast weights
    seed: int = 0  # seeds init and batch order; ensemble member k is initialised with seed + k
    device: str = "auto"  # auto = cuda, then mps, then cpu
    fast_init: str = "signs"  # BatchEnsemble r/s init: random +-1 signs, or N(1, fast_init_std)
    fast_init_std: float = 0.5  # sigma of the normal fast-weight init
    fast_lr_mult: float = 1.0  # learning-rate multiplier of the fast weights (r, s)
    bias: str = "shared"  # BatchEnsemble bias: shared (the seed) or one per member (paper)
    member_batch: str = "tiled"  # tiled: every member sees the whole batch (seed); split: 1/E each
    train_size: int | None = None  # use only the first N training images (None: all)
    test_size: int | None = None  # use only the first N test images (None: all)
    eval_batch_size: int = 500  # images per evaluation pass: larger chunks cost page faults on CPU
    compile: bool = False  # torch.compile the model for training
    cuda_graphs: bool = True  # CUDA: replay each training step as one CUDA graph (same math)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # free-form notes

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
        """Raise ConfigError naming the first bad field and the allowed values; return self."""
        lim = f" ({limits.name} limit)" if limits.name != "default" else ""
        _int_range("members", self.members, 1, limits.max_members, lim)
        _int_range("hidden", self.hidden, 1, limits.max_hidden, lim)
        _int_range("layers", self.layers, 1, limits.max_layers, lim)
        _int_range("channels", self.channels, 1, 1024, "")
        _int_range("epochs", self.epochs, 1, limits.max_epochs, lim)
        _int_range("batch_size", self.batch_size, 1, limits.max_batch_size, lim)
        _int_range("eval_batch_size", self.eval_batch_size, 1, 1_000_000, "")
        _int_range("seed", self.seed, 0, 2**31 - 1, "")
        _positive_float("lr", self.lr)
        _positive_float("fast_lr_mult", self.fast_lr_mult)
        _positive_float("fast_init_std", self.fast_init_std)
        if not _is_number(self.weight_decay) or not math.isfinite(self.weight_decay):
            raise ConfigError(
                "weight_decay", f"must be a finite number >= 0 (got {self.weight_decay!r})"
            )
        if self.weight_decay < 0:
            raise ConfigError("weight_decay", f"must be >= 0 (got {self.weight_decay})")
        for name, size in (("train_size", self.train_size), ("test_size", self.test_size)):
            if size is not None:
                _int_range(name, size, 1, 10**9, "")
        cap = limits.max_train_size
        if cap is not None and (self.train_size is None or self.train_size > cap):
            got = self.train_size or "all"
            raise ConfigError("train_size", f"must be at most {cap}{lim} (got {got})")
        _choice("arch", self.arch, ARCHS)
        _choice("fast_init", self.fast_init, FAST_INITS)
        _choice("bias", self.bias, BIAS_MODES)
        _choice("member_batch", self.member_batch, MEMBER_BATCH_MODES)
        if not self.models:
            raise ConfigError("models", f"choose at least one of {', '.join(MODEL_KINDS)}")
        for kind in self.models:
            _choice("models", kind, MODEL_KINDS)
        if len(set(self.models)) != len(self.models):
            raise ConfigError("models", f"lists a kind twice ({', '.join(self.models)})")
        if self.member_batch == "split" and self.batch_size < self.members:
            raise ConfigError(
                "batch_size",
                f"must be at least members ({self.members}) when member_batch is 'split' "
                f"(got {self.batch_size})",
            )
        if not isinstance(self.dataset, str) or not self.dataset.strip():
            raise ConfigError(
                "dataset", "must be cifar10, synthetic or the path of an image folder"
            )
        if not isinstance(self.device, str) or not self.device:
            raise ConfigError("device", "must be auto, cpu, cuda, cuda:N or mps")
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


def parse_models(value: Any) -> tuple[str, ...]:
    """Accept 'a,b', ['a', 'b'] or ('a', 'b'); strip blanks; keep order."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(v).strip() for v in items if str(v).strip())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_range(name: str, value: Any, lo: int, hi: int, suffix: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(name, f"must be a whole number from {lo} to {hi} (got {value!r})")
    if not lo <= value <= hi:
        raise ConfigError(name, f"must be from {lo} to {hi}{suffix} (got {value})")


def _positive_float(name: str, value: Any) -> None:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise ConfigError(name, f"must be a finite number > 0 (got {value!r})")


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(name, f"unknown value {value!r}; allowed: {', '.join(allowed)}")

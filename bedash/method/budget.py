"""Will this config fit? `check_budget` estimates the memory a run needs and, before the run
folder exists, refuses a valid config that cannot fit in what this machine (or the CUDA device)
has free (`--members 64 --hidden 16384 --layers 16` asks for ~4 TB), with a ConfigError naming
the field that dominates. The estimate:
  parameters   exact, from the model built on torch's "meta" device (no memory)
  gradients    one per parameter (they stay allocated after the last step)
  Adam state   the optimizer's state: two per parameter for Adam, one (momentum) for SGD;
               the sequential ensemble holds one member's at a time
  activations  rows (E x B) x the per-image widths, forward values and backward gradients
  evaluation   one eval chunk's activations, the logits of the test split (3 copies) and
               BatchEnsemble's first-layer weight scaled per member (its inference path)
  data         train + test images as uint8 (3072 bytes each), resident on the device
and a run may use at most `USABLE_FRACTION` of what is available (allocator slack, the
transient copies of loading). Models train one after another: the heaviest kind counts.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from bedash.method.devices import resolve_device
from bedash.names import ConfigError, DatasetError
from bedash.settings.config import RunConfig

IMAGE_SHAPE = (3, 32, 32)  # every dataset is decoded to 32 x 32 RGB
IMAGE_BYTES = 3 * 32 * 32  # uint8
FLOAT_BYTES = 4
# forward values are counted in `_widths` (each layer's output and its ReLU); backward holds
# gradients of the same size, and BatchEnsemble keeps its scaled input (x * s) besides: x 3
ACTIVATION_FACTOR = 3
LOGIT_COPIES = 3  # on the device, on the host, and softmax probabilities in the metrics
USABLE_FRACTION = 0.8  # of the available memory a run may plan to use
FULL_SPLITS = {"cifar10": (50_000, 10_000), "synthetic": (50_000, 10_000)}
PARTS = ("parameters", "gradients", "Adam state", "activations", "evaluation", "data")


@dataclass(frozen=True)
class Estimate:
    """Bytes a run needs on one memory (the heaviest model kind's parts, plus the data)."""

    kind: str  # the model kind that needs the most
    parts: dict[str, int]  # PARTS -> bytes

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def describe(self) -> str:
        """'about 2.1 TB (parameters 1.0 TB, ...)' for the refusal."""
        shown = [f"{name} {format_bytes(b)}" for name, b in self.parts.items() if b]
        return f"about {format_bytes(self.total)} ({', '.join(shown)})"


def format_bytes(n: float) -> str:
    """1234567 -> '1.2 MB' (decimal units; two significant digits under 10)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if n < 10 and unit != "B" else f"{n:.0f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


# -- the estimate ----------------------------------------------------------------------------


def param_bytes(kind: str, cfg: RunConfig, num_classes: int = 10) -> tuple[int, int]:
    """(parameter count, bytes) of `kind` as build_model makes it, on the meta device. Every
    kind is affine in E, so E = 1 and E = 2 are built and extrapolated: exact, instant at 64."""
    if kind == "single":
        return _built(kind, cfg.replace(members=1, extra={}), num_classes)
    (c1, b1), (c2, b2) = (
        _built(kind, cfg.replace(members=e, extra={}), num_classes) for e in (1, 2)
    )
    E = cfg.members
    return c1 + (E - 1) * (c2 - c1), b1 + (E - 1) * (b2 - b1)


@functools.lru_cache(maxsize=256)  # the refusal compares a few variants of one config
def _built(kind: str, cfg: RunConfig, num_classes: int) -> tuple[int, int]:
    from bedash.method.models import build_model, param_stats

    # build_model seeds the global RNG: keep the caller's stream as it was
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        return param_stats(build_model(kind, cfg, num_classes, IMAGE_SHAPE))


@functools.lru_cache(maxsize=256)
def _widths(cfg: RunConfig, num_classes: int) -> tuple[int, int]:
    """Float activations of one image in one member's forward pass, read off the architecture on
    the meta device: (what training keeps for backward: the input and every layer's output,
    views aside; the most alive at once without autograd: the input, widest output, its ReLU)."""
    from bedash.method.models import make_arch

    outputs: list[int] = []

    def record(module: torch.nn.Module, args: object, out: torch.Tensor) -> None:
        if not isinstance(module, torch.nn.Flatten):  # a view: no memory of its own
            outputs.append(out[0].numel())

    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        net = make_arch(cfg, num_classes, IMAGE_SHAPE)
        leaves = [m for m in net.modules() if not list(m.children())]
        hooks = [m.register_forward_hook(record) for m in leaves]
        net(torch.empty(1, *IMAGE_SHAPE))
    for h in hooks:
        h.remove()
    image = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
    return image + sum(outputs), image + 2 * max(outputs)


def kind_bytes(kind: str, cfg: RunConfig, n_test: int, num_classes: int = 10) -> dict[str, int]:
    """Parameters, gradients, Adam state, activations and evaluation of one model kind."""
    E = cfg.members if kind != "single" else 1
    _, params = param_bytes(kind, cfg, num_classes)
    slots = 1 if cfg.chosen("optimizer") == "sgd" else 2  # momentum; Adam's two moments
    adam = slots * params // E if kind == "ensemble" else slots * params  # one member at a time
    split = kind == "batchensemble" and cfg.member_batch == "split"
    wide = kind in ("batchensemble", "ensemble_parallel")  # all members in one pass
    rows = cfg.batch_size * (E if wide and not split else 1)
    kept, alive = _widths(cfg, num_classes)
    eval_rows = cfg.eval_batch_size * (E if wide else 1)
    kept_for_eval = E * n_test * num_classes * FLOAT_BYTES * LOGIT_COPIES  # the logits
    if kind == "batchensemble":  # inference keeps the first layer's weight scaled per member
        c, h, w = IMAGE_SHAPE
        first = {"cnn": c * 9 * cfg.channels, "resnet": c * 9 * cfg.width}.get(
            cfg.arch, c * h * w * cfg.hidden
        )
        kept_for_eval += E * first * FLOAT_BYTES
    return {
        "parameters": params,
        "gradients": params,
        "Adam state": adam,
        "activations": rows * kept * FLOAT_BYTES * ACTIVATION_FACTOR,
        "evaluation": eval_rows * alive * FLOAT_BYTES + kept_for_eval,
    }


def planned_images(cfg: RunConfig) -> tuple[int, int, int]:
    """(train images, test images, classes) the run will load; image folders are scanned (an
    unreadable one counts as empty here: loading reports it with the file named)."""
    if cfg.dataset in FULL_SPLITS:
        n_train, n_test = FULL_SPLITS[cfg.dataset]
        classes = 10
    else:
        from bedash.data.folder import scan_image_folder

        try:
            listing = scan_image_folder(cfg.dataset)
        except DatasetError:
            return 0, 0, 10
        n_train = sum(len(f) for f in listing["train"].values())
        n_test = sum(len(f) for f in listing["test"].values())
        classes = len(listing["train"])
    if cfg.train_size is not None:
        n_train = cfg.train_size if cfg.dataset == "synthetic" else min(n_train, cfg.train_size)
    if cfg.test_size is not None:
        n_test = cfg.test_size if cfg.dataset == "synthetic" else min(n_test, cfg.test_size)
    return n_train, n_test, classes


def estimate(cfg: RunConfig, n_train: int, n_test: int, num_classes: int = 10) -> Estimate:
    """What the heaviest kind of cfg.models needs, with the data, on the training device."""
    per_kind = {k: kind_bytes(k, cfg, n_test, num_classes) for k in cfg.models}
    kind = max(per_kind, key=lambda k: sum(per_kind[k].values()))
    parts = {**per_kind[kind], "data": (n_train + n_test) * IMAGE_BYTES}
    return Estimate(kind, {p: parts[p] for p in PARTS})


# which field to name: the one whose usual value alone would save the most
_USUAL = dict(
    members=1, hidden=128, layers=1, channels=32, width=16, batch_size=32, eval_batch_size=500
)
_ONLY_FOR = {"channels": "cnn", "width": "resnet"}  # architecture fields: where they count


def dominant_field(cfg: RunConfig, n_train: int, n_test: int, num_classes: int = 10) -> str:
    """The setting that, set to a usual value, lowers the estimate most ("hidden", "members",
    "train_size"...): the one the refusal names."""
    best, best_total = "hidden", estimate(cfg, n_train, n_test, num_classes).total
    for name, usual in _USUAL.items():
        if _ONLY_FOR.get(name, cfg.arch) != cfg.arch:
            continue
        if getattr(cfg, name) > usual:
            total = estimate(cfg.replace(**{name: usual}), n_train, n_test, num_classes).total
            if total < best_total:
                best, best_total = name, total
    if estimate(cfg, n_train // 10, n_test, num_classes).total < best_total:
        best = "train_size"  # a tenth of the images would save more than any model setting
    return best


# -- what there is ---------------------------------------------------------------------------


def host_available() -> tuple[int | None, str]:
    """(bytes this machine can still give, how to say it): MemAvailable capped by a cgroup's
    limit (a container sees the host's /proc/meminfo), else os.sysconf; None: unknown."""
    avail: int | None = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    if avail is None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    cap = _cgroup_room()
    if cap is not None and (avail is None or cap < avail):
        return cap, "this container has"
    return avail, "this machine has"


def _cgroup_room() -> int | None:
    """Bytes left under a cgroup memory limit (v2, then v1); None when unlimited or unknown."""
    v1 = Path("/sys/fs/cgroup/memory")
    for limit_file, usage_file in (
        (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")),
        (v1 / "memory.limit_in_bytes", v1 / "memory.usage_in_bytes"),
    ):
        with contextlib.suppress(OSError, ValueError):
            limit = limit_file.read_text().strip()
            if limit == "max" or int(limit) >= 2**60:  # v1 writes "unlimited" as ~2**63
                return None
            return max(0, int(limit) - int(usage_file.read_text().strip()))
    return None


def device_available(device: torch.device) -> tuple[int | None, str]:
    """(free bytes, how to say it) of the memory training uses on `device`."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free, f"{device} has"
    return host_available()  # cpu, and mps (unified memory)


# -- the check -------------------------------------------------------------------------------


def check_budget(
    cfg: RunConfig,
    device: torch.device | str,
    *,
    available: int | None = None,
    host: int | None = None,
) -> Estimate:
    """Raise ConfigError (the dominant field) when cfg cannot fit; return the estimate.
    `available` / `host`: the free bytes of the training device / this machine (None: measure).
    On CUDA the host still holds the data and each model as built, before it moves."""
    if isinstance(device, str):
        device = resolve_device(device)  # "auto" -> what training will use
    sizes = planned_images(cfg)
    need = estimate(cfg, *sizes)
    if available is None:
        available, where = device_available(device)
    else:
        where = f"{device} has" if device.type == "cuda" else "this machine has"
    _refuse_if_over(cfg, need, available, where, sizes)
    if device.type == "cuda":
        kept = ("parameters", "data")
        on_host = Estimate(need.kind, {p: need.parts[p] if p in kept else 0 for p in PARTS})
        host_where = "this machine has"
        if host is None:
            host, host_where = host_available()
        _refuse_if_over(cfg, on_host, host, host_where, sizes)
    return need


def _refuse_if_over(
    cfg: RunConfig,
    need: Estimate,
    available: int | None,
    where: str,
    sizes: tuple[int, int, int],
) -> None:
    if available is None or need.total <= available * USABLE_FRACTION:
        return
    field = dominant_field(cfg, *sizes)
    usable = format_bytes(available * USABLE_FRACTION)
    raise ConfigError(
        field,
        f"needs {need.describe()} for {need.kind} but {where} {format_bytes(available)} "
        f"available (a run may plan on {usable} of it)",
    )

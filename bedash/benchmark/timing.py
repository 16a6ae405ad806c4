"""The timed variants: bedash's own training loop per kind, the seed notebook's pipeline and
loop, the GEMM floor of each kind, inference, torch.compile modes and the scaling sweep.
Each returns seconds; nothing here prints or writes (bedash.benchmark.run puts them together).
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bedash.data.batches import Batcher
from bedash.data.tensors import Split, normalize
from bedash.method.models import build_model, loss_scale, training_units
from bedash.method.train import fit, make_optimizer, predict
from bedash.names import MODEL_KINDS
from bedash.settings.config import RunConfig

KINDS = MODEL_KINDS  # every kind is timed, in the schema's order


@dataclass
class Measure:
    variant: str
    seconds_per_step: float  # whole-model step (all members)
    member_samples_per_s: float
    steps: int


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- bedash's own training loop ---------------------------------------------------------------


def time_kind(
    kind: str, cfg: RunConfig, train: Split, steps: int, device: torch.device, name: str = ""
) -> Measure:
    """Seconds per step of `kind` through bedash's real `fit` (CUDA graphs on CUDA unless
    cfg.cuda_graphs is off), after a short warm-up that also captures the graph."""
    graph = cfg.cuda_graphs and device.type == "cuda"
    sub = train.head(steps * cfg.batch_size)
    warm = train.head(min(10, steps) * cfg.batch_size)
    E = cfg.members if kind != "single" else 1
    scale = loss_scale(kind, E)
    seconds = 0.0
    for net in training_units(build_model(kind, cfg).to(device)):
        opt = make_optimizer(net, cfg, capturable=graph)
        epoch = functools.partial(fit, net, optimizer=opt, epochs=1, loss_scale=scale, graph=graph)
        # a warm-up epoch per net pays one-off setup (kernels, graph capture): not measured
        epoch(Batcher(warm, cfg.batch_size, seed=1), name="warm")
        sync(device)
        seconds += epoch(Batcher(sub, cfg.batch_size, seed=0), name=kind).epoch_seconds[0]
    # len(sub): a last partial batch (steps 0: one epoch) counts the images it really has
    return Measure(name or kind, seconds / steps, len(sub) * E / seconds, steps)


# -- the seed notebook's pipeline ---------------------------------------------------------------


class SeedImages(torch.utils.data.Dataset):
    """torchvision's CIFAR10.__getitem__ over in-memory images: PIL image -> transform."""

    def __init__(self, split: Split, transform: Callable) -> None:
        self.data = split.x.permute(0, 2, 3, 1).contiguous().numpy()  # (N, 32, 32, 3) as CIFAR10
        self.targets = split.y.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.data[i])), self.targets[i]


def time_seed_pipeline(
    cfg: RunConfig, train: Split, steps: int, device: torch.device, data_dir: str | None
) -> tuple[Measure, float]:
    """The notebook's loop, verbatim in spirit. Returns the measure and the worker start-up
    seconds, which are left out of the measure (that favours the seed, never bedash)."""
    from torchvision import transforms
    from torchvision.datasets import CIFAR10

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])
    if data_dir is not None:  # the real CIFAR-10 through torchvision, exactly as the seed
        ds: torch.utils.data.Dataset = CIFAR10(root=data_dir, train=True, transform=tf)
    else:
        ds = SeedImages(train, tf)
    loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, num_workers=2)
    warmup = seed_warmup(steps, len(ds) // cfg.batch_size)
    return _seed_loop(cfg, loader, steps, warmup, device, "seed_pipeline")


def time_seed_loop(cfg: RunConfig, train: Split, steps: int, device: torch.device) -> Measure:
    """The seed's training loop fed from batches already normalised in memory: what the seed
    pipeline costs without its DataLoader (the difference is its data path)."""
    warmup = seed_warmup(steps, len(train) // cfg.batch_size)
    sub = train.head((warmup + steps) * cfg.batch_size)  # one gather, not one per tensor
    x, y = normalize(sub.x), sub.y
    batches = list(zip(x.split(cfg.batch_size), y.split(cfg.batch_size), strict=True))
    return _seed_loop(cfg, batches, steps, warmup, device, "seed_loop_no_loader")[0]


def seed_warmup(steps: int, full_batches: int) -> int:
    """Untimed batches before the seed loop's clock starts: 10, fewer when one epoch of
    full batches does not hold 10 more than the timed steps (the CLI checks steps fit)."""
    return max(0, min(10, steps, full_batches - steps))


def _seed_loop(
    cfg: RunConfig, batches: Iterable, steps: int, warmup: int, device: torch.device, name: str
) -> tuple[Measure, float]:
    """The notebook's training loop over `batches`, `warmup` batches untimed, then `steps`
    timed; (measure, seconds to the first batch)."""
    model = build_model("batchensemble", cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)  # the seed's default Adam
    E = cfg.members
    model.train()
    t_start = time.perf_counter()
    first_batch = t0 = t_start
    timed = images = 0
    for done, (xb, yb) in enumerate(batches):
        if done == 0:
            first_batch = time.perf_counter()  # (a DataLoader: the two workers have started)
        if done == warmup:
            sync(device)
            t0 = time.perf_counter()
        x = xb.to(device).float()
        y = yb.to(device).long()
        optimizer.zero_grad()
        out = model(x)
        loss = 0.0
        for e in range(E):
            loss += F.cross_entropy(out[e], y)
        loss = loss / E
        loss.backward()
        loss.item()  # the seed accumulates total_loss += loss.item() every step
        optimizer.step()
        if done >= warmup:
            timed, images = timed + 1, images + len(yb)
        if done + 1 == warmup + steps:
            break
    sync(device)
    seconds = time.perf_counter() - t0
    if not timed:
        raise RuntimeError(f"{name}: no batch was timed ({warmup} warm-up, {steps} steps)")
    return Measure(name, seconds / timed, images * E / seconds, timed), first_batch - t_start


# -- the floor: the GEMMs a step cannot avoid ---------------------------------------------------


def gemm_shapes(kind: str, E: int, B: int, dims: list[int]) -> list[tuple[int, int, int, int]]:
    """(batch, m, k, n) of every GEMM in one training step of an MLP with layer widths `dims`
    (input, hidden..., classes): forward, weight gradient and input gradient (none for the
    first layer, whose input is data, except BatchEnsemble: its input factors s need it)."""
    shapes: list[tuple[int, int, int, int]] = []
    rows = E * B if kind == "batchensemble" else B
    batch = E if kind == "ensemble_parallel" else 1
    for i in range(len(dims) - 1):
        d_in, d_out = dims[i], dims[i + 1]
        shapes.append((batch, rows, d_in, d_out))  # forward
        shapes.append((batch, d_out, rows, d_in))  # weight gradient
        if i > 0 or kind == "batchensemble":
            shapes.append((batch, rows, d_out, d_in))  # input gradient
    repeat = E if kind == "ensemble" else 1  # member after member
    return shapes * repeat


def time_floor(
    kind: str, E: int, B: int, dims: list[int], device: torch.device, iters: int
) -> float:
    """Seconds per step for only the GEMMs (preallocated operands and outputs, no autograd)."""
    ops = []
    for batch, m, k, n in gemm_shapes(kind, E, B, dims):
        a = torch.randn(batch, m, k, device=device)
        b = torch.randn(batch, k, n, device=device)
        c = torch.empty(batch, m, n, device=device)
        ops.append((a[0], b[0], c[0], torch.mm) if batch == 1 else (a, b, c, torch.bmm))
    for a, b, c, f in ops:  # warm-up
        f(a, b, out=c)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        for a, b, c, f in ops:
            f(a, b, out=c)
    sync(device)
    return (time.perf_counter() - t0) / iters


# -- inference, torch.compile, the scaling sweep ------------------------------------------------


def time_inference(kind: str, cfg: RunConfig, test: Split, repeats: int) -> float:
    model = build_model(kind, cfg).to(test.y.device)
    predict(model, test, cfg.eval_batch_size)  # warm-up
    return statistics.median(predict(model, test, cfg.eval_batch_size)[1] for _ in range(repeats))


def time_compiled(cfg: RunConfig, train: Split, steps: int, device: torch.device) -> list[dict]:
    """torch.compile modes for a BatchEnsemble step (compile time excluded, reported apart)."""
    out = []
    for mode in ("default", "reduce-overhead"):
        model = build_model("batchensemble", cfg).to(device)
        compiled = torch.compile(model, mode=mode)
        opt = make_optimizer(model, cfg)
        t0 = time.perf_counter()
        warm = train.head(20 * cfg.batch_size)
        fit(compiled, Batcher(warm, cfg.batch_size, seed=1), opt, epochs=1, name="warm")
        sync(device)
        compile_s = time.perf_counter() - t0
        sub = train.head(steps * cfg.batch_size)
        res = fit(compiled, Batcher(sub, cfg.batch_size, seed=0), opt, epochs=1, name=mode)
        sec = res.epoch_seconds[0]
        out.append(
            {
                "mode": mode,
                "step_ms": sec / steps * 1e3,
                "epoch_seconds": sec,
                "compile_seconds": compile_s,
            }
        )
    return out


def scaling(
    cfg: RunConfig,
    train: Split,
    steps: int,
    device: torch.device,
    log: Callable,
    members: tuple[int, ...],
    hidden: tuple[int, ...],
) -> list[dict]:
    """Step time of each kind as E grows (hidden fixed) and as hidden grows (E fixed)."""
    rows = []
    grid = [("members", e, cfg.replace(members=e)) for e in members]
    grid += [("hidden", h, cfg.replace(hidden=h)) for h in hidden]
    for axis, value, c in grid:
        for kind in KINDS:
            m = time_kind(kind, c, train, steps, device)
            rows.append(
                {
                    "axis": axis,
                    "value": value,
                    "variant": kind,
                    "members": c.members,
                    "hidden": c.hidden,
                    "step_ms": m.seconds_per_step * 1e3,
                    "member_samples_per_s": m.member_samples_per_s,
                }
            )
            log(f"  scaling {axis}={value:<5} {kind:<18} {m.seconds_per_step * 1e3:8.2f} ms/step")
    return rows


def interleaved(variants: dict[str, Callable[[], Measure]], repeats: int) -> dict[str, Measure]:
    got: dict[str, list[Measure]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            got[name].append(run())
    out = {}
    for name, ms in got.items():
        mid = statistics.median(m.seconds_per_step for m in ms)
        out[name] = min(ms, key=lambda m: abs(m.seconds_per_step - mid))
    return out

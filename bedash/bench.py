"""python -m bedash bench: how fast each model kind trains, against the seed's pipeline and the
matrix-multiplication floor, all measured side by side in one run.

Variants (member-samples per second of training, E = members, same data and shapes):
  seed_pipeline      the notebook: per-image ToTensor/Normalize DataLoader (2 workers), a
                     BatchEnsemble, loss.item() every step, default Adam
  seed_loop_no_loader the same loop fed from batches already in memory: the seed's model
                     step alone (seed_pipeline minus this is what its data path costs)
  batchensemble      bedash's training loop (device-resident uint8 data, fused Adam)
  ensemble           E independent models trained member after member (the seed's way)
  ensemble_parallel  the same E models with stacked weights, one step for all
  single             one model (E = 1): the baseline
  floor_<kind>       only the GEMMs that kind's step cannot avoid, at its shapes, nothing else

Repeats are interleaved (A B C A B C ...) and the median is reported, so a noisy neighbour
hurts every variant alike. Timing is never asserted in tests: see BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .config import RunConfig
from .data import (
    Batcher,
    Dataset,
    Split,
    cifar10_present,
    load_dataset,
    normalize,
    synthetic,
)
from .devices import resolve_device
from .models import build_model, loss_scale, training_units
from .train import fit, make_optimizer, predict

KINDS = ("batchensemble", "ensemble", "ensemble_parallel", "single")


@dataclass
class Measure:
    variant: str
    seconds_per_step: float  # whole-model step (all members)
    member_samples_per_s: float
    steps: int


def _sync(device: torch.device) -> None:
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
    model = build_model(kind, cfg).to(device)
    E = cfg.members if kind != "single" else 1
    nets = training_units(model)
    scale = loss_scale(kind, E)
    seconds = 0.0
    for net in nets:
        opt = make_optimizer(net, cfg, capturable=graph)
        # a warm-up epoch per net pays one-off setup (kernels, graph capture): not measured
        fit(net, Batcher(warm, cfg.batch_size, seed=1), opt, epochs=1, name="warm",
            loss_scale=scale, graph=graph)  # fmt: skip
        _sync(device)
        res = fit(net, Batcher(sub, cfg.batch_size, seed=0), opt, epochs=1, name=kind,
                  loss_scale=scale, graph=graph)  # fmt: skip
        seconds += res.epoch_seconds[0]
    return Measure(name or kind, seconds / steps, steps * cfg.batch_size * E / seconds, steps)


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
    return _seed_loop(cfg, loader, steps, device, "seed_pipeline")


def time_seed_loop(cfg: RunConfig, train: Split, steps: int, device: torch.device) -> Measure:
    """The seed's training loop fed from batches already normalised in memory: what the seed
    pipeline costs without its DataLoader (the difference is its data path)."""
    warmup = min(10, steps)
    n = (warmup + steps) * cfg.batch_size
    sub = train.head(n)  # one gather, not one per tensor
    x, y = normalize(sub.x), sub.y
    batches = list(zip(x.split(cfg.batch_size), y.split(cfg.batch_size), strict=True))
    return _seed_loop(cfg, batches, steps, device, "seed_loop_no_loader")[0]


def _seed_loop(
    cfg: RunConfig, batches: Iterable, steps: int, device: torch.device, name: str
) -> tuple[Measure, float]:
    """The notebook's training loop over `batches`; (measure, seconds to the first batch)."""
    model = build_model("batchensemble", cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)  # the seed's default Adam
    E = cfg.members
    model.train()
    t_start = time.perf_counter()
    first_batch = t0 = t_start
    warmup = min(10, steps)
    for done, (xb, yb) in enumerate(batches):
        if done == 0:
            first_batch = time.perf_counter()  # (a DataLoader: the two workers have started)
        if done == warmup:
            _sync(device)
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
        if done + 1 == warmup + steps:
            break
    _sync(device)
    seconds = time.perf_counter() - t0
    rate = steps * cfg.batch_size * E / seconds
    return Measure(name, seconds / steps, rate, steps), first_batch - t_start


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
        if batch == 1:
            ops.append((a[0], b[0], c[0], torch.mm))
        else:
            ops.append((a, b, c, torch.bmm))
    for a, b, c, f in ops:  # warm-up
        f(a, b, out=c)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        for a, b, c, f in ops:
            f(a, b, out=c)
    _sync(device)
    return (time.perf_counter() - t0) / iters


# -- inference and memory ------------------------------------------------------------------------


def time_inference(kind: str, cfg: RunConfig, test: Split, repeats: int) -> float:
    model = build_model(kind, cfg).to(test.y.device)
    predict(model, test, cfg.eval_batch_size)  # warm-up
    return statistics.median(predict(model, test, cfg.eval_batch_size)[1] for _ in range(repeats))


def _memory_run_args(tmp: str, n_train: int, n_test: int) -> list[str]:
    """`python -m bedash train` arguments of the measured run: a whole BatchEnsemble run."""
    return [
        "--dataset", "synthetic", "--models", "batchensemble", "--epochs", "1",
        "--device", "cpu", "--quiet", "--out", str(Path(tmp) / "run"),
        "--train-size", str(n_train), "--test-size", str(n_test),
    ]  # fmt: skip


def peak_rss_of_cli_run(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of `python -m bedash train ARGS` in a fresh process.

    The child reports its own VmHWM (Linux): getrusage's ru_maxrss would not do, because the
    kernel carries the parent's peak over into a child started by (v)fork + exec, and this
    parent holds the whole benchmark (it read 1.1 GB for runs that peak at 0.9 GB)."""
    code = (
        "import resource, runpy, sys\n"
        "sys.argv = ['bedash'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('bedash', run_name='__main__')\n"
        "finally:\n"
        "    try:\n"
        "        hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "        kb = int(hwm[0].split()[1])\n"
        "    except (OSError, IndexError):  # not Linux: the best there is\n"
        "        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "    print('PEAK_RSS_KB', kb)\n"
    )
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", code, "train", *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    wall = time.perf_counter() - t0
    for line in p.stdout.splitlines():
        if line.startswith("PEAK_RSS_KB"):
            return int(line.split()[1]) / 1024, wall
    raise RuntimeError(f"memory run failed ({p.returncode}): {p.stderr[-2000:]}")


# -- the run -------------------------------------------------------------------------------------


def machine_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "cpu": _cpu_name(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _interleaved(variants: dict[str, Callable[[], Measure]], repeats: int) -> dict[str, Measure]:
    got: dict[str, list[Measure]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            got[name].append(run())
    out = {}
    for name, ms in got.items():
        mid = statistics.median(m.seconds_per_step for m in ms)
        best = min(ms, key=lambda m: abs(m.seconds_per_step - mid))
        out[name] = best
    return out


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    device = resolve_device(args.device)
    torch.manual_seed(0)
    cfg = RunConfig(
        members=args.members,
        hidden=args.hidden,
        batch_size=args.batch_size,
        device=str(device),
        eval_batch_size=args.eval_batch_size,
    )
    use_cifar = args.dataset == "cifar10" or (
        args.dataset == "auto" and cifar10_present(args.data_dir)
    )
    n_train = args.train_size
    if use_cifar:
        data: Dataset = load_dataset("cifar10", args.data_dir, download=False)
    else:
        data = synthetic(n_train, args.test_size)
    dev = data.to(device)
    steps = args.steps or len(Batcher(dev.train, cfg.batch_size))
    dims = [3072] + [cfg.hidden] * cfg.layers + [10]
    report: dict[str, Any] = {
        "machine": machine_info(device),
        "command": "python -m bedash bench " + " ".join(args.argv),
        "config": {
            "members": cfg.members,
            "hidden": cfg.hidden,
            "batch_size": cfg.batch_size,
            "steps": steps,
            "dataset": data.name,
            "train_images": len(data.train),
        },
    }
    log = print if not args.quiet else (lambda *a, **k: None)
    log(f"bench on {report['machine'].get('gpu', report['machine']['cpu'])}, {steps} steps")

    if not args.no_train:
        variants: dict[str, Callable[[], Measure]] = {}
        startup: list[float] = []
        if not args.skip_seed:

            def seed() -> Measure:
                m, s = time_seed_pipeline(
                    cfg,
                    data.train,
                    min(steps, args.seed_steps),
                    device,
                    args.data_dir if use_cifar else None,
                )
                startup.append(s)
                return m

            variants["seed_pipeline"] = seed
            variants["seed_loop_no_loader"] = lambda: time_seed_loop(
                cfg, dev.train, min(steps, args.seed_steps), device
            )
        for kind in KINDS:
            variants[kind] = lambda kind=kind: time_kind(kind, cfg, dev.train, steps, device)
        if device.type == "cuda":  # what the CUDA graphs buy, side by side
            eager = cfg.replace(cuda_graphs=False)
            for kind in ("batchensemble", "single"):
                variants[f"{kind}_eager"] = lambda kind=kind: time_kind(
                    kind, eager, dev.train, steps, device, name=f"{kind}_eager"
                )
        iters = max(5, min(200, steps))
        for kind in KINDS:  # floors take turns with the variants: one noisy moment hits both
            variants[f"floor_{kind}"] = lambda kind=kind: Measure(
                f"floor_{kind}",
                time_floor(kind, cfg.members, cfg.batch_size, dims, device, iters),
                0.0,
                iters,
            )
        measures = _interleaved(variants, args.repeats)
        floors = {k: measures.pop(f"floor_{k}").seconds_per_step for k in KINDS}
        seed_m = measures.get("seed_pipeline")
        epoch_steps = math.ceil(50_000 / cfg.batch_size)  # one CIFAR-10 epoch: 1,563 steps at 32
        rows = []
        for name, m in measures.items():
            base = name.removesuffix("_eager")
            kind = base if base in floors else "batchensemble"  # the seed trains a BE
            E = 1 if base == "single" else cfg.members
            row = {
                "variant": name,
                "members": E,
                "step_ms": m.seconds_per_step * 1e3,
                "member_samples_per_s": m.member_samples_per_s,
                "epoch_seconds_50k": m.seconds_per_step * epoch_steps,
                "floor_ms": floors[kind] * 1e3 if base in floors else None,
                "of_floor": floors[kind] / m.seconds_per_step if base in floors else None,
                "x_seed": (m.member_samples_per_s / seed_m.member_samples_per_s)
                if seed_m
                else None,
            }
            rows.append(row)
        report["train"] = rows
        if startup:
            report["seed_worker_startup_s"] = statistics.median(startup)

        report["inference"] = [
            {
                "variant": k,
                "test_images": len(dev.test),
                "seconds": time_inference(k, cfg, dev.test, 3),
            }
            for k in KINDS
        ]
    if args.memory and device.type == "cpu":
        runs = []
        for _ in range(3):  # peak RSS varies by ~100 MiB run to run (allocator, thread pools)
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(peak_rss_of_cli_run(_memory_run_args(tmp, n_train, args.test_size)))
        peaks = sorted(r[0] for r in runs)
        report["memory"] = {
            "peak_rss_mib": statistics.median(peaks),
            "peak_rss_mib_runs": peaks,
            "run_seconds": statistics.median(r[1] for r in runs),
            "what": f"whole CLI batchensemble run, {n_train} images, 1 epoch (median of 3)",
        }
    if args.memory and device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        time_kind("batchensemble", cfg, dev.train, min(steps, 200), device)
        report["memory"] = {
            "cuda_max_allocated_mib": torch.cuda.max_memory_allocated(device) / 2**20,
            "what": "batchensemble training, data resident on the GPU",
        }
    if args.compile:
        report["compile"] = time_compiled(cfg, dev.train, steps, device)
    if args.scaling:
        report["scaling"] = scaling(
            cfg, dev.train, args.scaling_steps, device, log,
            members=_ints(args.scaling_members), hidden=_ints(args.scaling_hidden),
        )  # fmt: skip
    return report


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
        _sync(device)
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
    members: tuple[int, ...] = (1, 2, 4, 8, 16),
    hidden: tuple[int, ...] = (128, 512, 2048),
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


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"{'variant':<20}{'E':>3}{'ms/step':>10}{'member-samples/s':>18}{'s/epoch(50k)':>14}"
        f"{'floor ms':>10}{'of floor':>10}{'x seed':>8}"
    ]
    for r in report.get("train", []):
        f = "-" if r["floor_ms"] is None else f"{r['floor_ms']:.2f}"
        of = "-" if r["of_floor"] is None else f"{r['of_floor']:.2f}"
        xs = "-" if r["x_seed"] is None else f"{r['x_seed']:.2f}"
        lines.append(
            f"{r['variant']:<20}{r['members']:>3}{r['step_ms']:>10.2f}"
            f"{r['member_samples_per_s']:>18,.0f}{r['epoch_seconds_50k']:>14.1f}"
            f"{f:>10}{of:>10}{xs:>8}"
        )
    lines.append("")
    for r in report.get("inference", []):
        lines.append(
            f"inference {r['variant']:<18} {r['test_images']} images: {r['seconds']:.3f} s"
        )
    if "memory" in report:
        lines.append(f"memory: {report['memory']}")
    if "compile" in report:
        for r in report["compile"]:
            lines.append(
                f"compile {r['mode']:<16} {r['step_ms']:.3f} ms/step, epoch "
                f"{r['epoch_seconds']:.2f} s (compile {r['compile_seconds']:.1f} s)"
            )
    return "\n".join(lines)


def write_outputs(report: dict[str, Any], out: Path) -> None:
    import csv

    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2))
    for key in ("train", "inference", "scaling"):
        rows = report.get(key)
        if rows:
            with open(out / f"{key}.csv", "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
    if report.get("scaling"):
        plot_scaling(report["scaling"], out)


def plot_scaling(rows: list[dict], out: Path) -> None:
    """scaling.html (plotly) and, where Chromium is installed, scaling.png from it. Without
    plotly (a bare GPU box) only the CSV is written; plot it later from scaling.csv."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        return

    out.mkdir(parents=True, exist_ok=True)
    at_hidden = {r["hidden"] for r in rows if r["axis"] == "members"}
    at_members = {r["members"] for r in rows if r["axis"] == "hidden" and r["variant"] != "single"}
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            f"step time vs members E (hidden {', '.join(map(str, sorted(at_hidden)))})",
            f"step time vs hidden width (E = {', '.join(map(str, sorted(at_members)))})",
        ),
    )
    colors = {
        "batchensemble": "#d62728",
        "ensemble": "#1f77b4",
        "ensemble_parallel": "#2ca02c",
        "single": "#7f7f7f",
    }
    for col, axis in ((1, "members"), (2, "hidden")):
        for kind in KINDS:
            pts = [r for r in rows if r["axis"] == axis and r["variant"] == kind]
            fig.add_trace(
                go.Scatter(
                    x=[r["value"] for r in pts],
                    y=[r["step_ms"] for r in pts],
                    mode="lines+markers",
                    name=kind,
                    legendgroup=kind,
                    showlegend=col == 1,
                    line={"color": colors[kind]},
                ),
                row=1,
                col=col,
            )
        ticks = sorted({r["value"] for r in rows if r["axis"] == axis})
        fig.update_xaxes(type="log", title_text=axis, tickvals=ticks, row=1, col=col)
        # plotly labels a log axis's minor ticks "2", "5"... whatever the decade: name them
        ys = [r["step_ms"] for r in rows if r["axis"] == axis]
        nice = [m * 10.0**p for p in range(-3, 5) for m in (1, 2, 5)]
        yt = [v for v in nice if min(ys) / 2 <= v <= max(ys) * 2]
        fig.update_yaxes(
            type="log", title_text="ms per training step", tickvals=yt,
            ticktext=[f"{v:g}" for v in yt], row=1, col=col,
        )  # fmt: skip
    fig.update_layout(width=1100, height=450, template="plotly_white")
    html = out / "scaling.html"
    fig.write_html(html, include_plotlyjs=True, config={"displayModeBar": False})
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--hide-scrollbars",
                f"--screenshot={out / 'scaling.png'}",
                "--window-size=1120,470",
                html.resolve().as_uri(),
            ],
            capture_output=True,
            timeout=120,
        )


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bedash bench",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="Figures and how to read them: BENCHMARKS.md.",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--dataset",
        default="auto",
        choices=["auto", "cifar10", "synthetic"],
        help="auto: CIFAR-10 when it is in --data-dir, else synthetic data of the same size",
    )
    p.add_argument("--data-dir", default="./data")
    p.add_argument("--members", type=int, default=5, help="E (default 5, as the seed)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--eval-batch-size", type=int, default=RunConfig().eval_batch_size)
    p.add_argument("--train-size", type=int, default=50_000, help="synthetic training images")
    p.add_argument("--test-size", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=0, help="timed steps per variant (0: one epoch)")
    p.add_argument("--seed-steps", type=int, default=400, help="cap for the slow seed pipeline")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats (median kept)")
    p.add_argument("--skip-seed", action="store_true", help="leave out the seed pipeline")
    p.add_argument("--no-train", action="store_true", help="skip the training/inference table")
    p.add_argument("--memory", action="store_true", help="peak memory of a whole run")
    p.add_argument("--compile", action="store_true", help="also time torch.compile modes")
    p.add_argument("--scaling", action="store_true", help="sweep E and hidden width")
    p.add_argument("--scaling-steps", type=int, default=60, help="timed steps per sweep point")
    p.add_argument("--scaling-members", default="1,2,4,8,16", help="E values of the sweep")
    p.add_argument("--scaling-hidden", default="128,512,2048", help="widths of the sweep")
    p.add_argument("--out", default=None, help="folder for bench.json, CSVs and the plot")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    report = run_bench(args)
    if not args.quiet:
        print(format_report(report))
    if args.out:
        write_outputs(report, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does training inside the dashboard run as fast as the CLI? (Target: within 5 %.)

The same config is trained, interleaved, each time in a fresh process:
  cli        `python -m bedash train ...`, the CLI itself (training on the main thread);
  dashboard  an Executor job thread, as in `streamlit run app.py`, while another thread
             polls a snapshot every second and builds the live charts from it exactly as the
             page's fragment does (frames, loss and epoch-time figures, their JSON).
Compared: the training seconds summed over the models (results.csv's train_seconds: data
loading and evaluation excluded), and the wall time of the whole run.

Fresh processes matter: libgomp (torch's CPU thread pool) runs parallel regions about twice as
slowly on a thread while another live thread holds a pool of its own, so a benchmark that first
trains on its main thread and then on a worker thread measures that, not the dashboard. The
server's main thread never runs torch, and the registry runs one job at a time by default.

    python benchmarks/dashboard_vs_cli.py            # the dashboard's default run, 3 repeats
    python benchmarks/dashboard_vs_cli.py --quick    # a smaller run, 2 repeats (< 2 min)
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bedash.settings.config import RunConfig  # noqa: E402  (after the path above)

FULL = RunConfig(
    dataset="synthetic",
    train_size=10_000,
    test_size=2_000,
    epochs=5,
    members=5,
    hidden=128,
    device="cpu",
)  # the Experiment page's default run
QUICK = FULL.replace(train_size=4_000, test_size=1_000, epochs=2)
TRAIN = [sys.executable, "-m", "bedash", "train"]
FLAGS = ("dataset", "train_size", "test_size", "epochs", "members", "hidden", "device")


def train_seconds(run: Path) -> float:
    with open(run / "results.csv") as f:
        return sum(float(r["train_seconds"]) for r in csv.DictReader(f))


def cli(cfg: RunConfig, out: Path) -> dict:
    cmd = [*TRAIN, "--models", ",".join(cfg.models), "--quiet", "--out", str(out)]
    cmd += [x for f in FLAGS for x in ("--" + f.replace("_", "-"), str(getattr(cfg, f)))]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return {"train": train_seconds(out), "wall": time.perf_counter() - t0, "polls": 0}


def dashboard(cfg: RunConfig, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", str(out), json.dumps(cfg.to_dict())]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    run = next(p for p in out.iterdir() if p.is_dir())
    return {"train": train_seconds(run), "wall": wall, "polls": int(done.stdout.split()[-1])}


def child(out: str, config: str) -> None:
    """The dashboard's side, in its own process: a registry job plus a page-like poller."""
    from bedash.dashboard import tables
    from bedash.dashboard.figures import training as figures
    from bedash.dashboard.jobs import submit_run
    from bedash.jobs.executor import Executor

    reg = Executor(out)
    stop, polls = threading.Event(), []

    def poll(job_id: str) -> None:
        n = 0
        while not stop.wait(1.0):  # the fragment's run_every=1.0
            snap = reg.snapshot(job_id)
            history = tables.frame(snap.history, tables.HISTORY_COLUMNS)
            trace = tables.frame(snap.trace, tables.TRACE_COLUMNS)
            figures.loss_figure(history, trace).to_json()
            figures.epoch_time_figure(history).to_json()
            n += 1
        polls.append(n)

    job = submit_run(reg, RunConfig.from_dict(json.loads(config)))
    poller = threading.Thread(target=poll, args=(job,))
    poller.start()
    snap = reg.wait(job)
    stop.set()
    poller.join()
    reg.shutdown()
    assert snap is not None and snap.status == "finished", snap and snap.error
    print(polls[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smaller run, 2 repeats")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--child", nargs=2, metavar=("OUT", "CONFIG"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(*args.child)
    cfg = QUICK if args.quick else FULL
    repeats = args.repeats or (2 if args.quick else 3)
    print(
        f"config: {cfg.train_size} images x {cfg.epochs} epochs, E={cfg.members}, hidden "
        f"{cfg.hidden}, {', '.join(cfg.models)} on {cfg.device}; {repeats} interleaved "
        "repeats, each in a fresh process"
    )
    times: dict[str, list[float]] = {"cli": [], "dashboard": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            order = ("cli", "dashboard") if i % 2 == 0 else ("dashboard", "cli")  # drift cancels
            for which in order:
                out = Path(tmp) / f"{which}-{i}"
                r = cli(cfg, out) if which == "cli" else dashboard(cfg, out)
                times[which].append(r["train"])
                polls = f"   ({r['polls']} polls)" if which == "dashboard" else ""
                print(f"  {which:<9}  train {r['train']:7.2f} s   wall {r['wall']:7.2f} s{polls}")
    # On a shared host whose speed flips between two modes mid-benchmark the medians can mix
    # modes; the fastest run of each is each one's undisturbed speed.
    for what, pick in (("median", statistics.median), ("fastest", min)):
        c, d = pick(times["cli"]), pick(times["dashboard"])
        print(
            f"{what} training time: cli {c:.2f} s, dashboard {d:.2f} s; dashboard / cli = "
            f"{d / c:.3f} ({(d / c - 1) * 100:+.1f} %)"
        )


if __name__ == "__main__":
    main()

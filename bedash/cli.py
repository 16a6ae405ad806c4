"""The command line: `python -m bedash train|runs|bench ...`.

Bad input exits with code 2 and one line naming the flag and the allowed values, never a
traceback. Ctrl-C stops training after the current batch and keeps everything measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .config import FAST_INITS, MODEL_KINDS, ConfigError, RunConfig, parse_models
from .data import DatasetError
from .runs import RunDirError, RunStoreError, list_runs, new_run_id
from .train import Callback, EpochRecord, Progress

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULTS = RunConfig()


class UsageError(Exception):
    """Bad input on the command line (exit code 2)."""


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bedash",
        description="BatchEnsemble vs classical ensemble vs a single model, honestly compared.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{train,runs,bench}")

    t = sub.add_parser("train", help="train and evaluate the model kinds; write a run folder")
    d = DEFAULTS
    t.add_argument(
        "--dataset",
        default=d.dataset,
        help="cifar10 | synthetic | PATH of an image folder (train/<class>/, test/<class>/)",
    )
    t.add_argument("--data-dir", default=d.data_dir, help="CIFAR-10 download and cache folder")
    t.add_argument(
        "--models",
        default=",".join(d.models),
        help=f"comma list of {', '.join(MODEL_KINDS)} (default: %(default)s)",
    )
    t.add_argument("--arch", default=d.arch, help="mlp (the seed's) | cnn")
    t.add_argument("--members", type=int, default=d.members, help="ensemble size E")
    t.add_argument("--hidden", type=int, default=d.hidden, help="hidden width")
    t.add_argument("--layers", type=int, default=d.layers, help="hidden layers of the MLP")
    t.add_argument("--channels", type=int, default=d.channels, help="CNN first-block channels")
    t.add_argument("--epochs", type=int, default=d.epochs)
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    t.add_argument(
        "--weight-decay",
        type=float,
        default=d.weight_decay,
        help="L2 on shared weights (never on fast weights)",
    )
    t.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N | mps")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--fast-init", default=d.fast_init, help=f"{' | '.join(FAST_INITS)}")
    t.add_argument(
        "--fast-init-std", type=float, default=d.fast_init_std, help="sigma of --fast-init normal"
    )
    t.add_argument(
        "--fast-lr-mult",
        type=float,
        default=d.fast_lr_mult,
        help="learning-rate multiplier of the fast weights",
    )
    t.add_argument("--bias", default=d.bias, help="shared | member (BatchEnsemble bias)")
    t.add_argument(
        "--member-batch",
        default=d.member_batch,
        help="tiled: each member sees the whole batch | split: a 1/E slice each",
    )
    t.add_argument("--train-size", type=int, default=None, help="use only N training images")
    t.add_argument("--test-size", type=int, default=None, help="use only N test images")
    t.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size)
    t.add_argument("--compile", action="store_true", help="torch.compile the models")
    t.add_argument(
        "--no-cuda-graphs",
        action="store_true",
        help="CUDA: run each step eagerly instead of replaying a CUDA graph",
    )
    t.add_argument("--out", default=None, help="run folder (default: RUNS_DIR/<new id>)")
    t.add_argument("--runs-dir", default="runs", help="where runs go without --out")
    t.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    t.add_argument("--no-download", action="store_true", help="never download CIFAR-10")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    r = sub.add_parser("runs", help="list the runs in a folder")
    r.add_argument("action", choices=["list"])
    r.add_argument("--runs-dir", default="runs")

    sub.add_parser("bench", help="speed benchmark: python -m bedash bench --help")
    return p


def config_from_args(a: argparse.Namespace) -> RunConfig:
    return RunConfig(
        dataset=a.dataset, data_dir=a.data_dir, models=parse_models(a.models), arch=a.arch,
        members=a.members, hidden=a.hidden, layers=a.layers, channels=a.channels,
        epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, weight_decay=a.weight_decay,
        seed=a.seed, device=a.device, fast_init=a.fast_init, fast_init_std=a.fast_init_std,
        fast_lr_mult=a.fast_lr_mult, bias=a.bias, member_batch=a.member_batch,
        train_size=a.train_size, test_size=a.test_size, eval_batch_size=a.eval_batch_size,
        compile=a.compile, cuda_graphs=not a.no_cuda_graphs,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # the benchmark has its own parser (bedash/bench.py)
        from .bench import main as bench_main

        return bench_main(argv[1:])
    if argv[:1] == ["sweep"]:  # seed sweeps have their own parser (bedash/sweep_cli.py)
        from .sweep_cli import main as sweep_main

        return sweep_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 on malformed flags
    try:
        if args.command == "train":
            return cmd_train(args)
        return cmd_runs(args)
    except UsageError as e:
        parser.exit(EXIT_USAGE, f"bedash {args.command}: error: {e}\n")
    return EXIT_OK


def _limits():  # the demo profile (BEDASH_PROFILE=demo) tightens the caps
    from .profile import current_limits

    return current_limits()


def cmd_train(args: argparse.Namespace) -> int:
    from .experiment import run_experiment

    cfg = config_from_args(args)
    out = Path(args.out) if args.out else Path(args.runs_dir) / new_run_id()
    cancel = threading.Event()
    bar = ProgressBar(sys.stderr, quiet=args.quiet)
    previous = _install_sigint(cancel)
    try:
        limits = _limits()
        dataset = _local_cifar10(cfg, limits, bar) if args.no_download else None
        result = run_experiment(
            cfg, out, overwrite=args.overwrite, callback=bar, cancel=cancel, limits=limits,
            dataset=dataset, data_progress=bar.data_progress,
        )  # fmt: skip
    except ConfigError as e:
        raise UsageError(f"{_flag(e.field)}: {e.message}") from e
    except DatasetError as e:
        raise UsageError(_name_the_flag(str(e))) from e
    except RunDirError as e:
        raise UsageError(str(e)) from e
    except RunStoreError as e:  # disk full, folder read-only: what was written stays whole
        bar.close()
        print(f"bedash train: failed: {e.strerror}; the files written before are intact",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    except Exception as e:  # recorded in the run's status.json (when the folder was made)
        bar.close()
        where = f" (details in {out}/status.json)" if (out / "status.json").is_file() else ""
        print(f"bedash train: failed: {type(e).__name__}: {e}{where}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    print(format_results(result.rows))
    print(f"\nrun {result.status}: {result.path}")
    if result.status == "cancelled":
        return EXIT_INTERRUPTED
    return EXIT_OK


def _name_the_flag(message: str) -> str:
    """'batch_size: ...' (a setting's name, as the library says it) -> '--batch-size: ...'."""
    head, sep, rest = message.partition(": ")
    known = {f.name for f in dataclasses.fields(RunConfig)}
    return f"{_flag(head)}: {rest}" if sep and head in known else message


def _local_cifar10(cfg: RunConfig, limits: Any, bar: ProgressBar) -> Any:
    """--no-download: CIFAR-10 from disk only (None for other datasets: nothing to download).
    The flags are checked first, as they are without --no-download."""
    if cfg.dataset != "cifar10":
        return None
    from .data import load_dataset

    cfg.validate(limits)
    return load_dataset(
        "cifar10", cfg.data_dir, train_size=cfg.train_size, test_size=cfg.test_size,
        download=False, progress=bar.data_progress,
    )  # fmt: skip


def _install_sigint(cancel: threading.Event) -> Any:
    """First Ctrl-C: stop after the current batch, keep what was measured. Second: abort."""
    if threading.current_thread() is not threading.main_thread():
        return signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nstopping after this batch (Ctrl-C again to abort)...", file=sys.stderr)

    return signal.signal(signal.SIGINT, handler)


def cmd_runs(args: argparse.Namespace) -> int:
    if not Path(args.runs_dir).is_dir():
        raise UsageError(f"--runs-dir: {args.runs_dir} is not a folder")
    runs = list_runs(args.runs_dir)
    for r in runs:
        reason = f"  ({r.reason})" if r.reason else ""
        models = ",".join(r.config.get("models", [])) if isinstance(r.config, dict) else ""
        print(f"{r.run_id}  {r.status:<11}  {models}{reason}")
    if not runs:
        print(f"no runs in {args.runs_dir}")
    return EXIT_OK


# -- output ----------------------------------------------------------------------------------

TABLE = [
    ("model", "model", "{}"), ("E", "members", "{}"), ("params", "params", "{:,}"),
    ("x single", "params_rel_single", "{:.2f}"), ("train s", "train_seconds", "{:.1f}"),
    ("infer s", "infer_seconds", "{:.3f}"), ("member acc", "mean_member_acc", "{:.4f}"),
    ("ens acc", "ensemble_acc", "{:.4f}"), ("vote acc", "vote_acc", "{:.4f}"),
    ("oracle", "oracle_acc", "{:.4f}"), ("NLL", "nll", "{:.4f}"), ("ECE", "ece", "{:.4f}"),
    ("status", "status", "{}"),
]  # fmt: skip


def format_results(rows: list[dict[str, Any]]) -> str:
    """The seed's result table, every accuracy labelled for what it is."""
    if not rows:
        return "no model finished"

    def fmt(spec: str, v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
            return "-"
        return spec.format(v)

    cells = [[h for h, _, _ in TABLE]]
    cells += [[fmt(spec, row.get(key)) for _, key, spec in TABLE] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(TABLE))]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    return "\n".join(line(r) for r in cells)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    s = int(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class ProgressBar(Callback):
    """One updating line on a terminal (a line per epoch when stderr is not a terminal)."""

    def __init__(self, stream: TextIO, quiet: bool = False, width: int = 24) -> None:
        self.stream, self.quiet, self.width = stream, quiet, width
        self.tty = stream.isatty()
        self._open = False
        self._last_data = 0.0

    def _write(self, text: str) -> None:
        if self.tty:
            cols = os.get_terminal_size(self.stream.fileno()).columns if self.tty else 120
            self.stream.write("\r" + text[: cols - 1].ljust(cols - 1))
            self._open = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def on_progress(self, p: Progress) -> None:
        if self.quiet or not self.tty:
            return
        filled = int(p.fraction * self.width)
        who = p.model + (f"[{p.member}]" if p.member is not None else "")
        self._write(
            f"{who:<20} [{'#' * filled}{'.' * (self.width - filled)}] {p.fraction:4.0%} "
            f"ep {p.epoch}/{p.epochs} step {p.step}/{p.steps} loss {p.loss:.4f} "
            f"{p.samples_per_s:,.0f} samples/s ETA {_duration(p.eta)}"
        )

    def on_epoch(self, records: list[EpochRecord]) -> None:
        if self.quiet or self.tty:
            return
        r = records[0]
        who = r.model + (f"[{r.member}]" if r.member is not None else "")
        self._write(f"{who} epoch {r.epoch}: loss {r.loss:.4f} ({r.epoch_seconds:.1f} s)")

    def on_model_start(self, model: str, info: dict) -> None:
        self.close()
        if not self.quiet:
            self.stream.write(f"training {model} ({info['index'] + 1}/{info['count']})\n")

    def on_status(self, message: str) -> None:
        if not self.quiet:
            self.stream.write(message + "\n")

    def data_progress(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if self.quiet or (now - self._last_data < 0.5 and done != total):
            return
        self._last_data = now
        if total:
            self._write(f"{stage}: {done:,}/{total:,} ({done / total:.0%})")
        elif self.tty:
            self._write(f"{stage}: {done:,}")

    def close(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

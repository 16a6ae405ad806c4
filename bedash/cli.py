"""The `train` and `runs` commands (bedash/__main__.py dispatches). `train`'s flags are generated
from RunConfig's metadata: a new setting gets its flag by being declared there.

Exit codes: 0 finished, 1 failed or diverged, 2 bad input (one line naming the flag and the
allowed values), 130 interrupted. Ctrl-C stops training after the current batch and keeps what
was measured; at any other moment (imports, loading, writing) it exits with one line. No torch
at import: `runs list` and `--help` answer at once.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from bedash import stopping
from bedash.estimate import RunEta
from bedash.names import DatasetError, EpochRecord, FieldError, Progress, duration, program
from bedash.settings.config import GROUPS, RunConfig, config_fields, flag
from bedash.settings.profile import HOME_HELP, current_limits, home
from bedash.settings.types import Spec
from bedash.store.folders import RunDirError, check_output_place, new_run_id
from bedash.store.runs import list_runs
from bedash.store.writer import RunStoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad input on the command line (exit code 2)."""


def build_parser(limits: Any = None) -> argparse.ArgumentParser:
    """The parser; the help shows each bound under `limits` (a profile's caps; None: defaults)."""
    p = argparse.ArgumentParser(
        prog=program(),
        description="BatchEnsemble vs classical ensemble vs a single model, honestly compared.",
    )
    p.add_argument("--version", action="version", version=f"bedash {version()}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train and evaluate the model kinds; write a run folder")
    groups = {key: t.add_argument_group(title) for key, title in GROUPS.items()}
    for s in config_fields():
        add_flag(groups[s.group], s, limits)
    out = groups["output"]
    out.add_argument("--out", default=None, help="run folder (default: RUNS_DIR/<new id>)")
    out.add_argument("--runs-dir", default=None, help=HOME_HELP)
    out.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    out.add_argument(
        "--no-download",
        action="store_true",
        help="never download anything (CIFAR-10, the SVHN OOD set)",
    )
    out.add_argument("--quiet", action="store_true", help="no progress bar")

    # sweep, bench and export have parsers of their own (bedash/__main__.py dispatches)
    sub.add_parser("sweep", help="a grid of configs over seeds, with paired verdicts")
    r = sub.add_parser("runs", help="list the runs in a folder")
    r.add_argument("action", choices=["list"])
    r.add_argument("--runs-dir", default=None, help=HOME_HELP)
    sub.add_parser("bench", help="speed benchmark")
    sub.add_parser("export", help="runs as other tools' files: export tensorboard RUN... --to DIR")
    sub.add_parser("dashboard", help="start the dashboard: --runs-dir, --port, --host")
    return p


def version() -> str:
    """The installed package's version; in a source tree that is not installed, pyproject's."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("bedash")
    except PackageNotFoundError:
        import tomllib

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]


def add_flag(group: Any, s: Spec, limits: Any = None) -> None:
    """One setting's flag, as its type makes it. Choices are checked by RunConfig.validate, not
    argparse: a wrong value gets the same message as from every other front end."""
    s.type.add_argument(group, s, s.type.flag_help(s, limits))


def config_from_args(a: argparse.Namespace) -> RunConfig:
    """The RunConfig the flags describe (not yet validated): a flag not given that the
    architecture's recipe sets (its parser default None) takes the recipe's value."""
    given = [(s.name, getattr(a, s.name), s.recipe) for s in config_fields()]
    return RunConfig.of(**{name: v for name, v, recipe in given if v is not None or not recipe})


def run(argv: list[str]) -> int:
    """`train` and `runs` (bedash/__main__.py dispatches here): parse, then run the command."""
    # the demo profile (BEDASH_PROFILE=demo) tightens the caps
    parser = build_parser(current_limits() if argv[:1] == ["train"] else None)
    args = parser.parse_args(argv)  # argparse itself exits 2 on malformed flags
    args.runs_dir = home(args.runs_dir)
    try:
        return cmd_train(args) if args.command == "train" else cmd_runs(args)
    except UsageError as e:
        parser.exit(EXIT_USAGE, f"bedash {args.command}: error: {_plain(str(e))}\n")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from bedash.experiment import run_experiment

    cfg = config_from_args(args)
    out = Path(args.out) if args.out else Path(args.runs_dir) / new_run_id()
    try:  # before the data loads: a place that cannot take the run is bad input, not a failure
        check_output_place(*((args.out, "out") if args.out else (args.runs_dir, "runs_dir")))
    except RunDirError as e:
        raise UsageError(flag_message(e)) from e
    cancel = threading.Event()
    bar = ProgressBar(sys.stderr, quiet=args.quiet, eta=RunEta(cfg))
    restore = stopping.install(cancel, "stopping after this batch", keep=lambda: bar.training)
    try:
        limits = current_limits()
        result = run_experiment(
            cfg,
            out,
            overwrite=args.overwrite,
            callback=bar,
            cancel=cancel,
            limits=limits,
            data_progress=bar.data_progress,
            download=not args.no_download,
        )
    except (FieldError, DatasetError, RunDirError) as e:
        raise UsageError(flag_message(e)) from e
    except RunStoreError as e:  # disk full, folder read-only: what was written stays whole
        bar.close()
        print(
            f"bedash train: failed: {e.strerror}; the files written before are intact",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except Exception as e:  # recorded in the run's status.json (when the folder was made)
        if isinstance(getattr(e, "field", None), str):  # bad input from deeper down
            raise UsageError(flag_message(e)) from e
        bar.close()
        where = f" (details in {out}/status.json)" if os.path.isfile(out / "status.json") else ""
        print(_plain(f"bedash train: failed: {type(e).__name__}: {e}{where}"), file=sys.stderr)
        return EXIT_FAILED
    finally:
        restore()
        bar.close()
    if not result.written:  # Ctrl-C before the run's first file: nothing on disk changed
        print(f"bedash train: {result.error}", file=sys.stderr)
        return stopping.exit_code()
    print(format_results(result.rows))
    print(f"\nrun {result.status}: {result.path}")
    if result.status == "cancelled" or cancel.is_set():  # Ctrl-C, even after the last batch
        return stopping.exit_code()
    if result.status == "diverged":  # the numbers are kept and shown, but the run is no success
        kinds = [r["model"] for r in result.rows if r.get("status") == "diverged"]
        print(
            f"bedash train: run diverged: {', '.join(kinds)} (loss or weights not finite); "
            f"lower --lr? the results are kept in {result.path}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def flag_message(e: Exception) -> str:
    """ "--batch-size: must be ...": the error's field as the command line names it."""
    field = getattr(e, "field", None)  # every bedash error about input is a FieldError
    if isinstance(field, str):
        return f"{flag(field)}: {getattr(e, 'message', str(e))}"
    return str(e)


def cmd_runs(args: argparse.Namespace) -> int:
    try:
        runs = list_runs(args.runs_dir)
    except RunDirError as e:  # no folder, or one that cannot be read: not "no runs"
        raise UsageError(flag_message(e)) from e
    if not os.path.isdir(args.runs_dir):
        raise UsageError(f"--runs-dir: {args.runs_dir} is not a folder")
    for r in runs:
        reason = f"  ({r.reason})" if r.reason else ""
        models = r.config.get("models", []) if isinstance(r.config, dict) else []
        models = ",".join(map(str, models)) if isinstance(models, (list, tuple)) else ""
        print(_plain(f"{r.run_id}  {r.status:<11}  {models}{reason}"))
    if not runs:
        print(_plain(f"no runs in {args.runs_dir}"))
    return EXIT_OK


def _plain(text: str) -> str:
    """Text from files and folder names, safe on a terminal: control characters (escape
    sequences, newlines, bidi overrides) and lone surrogates are shown as Python escapes."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


# -- output ----------------------------------------------------------------------------------

TABLE = [  # (header, results.csv column, format)
    ("model",      "model",             "{}"),
    ("E",          "members",           "{}"),
    ("params",     "params",            "{:,}"),
    ("x single",   "params_rel_single", "{:.2f}"),
    ("train s",    "train_seconds",     "{:.1f}"),
    ("infer s",    "infer_seconds",     "{:.3f}"),
    ("member acc", "mean_member_acc",   "{:.4f}"),
    ("ens acc",    "ensemble_acc",      "{:.4f}"),
    ("vote acc",   "vote_acc",          "{:.4f}"),
    ("oracle",     "oracle_acc",        "{:.4f}"),
    ("NLL",        "nll",               "{:.4f}"),
    ("ECE",        "ece",               "{:.4f}"),
    ("status",     "status",            "{}"),
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


class ProgressBar:
    """One updating line on a terminal, else a line per epoch. Callback's methods, duck-typed:
    this module does not import torch. `eta`: the run's ETA (else the model's)."""

    def __init__(
        self, stream: TextIO, quiet: bool = False, width: int = 24, eta: RunEta | None = None
    ) -> None:
        self.stream, self.quiet, self.width, self.eta = stream, quiet, width, eta
        self.tty = stream.isatty()
        self._open = False
        self._last_data = 0.0
        self.training = False  # a model has started training: Ctrl-C stops after a batch

    def _write(self, text: str) -> None:
        if self.tty:
            cols = os.get_terminal_size(self.stream.fileno()).columns
            self.stream.write("\r" + text[: cols - 1].ljust(cols - 1))
            self._open = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def on_progress(self, p: Progress) -> None:
        left = self.eta.on_progress(p) if self.eta else p.eta
        if self.quiet or not self.tty:
            return
        filled = int(p.fraction * self.width)
        who = p.model + (f"[{p.member}]" if p.member is not None else "")
        self._write(
            f"{who:<20} [{'#' * filled}{'.' * (self.width - filled)}] {p.fraction:4.0%} "
            f"ep {p.epoch}/{p.epochs} step {p.step}/{p.steps} loss {p.loss:.4f} "
            f"{p.samples_per_s:,.0f} samples/s ETA {duration(left)}"
        )

    def on_epoch(self, records: list[EpochRecord]) -> None:
        if self.quiet or self.tty:
            return
        r = records[0]
        who = r.model + (f"[{r.member}]" if r.member is not None else "")
        self._write(f"{who} epoch {r.epoch}: loss {r.loss:.4f} ({r.epoch_seconds:.1f} s)")

    def on_model_start(self, model: str, info: dict) -> None:
        self.training = True
        if self.eta:
            self.eta.on_model_start(model, info)
        self.close()
        if not self.quiet:
            self.stream.write(f"training {model} ({info['index'] + 1}/{info['count']})\n")

    def on_model_end(self, model: str, result: dict) -> None:
        if self.eta:
            self.eta.on_model_end(model, result)

    def on_status(self, message: str) -> None:
        if not self.quiet:
            self.stream.write(_plain(message) + "\n")

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

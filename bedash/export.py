"""`bedash export tensorboard RUN... --to DIR`: runs as TensorBoard event files, one folder per
run under DIR, so `tensorboard --logdir DIR` shows them beside other projects' runs.

Tags: `loss/<model>` (and `loss/<model>/member_<k>`) are steps.csv's log points, at step =
thousandths of an epoch (TensorBoard's steps are whole numbers); `epoch/<column>/<model>[...]`
are history.csv's per-epoch rows, at step = the epoch; `final/<column>/<model>` are results.csv's
numbers, at step = the run's epochs. Runs are read through bedash.store's validated readers.
TensorBoard is an optional extra (`pip install 'bedash[tensorboard]'`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bedash.names import program
from bedash.settings.profile import HOME_HELP, home
from bedash.store.folders import RunDirError, check_output_place
from bedash.store.runfiles import read_steps, read_tables
from bedash.store.runs import RunInfo, read_run

EXIT_OK, EXIT_USAGE = 0, 2
STEPS_PER_EPOCH = 1000  # a log point's step: x (epochs, fractional) in thousandths
EPOCH_COLUMNS = ("loss", "epoch_seconds", "samples_per_s")


class UsageError(Exception):
    """Bad input (exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"{program()} export", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="format", required=True)
    tb = sub.add_parser("tensorboard", help="TensorBoard event files (needs bedash[tensorboard])")
    tb.add_argument("runs", nargs="+", metavar="RUN", help="a run folder, or a run id")
    tb.add_argument("--to", required=True, metavar="DIR", help="one folder per run goes here")
    tb.add_argument("--runs-dir", default=None, help=f"where run ids are looked up: {HOME_HELP}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        written = export_tensorboard(args.runs, Path(args.to), Path(home(args.runs_dir)))
    except UsageError as e:
        parser.exit(EXIT_USAGE, f"bedash export: error: {e}\n")
    for path in written:
        print(path)
    print(f"tensorboard --logdir {args.to}")
    return EXIT_OK


def find_runs(names: list[str], runs_dir: Path) -> list[RunInfo]:
    """Each RUN read and checked: a folder bedash wrote, readable, no two of the same name."""
    runs: list[RunInfo] = []
    for name in names:
        path = Path(name)
        if not path.is_dir() and len(path.parts) == 1:  # a run id
            path = runs_dir / name
        run = read_run(path)
        if run.status == "damaged":
            raise UsageError(f"RUN {name}: not a readable run folder ({run.reason})")
        if any(r.run_id == run.run_id for r in runs):
            raise UsageError(f"RUN {name}: two runs named {run.run_id} would share one folder")
        runs.append(run)
    return runs


def export_tensorboard(names: list[str], to: Path, runs_dir: Path) -> list[Path]:
    """Write each run's event files into to/<run id>; returns those folders."""
    runs = find_runs(names, runs_dir)
    try:
        check_output_place(to, "to")
    except RunDirError as e:
        raise UsageError(f"--to: {e.message}") from e
    for run in runs:
        if (to / run.run_id).exists():
            raise UsageError(f"--to: {to / run.run_id} exists (an earlier export?); remove it")
    if importlib.util.find_spec("tensorboard") is None:
        raise UsageError("TensorBoard is not installed: pip install 'bedash[tensorboard]'")
    from torch.utils.tensorboard import SummaryWriter

    written = []
    for run in runs:
        with SummaryWriter(log_dir=str(to / run.run_id)) as writer:
            write_run(writer, run)
        written.append(to / run.run_id)
    return written


def _tag(prefix: str, row: dict[str, Any]) -> str:
    member = row.get("member")
    return f"{prefix}/{row['model']}" + ("" if member is None else f"/member_{member}")


def write_run(writer: Any, run: RunInfo) -> None:
    """One run's curves and final metrics as scalars; its config as text."""
    steps, problems = read_steps(run.path)
    tables = read_tables(run.path)
    if problems or tables.problems:
        raise UsageError(f"RUN {run.run_id}: {(problems or tables.problems)[0]}")
    for row in steps:
        if row["loss"] is not None:
            step = round(row["x"] * STEPS_PER_EPOCH)
            writer.add_scalar(_tag("loss", row), row["loss"], step)
    for row in tables.history:
        for column in EPOCH_COLUMNS:
            if row[column] is not None:
                writer.add_scalar(_tag(f"epoch/{column}", row), row[column], row["epoch"])
    for row in tables.results:
        for column, value in row.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                writer.add_scalar(f"final/{column}/{row['model']}", value, row["epochs"] or 0)
    writer.add_text("config", f"```\n{json.dumps(run.config, indent=1, default=str)}\n```")

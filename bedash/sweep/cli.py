"""`python -m bedash sweep`: a grid of runs over seeds, with paired statistics and a verdict.

Every setting of `train` is a flag here too; a sweepable one takes a comma list (`--members
1,2,4,8 --seeds 0-4`). Rerunning the same command (or just `--out DIR`) resumes: finished cells
are kept, failed and interrupted ones run again.
Exit codes: 0 every cell finished, 1 a cell failed or the machine did (a full disk, the folder
gone, Ray broken: one line), 2 bad input (one line naming the flag), 130 interrupted. The driver
imports torch only to check the cells that run on this machine, as `train` does.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bedash import stopping
from bedash.jobs.executor import Executor
from bedash.names import FieldError, duration, left_out_notes, program
from bedash.settings.config import GROUPS, RunConfig, config_fields, sweep_values
from bedash.settings.config import flag as config_flag
from bedash.settings.limits import DEFAULT_LIMITS, Limits
from bedash.settings.profile import home
from bedash.settings.types import Spec
from bedash.store.folders import check_output_place
from bedash.store.readers import FileProblem, safe_text
from bedash.store.sweepfiles import read_stats
from bedash.sweep.engines import LocalEngine, RayEngine, use_cluster_token
from bedash.sweep.folder import check_out, is_sweep_dir, read_sweep_json, spec_from_sweep
from bedash.sweep.grid import (
    DONE_STATUSES,
    MAX_CELLS,
    SweepError,
    SweepSpec,
    SweepStopped,
    check_cells,
    check_size,
    parse_seeds,
    seed_count,
)
from bedash.sweep.rows import damaged_cells
from bedash.sweep.run import SweepEvent, check_files, progress_text, sweep_task
from bedash.sweep.uncertainty_stats import TABLES

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_SEEDS = "0-2"  # three seeds: the fewest that give an interval at all worth reading
# the sweep settings an error may name, and their flags
SWEEP_SETTINGS = ("seeds", "out", "sweeps_dir", "address", "max_cells", "engine", "no_download")
SWEEP_FLAGS = {
    n: "--" + n.replace("_", "-") for n in (*SWEEP_SETTINGS, "cpus_per_run", "gpus_per_run")
}


class UsageError(Exception):
    """Bad input (exit code 2); the message names the flag."""


def config_specs() -> list[Spec]:
    """The settings a sweep offers: every RunConfig field with a flag (as `train`), except
    the seed: --seeds lists those."""
    return [s for s in config_fields() if s.flag and s.name != "seed"]


def flag_of(field: str) -> str:
    """How this command names a field: "--batch-size", "--seeds", "--out"... (a BEDASH_*
    variable by its name)."""
    if field.startswith("BEDASH_"):
        return field
    return SWEEP_FLAGS.get(field) or config_flag(field)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{program()} sweep",
        description="Run a grid of configs over seeds (every model kind per cell, on the same "
        "batches), then mean +- 95% CI per config and paired BatchEnsemble-minus-baseline "
        "intervals with a verdict. Sweepable flags take comma lists.",
    )
    groups = {key: p.add_argument_group(title) for key, title in GROUPS.items()}
    for s in config_specs():
        group = groups.get(s.group) or groups["output"]
        s.type.add_argument(group, s, s.type.flag_help(s, sweep=True), sweep=True)
    g = p.add_argument_group("sweep")
    seeds_help = f"seeds of every config: 0-4, 0,1,2 or 0-2,7 (default {DEFAULT_SEEDS})"
    g.add_argument("--seeds", help=seeds_help)
    g.add_argument("--out", help="sweep folder; an existing one is resumed")
    g.add_argument(
        "--sweeps-dir",
        "--runs-dir",
        default=None,
        help="where sweeps go without --out, as sweep-<id>: the folder of runs and sweeps "
        "(default: $BEDASH_RUNS_DIR, else runs; the dashboard lists them there)",
    )
    g.add_argument("--max-cells", type=int, default=MAX_CELLS, help="refuse bigger grids")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument(
        "--no-download",
        action="store_true",
        help="never download anything (CIFAR-10, the SVHN OOD set), as train's; "
        "checked before any cell starts",
    )
    e = p.add_argument_group("engine")
    e.add_argument(
        "--engine",
        choices=["auto", "ray", "local"],
        default="auto",
        help="auto (default): Ray where it is installed, else in this process; ray; or local: "
        "in this process, one cell at a time (the demo profile always runs locally)",
    )
    e.add_argument(
        "--address",
        help="a Ray cluster (HOST:PORT or auto; default: $RAY_ADDRESS, else a local "
        "Ray started for this sweep); its token (~/.ray/auth_token, $RAY_AUTH_TOKEN_PATH) is "
        "sent unless $RAY_AUTH_MODE says otherwise",
    )
    e.add_argument(
        "--cpus-per-run",
        type=float,
        help="CPUs a cell reserves (fractions allowed; default: all of a node's, i.e. "
        "one run per node at a time, or 1 with GPUs)",
    )
    e.add_argument(
        "--gpus-per-run",
        type=float,
        help="GPUs a cell reserves (0.25: four runs share a GPU; default: 1 where "
        "the cluster has GPUs and --device is not cpu)",
    )
    e.add_argument(
        "--exclusive", action="store_true", help="one run per node at a time (for timing sweeps)"
    )
    e.add_argument("--ray-dashboard", action="store_true", help="start Ray's dashboard")
    e.add_argument("--ray-logs", action="store_true", help="show the workers' logs")
    return p


def spec_from_args(a: argparse.Namespace, limits: Limits = DEFAULT_LIMITS) -> SweepSpec | None:
    """The sweep the flags describe; None when no setting and no --seeds was given. Its size
    is checked against the cap (--max-cells, the profile's) before its seeds are listed."""
    base: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}
    given = a.seeds is not None
    for s in config_specs():
        if (raw := getattr(a, s.name)) is None:
            continue
        given = True
        values = sweep_values(s, raw)  # ConfigError naming the field: exit 2 naming the flag
        if len(values) == 1:
            base[s.name] = values[0]
        else:
            grid[s.name] = values
    if not given:
        return None
    seeds = a.seeds if a.seeds is not None else DEFAULT_SEEDS
    n_configs = math.prod(len(v) for v in grid.values())
    check_size(n_configs, seed_count(seeds), limits, getattr(a, "max_cells", None))
    # a grid over arch: each cell's architecture's recipe sets what was not given
    follow = [s.name for s in config_specs() if s.recipe and s.name not in {*base, *grid}]
    follow = follow if "arch" in grid else []
    return SweepSpec(RunConfig.of(**base), grid, parse_seeds(seeds), tuple(follow))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits 2 on malformed flags
    args.sweeps_dir = home(args.sweeps_dir)  # the one home of runs and sweeps
    mode = os.environ.get("RAY_AUTH_MODE")  # use_cluster_token may set it for this sweep
    try:
        return cmd_sweep(args)
    except UsageError as e:
        parser.exit(EXIT_USAGE, f"bedash sweep: error: {e}\n")
    except FieldError as e:  # SweepError, ConfigError: name the flag
        parser.exit(EXIT_USAGE, f"bedash sweep: error: {flag_of(e.field)}: {e.message}\n")
    except KeyboardInterrupt as e:
        print(f"\nbedash sweep: {stopping.word(e)}", file=sys.stderr)
        return stopping.exit_code(e)
    except SweepStopped as e:  # the machine failed: what, what is kept, how to go on
        print(f"bedash sweep: failed: {e}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as e:  # the machine failed (a write in the sweep folder...): one line
        print(f"bedash sweep: failed: {e}; the cells done are kept", file=sys.stderr)
        return EXIT_FAILED
    finally:  # called in-process (tests, a notebook): a later Ray head must not inherit it
        if mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = mode
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from bedash.settings.profile import current_limits
    from bedash.store.folders import new_run_id

    limits = current_limits()
    # before anything is read, made or started, one line naming the flag: the output place
    # (the check of every command), then, where the cells run on this machine, train's checks
    check_output_place(*((args.out, "out") if args.out else (args.sweeps_dir, "sweeps_dir")))
    spec = spec_from_args(args, limits)
    if spec is None and args.out and is_sweep_dir(args.out):  # only --out: resume what is there
        spec = spec_from_sweep(args.out, limits)  # a bad value names sweep.json
    elif spec is None:
        if args.out and Path(args.out).is_dir() and any(Path(args.out).iterdir()):
            read_sweep_json(args.out)  # raises: not a sweep
        spec = SweepSpec(RunConfig(), {}, parse_seeds(DEFAULT_SEEDS))
    out = Path(args.out) if args.out else Path(args.sweeps_dir) / f"sweep-{new_run_id()}"
    cells = check_cells(spec, limits, args.max_cells)
    check_out(out, spec)
    cluster = args.address or os.environ.get("RAY_ADDRESS")  # its workers run the cells
    here = args.engine == "local" or limits.name == "demo" or not cluster
    check_files(cells, download=not args.no_download, here=here)
    if here:  # a cluster's workers have their own disks and devices
        from bedash.preflight import preflight

        for cfg in {c.config_index: c.config for c in cells}.values():
            preflight(cfg, limits)
    engine = make_engine(args, spec, limits)
    cancel = threading.Event()
    bar = SweepBar(sys.stderr, quiet=args.quiet)
    restore = lambda: None  # noqa: E731
    try:
        if hasattr(engine, "connect"):  # a Ctrl-C meanwhile aborts: no cell has started
            bar.note("connecting to Ray..." if engine.address else "starting Ray...")
            engine.connect()
        # after connecting: Ray's driver installs its own SIGTERM handler, which exits with
        # its stack printed and the running cells left marked running
        restore = stopping.install(cancel, "cancelling the running cells")
        # one job of the executor, run here: ray.init and the signal handlers need the main
        # thread. The profile's limits are the cells' (per run), not the job's watchdog.
        task = sweep_task(
            spec, out, engine, limits=limits, max_cells=args.max_cells, on_event=bar.on_event
        )
        _, result = Executor(out.parent).run(task, spec.base, run_id=out.name, cancel=cancel)
    finally:
        restore()
        bar.close()
        engine.close()
    print(format_verdicts(out))
    c = result.counts
    print(
        f"\nsweep {result.status}: {c['finished'] + c['diverged']}/{sum(c.values())} cells done, "
        f"{c['failed']} failed, {c['interrupted'] + c['pending']} to resume: {out}"
    )
    if result.status == "interrupted":
        return stopping.exit_code()
    return EXIT_FAILED if result.status == "failed" else EXIT_OK


def _have_ray() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("ray") is not None
    except ValueError:  # sys.modules["ray"] is None or has no spec: it cannot be imported
        return True


def ray_import_error() -> str:
    """ "" where Ray imports, else why not (an installed Ray with a missing library, a half
    upgrade): the engine is refused in one line instead of a traceback at connect."""
    try:
        import ray  # noqa: F401
    except Exception as e:  # whatever a broken install raises
        return f"{type(e).__name__}: {e}"
    return ""


def train(*args: Any, **kwargs: Any) -> Any:
    """The cells' training: run_experiment, imported where a cell runs (a Ray task pickles
    this function by name), so the driver never imports torch."""
    from bedash.experiment import run_experiment

    return run_experiment(*args, **kwargs)


def make_engine(args: argparse.Namespace, spec: SweepSpec, limits: Limits) -> Any:
    kind = args.engine
    download = not getattr(args, "no_download", False)  # a hand-made Namespace may lack it
    if limits.name == "demo":
        if kind == "ray" or args.address:
            raise SweepError("engine", "the demo runs sweeps in this process (demo limit)")
        kind = "local"
    env_address = os.environ.get("RAY_ADDRESS") if kind != "local" else None
    if not _have_ray() and kind != "local":
        hint = "Ray is not installed (pip install 'bedash[ray]')"
        if args.address:
            raise SweepError("address", f"{hint}; or leave --address out to run here")
        if env_address:  # never ignored: the user asked for that cluster
            raise UsageError(f"RAY_ADDRESS={env_address}: {hint}; or unset RAY_ADDRESS")
        if kind == "ray":
            raise SweepError("engine", f"{hint}; or use --engine local")
        # `pip install .` without the ray extra: the cells run one by one here, said so
        print(
            f"bedash sweep: {hint}: the cells run in this process, one at a time", file=sys.stderr
        )
        kind = "local"
    if kind != "local":  # before Ray is imported: it reads RAY_AUTH_MODE once, then
        use_cluster_token(args.address or env_address)
    if kind != "local" and (why := ray_import_error()):
        raise SweepError(
            "engine",
            f"Ray is installed but cannot be imported ({why}); repair it "
            "(pip install 'bedash[ray]') or use --engine local",
        )
    if kind == "local":
        if args.address:
            raise SweepError("address", "needs --engine ray")
        return LocalEngine(train, limits, download=download)
    return RayEngine(
        train,
        address=args.address,
        cpus_per_run=args.cpus_per_run,
        gpus_per_run=args.gpus_per_run,
        exclusive=args.exclusive,
        dashboard=args.ray_dashboard,
        logs=args.ray_logs,
        use_gpu=spec.base.device != "cpu",
        limits=limits,
        download=download,
    )


# -- output ------------------------------------------------------------------------------------

VERDICT_METRICS = ("ensemble_acc", "nll", "ece", "params", "train_seconds")


def format_verdicts(path: Path) -> str:
    """The paired table's key rows: BatchEnsemble minus each baseline, CI and verdict; then
    the done cells left out of the statistics (a damaged results.csv), each with the reason."""
    try:
        _, rows = read_stats(path / "paired.csv", paired=True)
    except FileNotFoundError:
        return "no paired statistics yet"
    except (FileProblem, OSError) as e:
        return f"the paired statistics cannot be read ({safe_text(e)})"
    rows = [r for r in rows if r["metric"] in VERDICT_METRICS]
    lines = [f"{'config':<24} {'metric':<14} {'vs':<18} {'diff':>10} {'95% CI':>24}  verdict"]
    for r in rows:
        low, high = r["ci_low"], r["ci_high"]
        ci = "-" if low is None or high is None else f"[{low:.4g}, {high:.4g}]"
        lines.append(
            f"{(r['label'] or '')[:24]:<24} {r['metric']:<14} {r['baseline']:<18} "
            f"{r['mean_diff']:>10.4g} {ci:>24}  {r['verdict']}"
        )
    if not rows:
        lines = ["no paired statistics yet (no config has BatchEnsemble and a baseline done)"]
    try:
        cells = read_sweep_json(path)["cells"]
        damaged = damaged_cells(path, [c["id"] for c in cells if c["status"] in DONE_STATUSES])
    except SweepError:
        damaged = {}
    lines += [f"left out of the statistics: cell {c} ({why})" for c, why in damaged.items()]
    return "\n".join(lines + constant_notes(path))


def constant_notes(path: Path) -> list[str]:
    """Why the uncertainty summaries have rows the paired files leave out (once each)."""
    rows = []
    for t in TABLES:
        try:
            rows += read_stats(path / t.summary, t.key)[1]
        except (FileProblem, OSError):  # absent or damaged: the page names a damaged one
            continue
    return left_out_notes(rows)


class SweepBar:
    """A bar over cells with an ETA on stderr, and each running cell's model, epoch and loss
    (one line per event, and per epoch of a cell, when it is not a terminal). The ETA shown
    never rises: a cell that ends late does not push it back up."""

    def __init__(self, stream: TextIO, quiet: bool = False, width: int = 24) -> None:
        self.stream, self.quiet, self.width = stream, quiet, width
        self.eta = math.inf
        self.tty = stream.isatty()
        self._open = False
        self.running: dict[str, str] = {}  # cell id -> "model epoch 2/5 loss 1.234"

    def note(self, text: str) -> None:
        if not self.quiet:
            self.close()
            self.stream.write(text + "\n")
            self.stream.flush()

    def on_event(self, ev: SweepEvent) -> None:
        if self.quiet:
            return
        c, self.eta = ev.counts, min(self.eta, ev.eta)
        if ev.kind == "progress":
            self.running[ev.cell_id] = progress_text(ev.progress)
        else:
            self.running.pop(ev.cell_id, None)
        filled = int(ev.done / ev.total * self.width) if ev.total else self.width
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {ev.done}/{ev.total} cells "
            f"({c['running']} running, {c['failed']} failed) ETA {duration(self.eta)}"
        )
        if ev.kind == "ended" and ev.status not in ("finished", "diverged"):
            self.note(f"cell {ev.cell_id} {ev.status}" + (f": {ev.error}" if ev.error else ""))
        if self.tty:  # the line holds what fits of the running cells, after the bar
            cells = "; ".join(f"{cid} {what}" for cid, what in self.running.items())
            self.stream.write("\r\x1b[K" + line + (f" | {cells}"[:160] if cells else ""))
            self._open = True
        elif ev.kind == "ended":
            self.stream.write(f"{line}  {ev.cell_id} {ev.status}\n")
        elif ev.kind == "progress" and ev.progress.get("step") == ev.progress.get("steps"):
            self.stream.write(f"cell {ev.cell_id}: {self.running[ev.cell_id]}\n")  # an epoch
        self.stream.flush()

    def close(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


if __name__ == "__main__":  # python -m bedash.sweep.cli (= python -m bedash sweep)
    sys.exit(main())

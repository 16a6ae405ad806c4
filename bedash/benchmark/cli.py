"""`python -m bedash bench`: the flags (made from BenchSettings' fields), their checks, main.

Every flag is checked before anything is timed, as `train` checks its own: a bad one exits 2
with one line `bedash bench: error: --flag: ...`. The checks: each value's setting type (the
settings shared with `train` keep RunConfig's bounds), RunConfig.validate (a ConfigError's
field is the flag's name), the memory budget (bedash.method.budget) of the largest model timed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bedash.benchmark import __doc__ as PACKAGE_DOC
from bedash.benchmark.settings import BenchSettings, bench_specs, flag
from bedash.names import MODEL_KINDS, ConfigError, FieldError, program
from bedash.settings.config import check_value, parse_value
from bedash.store.folders import check_output_place

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130  # as `train` (bedash.cli)
IMAGES_CIFAR10 = 50_000


def build_parser() -> argparse.ArgumentParser:
    """The flags, one per BenchSettings field, each made by its setting type."""
    p = argparse.ArgumentParser(
        prog=f"{program()} bench",
        description=(PACKAGE_DOC or "").split("\n\n")[0].replace("\n", " "),
        epilog="Figures and how to read them: BENCHMARKS.md.",
    )
    for s in bench_specs():
        s.type.add_argument(p, s, s.help or None)
    return p


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    """The parsed flags as BenchSettings, each checked by its setting type (FieldError)."""
    values = {}
    for s in bench_specs():
        values[s.name] = parse_value(s, getattr(args, s.name))
        check_value(s, values[s.name])
    return BenchSettings(**values)


def check(s: BenchSettings) -> None:
    """FieldError naming the first bad setting; times nothing, imports torch (devices, budget)."""
    from bedash.data.cifar10 import cifar10_present
    from bedash.method.budget import check_budget
    from bedash.method.devices import resolve_device

    base = s.run_config(use_cifar=False)
    base.validate()  # members, hidden, batch, eval batch, sizes
    for m in s.scaling_members:
        _as("scaling_members", base.replace(members=m).validate)
    for h in s.scaling_hidden:
        _as("scaling_hidden", base.replace(hidden=h).validate)
    device = resolve_device(s.device)  # ConfigError("device", ...) listing the devices there are
    use_cifar = s.uses_cifar10()
    if s.dataset == "cifar10" and not cifar10_present(s.data_dir):
        raise FieldError(
            "data_dir",
            f"CIFAR-10 is not in {Path(s.data_dir).resolve()} and bench never downloads it: "
            "run `python -m bedash train` once, or use --dataset synthetic",
        )
    n_train = IMAGES_CIFAR10 if use_cifar else s.train_size
    if s.batch_size > n_train:
        raise FieldError(
            "batch_size", f"{s.batch_size} is larger than the training images ({n_train})"
        )
    epoch = n_train // s.batch_size  # full batches in one epoch: what a timed run can take
    for name, steps in (("steps", s.steps), ("scaling_steps", s.scaling_steps if s.scaling else 0)):
        if steps > epoch:
            raise FieldError(
                name,
                f"must be at most {epoch}, one epoch of {n_train} training images at batch "
                f"{s.batch_size} (got {steps})",
            )
    if s.out is not None:  # before anything is timed: the measurements are not lost at the end
        check_output_place(s.out, "out")
    cfg = s.run_config(use_cifar).replace(models=MODEL_KINDS)  # every kind is timed
    check_budget(cfg, device)  # ConfigError("hidden", ...) etc.: the flag of the same name
    if s.scaling:  # the sweep's largest points, under the sweep's flags
        _as("scaling_members", check_budget, cfg.replace(members=max(s.scaling_members)), device)
        _as("scaling_hidden", check_budget, cfg.replace(hidden=max(s.scaling_hidden)), device)


def _as(field: str, check_one: Callable[..., object], *args: Any) -> None:
    """check_one(*args), its ConfigError reported under the bench-only flag `field`."""
    try:
        check_one(*args)
    except ConfigError as e:
        raise FieldError(field, e.message) from e


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 on malformed flags
    try:
        s = settings_from_args(args)
        check(s)
    except FieldError as e:
        parser.exit(EXIT_USAGE, f"bedash bench: error: {flag(e.field)}: {e.message}\n")
    from bedash.benchmark.report import format_report, write_outputs
    from bedash.benchmark.run import run_bench

    command = f"python -m bedash bench {shlex.join(argv)}".rstrip()
    log = (lambda *a, **k: None) if s.quiet else print
    try:
        report = run_bench(s, command=command, log=log)
        if not s.quiet:
            print(format_report(report))
        if s.out:
            write_outputs(report, Path(s.out))
    except KeyboardInterrupt:
        print("\nbedash bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # one line, as `train`: a failure mid-benchmark is no traceback
        print(f"bedash bench: failed: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

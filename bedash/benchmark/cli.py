"""`python -m bedash bench`: the flags (made from BenchSettings' defaults), their checks, main.

Every flag is checked before anything is timed, the way `train` checks its own: a bad one
exits 2 with one line `bedash bench: error: --flag: ...`. The settings bench shares with
`train` go through RunConfig.validate (a ConfigError's field is the flag's name), then the
bench's own, then the memory budget (bedash.method.budget) of the largest model timed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from bedash.benchmark import __doc__ as PACKAGE_DOC
from bedash.benchmark.settings import BenchSettings
from bedash.names import MODEL_KINDS, FieldError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130  # as `train` (bedash.cli)
IMAGES_CIFAR10 = 50_000
MAX_COUNT = 10**6  # steps, repeats: far beyond any useful run, small enough to be a typo


def flag(field: str) -> str:
    """A settings field (or RunConfig field of the same name) -> its flag: batch_size ->
    --batch-size."""
    return "--" + field.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    d = BenchSettings()
    p = argparse.ArgumentParser(
        prog="python -m bedash bench",
        description=(PACKAGE_DOC or "").split("\n\n")[0].replace("\n", " "),
        epilog="Figures and how to read them: BENCHMARKS.md.",
    )
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--dataset",
        default=d.dataset,
        choices=["auto", "cifar10", "synthetic"],
        help="auto: CIFAR-10 when it is in --data-dir, else synthetic data of the same size",
    )
    p.add_argument("--data-dir", default=d.data_dir)
    p.add_argument("--members", type=int, default=d.members, help="E (default 5, as the seed)")
    p.add_argument("--hidden", type=int, default=d.hidden)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size)
    p.add_argument("--train-size", type=int, default=d.train_size, help="synthetic training images")
    p.add_argument("--test-size", type=int, default=d.test_size)
    p.add_argument(
        "--steps", type=int, default=d.steps, help="timed steps per variant (0: one epoch)"
    )
    p.add_argument(
        "--seed-steps", type=int, default=d.seed_steps, help="cap for the slow seed pipeline"
    )
    p.add_argument(
        "--repeats", type=int, default=d.repeats, help="interleaved repeats (median kept)"
    )
    p.add_argument("--skip-seed", action="store_true", help="leave out the seed pipeline")
    p.add_argument("--no-train", action="store_true", help="skip the training/inference table")
    p.add_argument("--memory", action="store_true", help="peak memory of a whole run")
    p.add_argument("--compile", action="store_true", help="also time torch.compile modes")
    p.add_argument("--scaling", action="store_true", help="sweep E and hidden width")
    p.add_argument(
        "--scaling-steps", type=int, default=d.scaling_steps, help="timed steps per sweep point"
    )
    p.add_argument(
        "--scaling-members", default=_join(d.scaling_members), help="E values of the sweep"
    )
    p.add_argument("--scaling-hidden", default=_join(d.scaling_hidden), help="widths of the sweep")
    p.add_argument("--out", default=d.out, help="folder for bench.json, CSVs and the plot")
    p.add_argument("--quiet", action="store_true")
    return p


def _join(values: tuple[int, ...]) -> str:
    return ",".join(map(str, values))


def _ints(field: str, text: str) -> tuple[int, ...]:
    """'1,2,4' -> (1, 2, 4); anything else is a FieldError naming `field`."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise FieldError(
            field, f"must be whole numbers separated by commas, e.g. 1,2,4 (got {text!r})"
        ) from None
    if not values:
        raise FieldError(field, f"give at least one value, e.g. 1,2,4 (got {text!r})")
    return values


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    """The parsed flags as BenchSettings (the sweep lists parsed, FieldError when malformed)."""
    values = {f.name: getattr(args, f.name) for f in fields(BenchSettings)}
    values["scaling_members"] = _ints("scaling_members", args.scaling_members)
    values["scaling_hidden"] = _ints("scaling_hidden", args.scaling_hidden)
    return BenchSettings(**values)


def _count(field: str, value: int, lo: int) -> None:
    if not lo <= value <= MAX_COUNT:
        raise FieldError(field, f"must be from {lo} to {MAX_COUNT} (got {value})")


def check(s: BenchSettings) -> None:
    """FieldError naming the first bad setting (its field is the flag's name); nothing timed.
    Imports torch (the device list, the memory budget)."""
    from bedash.data.cifar10 import cifar10_present
    from bedash.method.budget import check_budget
    from bedash.method.devices import resolve_device

    s.run_config(use_cifar=False).validate()  # members, hidden, batch, eval batch, sizes
    for e in s.scaling_members:
        _as("scaling_members", lambda cfg, e=e: cfg.replace(members=e).validate(), s)
    for h in s.scaling_hidden:
        _as("scaling_hidden", lambda cfg, h=h: cfg.replace(hidden=h).validate(), s)
    device = resolve_device(s.device)  # ConfigError("device", ...) listing the devices there are
    _count("steps", s.steps, 0)
    _count("seed_steps", s.seed_steps, 1)
    _count("repeats", s.repeats, 1)
    _count("scaling_steps", s.scaling_steps, 1)
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
    if s.out is not None and Path(s.out).exists() and not Path(s.out).is_dir():
        raise FieldError("out", f"{s.out} exists and is not a folder")
    cfg = s.run_config(use_cifar).replace(models=MODEL_KINDS)  # every kind is timed
    check_budget(cfg, device)  # ConfigError("hidden", ...) etc.: the flag of the same name
    if s.scaling:  # the sweep's largest points, under the sweep's flags
        big_e = cfg.replace(members=max(s.scaling_members))
        _as("scaling_members", lambda c: check_budget(c, device), big_e)
        big_h = cfg.replace(hidden=max(s.scaling_hidden))
        _as("scaling_hidden", lambda c: check_budget(c, device), big_h)


def _as(field: str, check_one: Callable[[Any], object], arg: Any) -> None:
    """check_one(arg), its ConfigError reported under the bench-only flag `field`."""
    from bedash.settings.config import ConfigError

    try:
        check_one(arg.run_config() if isinstance(arg, BenchSettings) else arg)
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

    command = "python -m bedash bench " + shlex.join(argv)
    log = (lambda *a, **k: None) if s.quiet else print
    try:
        report = run_bench(s, command=command.rstrip(), log=log)
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

"""BenchSettings: what one benchmark run measures, each field declared once with its flag's help
and type (a setting type of bedash.settings.types, as RunConfig's): bedash.benchmark.cli makes
the flags from them, and `run_bench` takes one of these, never a Namespace."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bedash.settings.config import RunConfig
from bedash.settings.config import spec as config_spec
from bedash.settings.types import TYPES, Spec

MAX_COUNT = 10**6  # steps, repeats: far beyond any useful run, small enough to be a typo
AUTO = "auto: CIFAR-10 when it is in --data-dir, else synthetic data of the same size"
SHARED = ("members", "hidden", "batch_size", "eval_batch_size", "train_size", "test_size")


def _flag(type: str, default: Any, help: str = "", **more: Any) -> Any:
    return dataclasses.field(default=default, metadata={"type": TYPES[type], "help": help, **more})


def _count(default: int, help: str = "", lo: int = 1) -> Any:
    return _flag("int", default, help, lo=lo, hi=MAX_COUNT)


@dataclass(frozen=True)
class BenchSettings:
    device: str = _flag("text", "auto", "auto, cpu, cuda, cuda:N or mps")
    dataset: str = _flag("choice", "auto", AUTO, choices=("auto", "cifar10", "synthetic"))
    data_dir: str = _flag("text", "./data")
    # the settings bench shares with `train`: RunConfig's bounds (bench_specs)
    members: int = _flag("int", 5, "E (default 5, as the seed)")
    hidden: int = _flag("int", 128)
    batch_size: int = _flag("int", 32)
    eval_batch_size: int = _flag("int", RunConfig().eval_batch_size)
    train_size: int = _flag("int", 50_000, "synthetic training images")
    test_size: int = _flag("int", 10_000)
    steps: int = _count(0, "timed steps per variant (0: one epoch)", lo=0)
    seed_steps: int = _count(400, "cap for the slow seed pipeline")
    repeats: int = _count(3, "interleaved repeats (median kept)")
    skip_seed: bool = _flag("bool", False, "leave out the seed pipeline")
    no_train: bool = _flag("bool", False, "skip the training/inference table")
    memory: bool = _flag("bool", False, "peak memory of a whole run")
    compile: bool = _flag("bool", False, "also time torch.compile modes")
    scaling: bool = _flag("bool", False, "sweep E and hidden width")
    scaling_steps: int = _count(60, "timed steps per sweep point")
    scaling_members: tuple[int, ...] = _flag("ints", (1, 2, 4, 8, 16), "E values of the sweep")
    scaling_hidden: tuple[int, ...] = _flag("ints", (128, 512, 2048), "widths of the sweep")
    out: str | None = _flag("text", None, "folder for bench.json, CSVs and the plot", optional=True)
    quiet: bool = _flag("bool", False)

    def run_config(self, use_cifar: bool = False, device: str | None = None) -> RunConfig:
        """The RunConfig of the timed models: the settings bench shares with `train` (CIFAR-10
        is read whole: --train-size and --test-size size the synthetic data only)."""
        return RunConfig(
            dataset="cifar10" if use_cifar else "synthetic",
            data_dir=self.data_dir,
            members=self.members,
            hidden=self.hidden,
            batch_size=self.batch_size,
            device=device or self.device,
            eval_batch_size=self.eval_batch_size,
            train_size=None if use_cifar else self.train_size,
            test_size=None if use_cifar else self.test_size,
        )

    def uses_cifar10(self) -> bool:
        """Whether the benchmark reads CIFAR-10 (auto: when it is in data_dir)."""
        from bedash.data.cifar10 import cifar10_present

        return self.dataset == "cifar10" or (
            self.dataset == "auto" and cifar10_present(self.data_dir)
        )


def bench_specs() -> list[Spec]:
    """One Spec per BenchSettings field, in order; a setting shared with `train` keeps
    RunConfig's bounds (its check gives train's message), with the bench's default and help."""
    out = []
    for f in dataclasses.fields(BenchSettings):
        base = config_spec(f.name) if f.name in SHARED else None
        more = {"lo": base.lo, "hi": base.hi, "limit": base.limit} if base else {}
        more.update(f.metadata, flag=flag(f.name))
        out.append(Spec(name=f.name, default=f.default, label=f.name, group="bench", **more))
    return out


def flag(field: str) -> str:
    """A settings field (or RunConfig field of the same name) -> its flag: batch_size ->
    --batch-size."""
    return "--" + field.replace("_", "-")

"""BenchSettings: what one benchmark run measures. The command's flags are made from these
fields' defaults (bedash.benchmark.cli), and `run_bench` takes one of these, never a Namespace."""

from __future__ import annotations

from dataclasses import dataclass

from bedash.settings.config import RunConfig


@dataclass(frozen=True)
class BenchSettings:
    device: str = "auto"  # auto, cpu, cuda, cuda:N or mps
    dataset: str = "auto"  # auto: CIFAR-10 when it is in data_dir, else synthetic data
    data_dir: str = "./data"
    members: int = 5  # E (the seed's)
    hidden: int = 128
    batch_size: int = 32
    eval_batch_size: int = RunConfig().eval_batch_size
    train_size: int = 50_000  # synthetic training images
    test_size: int = 10_000
    steps: int = 0  # timed steps per variant (0: one epoch)
    seed_steps: int = 400  # cap for the slow seed pipeline
    repeats: int = 3  # interleaved repeats (the median is kept)
    skip_seed: bool = False  # leave out the seed pipeline
    no_train: bool = False  # skip the training/inference table
    memory: bool = False  # peak memory of a whole run
    compile: bool = False  # also time torch.compile modes
    scaling: bool = False  # sweep E and hidden width
    scaling_steps: int = 60  # timed steps per sweep point
    scaling_members: tuple[int, ...] = (1, 2, 4, 8, 16)
    scaling_hidden: tuple[int, ...] = (128, 512, 2048)
    out: str | None = None  # folder for bench.json, the CSVs and the plot
    quiet: bool = False

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

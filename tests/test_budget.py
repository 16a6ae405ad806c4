"""The memory budget: exact parameter counts, the seed config fits a small machine, a config
that cannot fit is refused before the run folder exists, naming the field and both numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from bedash.method import budget
from bedash.method.budget import check_budget, estimate, format_bytes, param_bytes
from bedash.method.models import build_model, param_stats
from bedash.names import MODEL_KINDS, ConfigError
from bedash.settings.config import RunConfig

GB = 10**9
HUGE = RunConfig(members=64, hidden=16384, layers=16)


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize(
    "cfg",
    [
        RunConfig(members=3, hidden=16, layers=2),
        RunConfig(members=4, hidden=8, layers=3, bias="member", fast_init="normal"),
        RunConfig(members=2, hidden=12, arch="cnn", channels=4),
        RunConfig(members=3, arch="resnet", width=4),
        RunConfig(members=2, arch="resnet", depth="18", width=4, bias="member"),
    ],
    ids=["mlp", "mlp-member-bias", "cnn", "resnet9", "resnet18"],
)
def test_parameters_equal_the_built_models(kind: str, cfg: RunConfig) -> None:
    assert param_bytes(kind, cfg) == param_stats(build_model(kind, cfg))


def test_the_estimate_does_not_move_the_global_rng() -> None:
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    estimate(RunConfig(members=3, hidden=16), 100, 10)
    assert torch.equal(torch.rand(3), expected)


def test_the_seed_config_fits_a_machine_with_a_few_gb() -> None:
    for cfg in (RunConfig(), RunConfig(arch="cnn"), RunConfig(dataset="synthetic")):
        need = check_budget(cfg, "cpu", available=2 * GB)
        assert 184 * 10**6 <= need.total < 1.6 * GB  # the CIFAR-10 images alone are 184 MB
        assert need.parts["data"] == 60_000 * 3072


def test_a_config_too_big_is_refused_with_both_numbers() -> None:
    with pytest.raises(ConfigError) as err:
        check_budget(HUGE, "cpu", available=22 * GB)
    assert err.value.field == "hidden"
    msg = err.value.message
    assert "this machine has 22 GB available" in msg
    need = float(re.search(r"needs about ([\d.]+) TB", msg).group(1))
    assert need > 1  # 64 x (16 layers of 16384^2) x 4 bytes, twice over with the gradients
    for part in ("parameters", "gradients", "Adam state", "activations", "data"):
        assert part in msg


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        (RunConfig(members=64, hidden=4096, layers=4, models=("ensemble",)), "hidden"),
        (
            RunConfig(members=64, hidden=512, batch_size=65_536, models=("batchensemble",)),
            "batch_size",
        ),
        (RunConfig(members=64, arch="cnn", channels=1024, models=("batchensemble",)), "members"),
        (RunConfig(dataset="synthetic", train_size=10**9), "train_size"),
        (RunConfig(arch="resnet", width=1024, members=4, models=("batchensemble",)), "width"),
    ],
    ids=["ensemble-width", "batch", "cnn-members", "data", "resnet-width"],
)
def test_the_refusal_names_the_dominant_field(cfg: RunConfig, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_budget(cfg, "cpu", available=8 * GB)
    assert err.value.field == field


def test_the_resnet_recipe_fits_one_80_gb_gpu_and_not_a_small_one() -> None:
    """Activations are read off the real ResNet on the meta device: at batch 512 they are
    most of the estimate, and grow with E for the kinds that run all members at once."""
    cfg = RunConfig(arch="resnet", batch_size=512, members=4, models=("single", "batchensemble"))
    need = check_budget(cfg, "cpu", available=80 * GB)
    assert need.kind == "batchensemble" and need.parts["activations"] > need.total / 2
    single = estimate(cfg.replace(models=("single",)), 50_000, 10_000)
    assert need.parts["activations"] == 4 * single.parts["activations"]
    with pytest.raises(ConfigError):
        check_budget(cfg, "cpu", available=8 * GB)


def test_the_margin_refuses_what_would_only_just_fit() -> None:
    need = check_budget(RunConfig(), "cpu", available=100 * GB).total
    check_budget(RunConfig(), "cpu", available=int(need / budget.USABLE_FRACTION) + 1)
    with pytest.raises(ConfigError, match="a run may plan on"):
        check_budget(RunConfig(), "cpu", available=need + 1)


def test_cuda_checks_the_device_and_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    cfg = RunConfig(members=8, hidden=4096, layers=4, models=("batchensemble",))
    with pytest.raises(ConfigError, match="cuda:0 has 1.0 GB available"):
        check_budget(cfg, torch.device("cuda:0"), available=1 * GB, host=100 * GB)
    # the host holds the data and each model as built before it moves to the GPU
    with pytest.raises(ConfigError, match="this machine has 300 MB available"):
        check_budget(cfg, torch.device("cuda:0"), available=100 * GB, host=300 * 10**6)
    check_budget(cfg, torch.device("cuda:0"), available=100 * GB, host=100 * GB)


def test_an_unknown_limit_skips_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "host_available", lambda: (None, "this machine has"))
    assert check_budget(HUGE, "cpu").total > 10**12


def test_host_available_reads_a_positive_number() -> None:
    avail, where = budget.host_available()
    assert avail is None or avail > 0
    assert where.endswith(" has")


def test_format_bytes() -> None:
    assert format_bytes(999) == "999 B"
    assert format_bytes(1234567) == "1.2 MB"
    assert format_bytes(183e9) == "183 GB"
    assert format_bytes(2.1e12) == "2.1 TB"


def test_an_image_folder_is_counted(tmp_path: Path) -> None:
    from PIL import Image

    for split, n in (("train", 3), ("test", 2)):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (8, 8)).save(tmp_path / split / cls / f"{i}.png")
    assert budget.planned_images(RunConfig(dataset=str(tmp_path))) == (6, 4, 2)
    cfg = RunConfig(dataset=str(tmp_path), train_size=4, test_size=100)
    assert budget.planned_images(cfg) == (4, 4, 2)


def test_run_experiment_refuses_before_the_folder_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bedash.experiment import run_experiment

    monkeypatch.setattr(budget, "host_available", lambda: (22 * GB, "this machine has"))
    out = tmp_path / "run"
    with pytest.raises(ConfigError) as err:
        run_experiment(HUGE.replace(dataset="synthetic", device="cpu"), out)
    assert err.value.field == "hidden" and not out.exists()


def test_preflight_refuses_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from bedash.preflight import preflight

    monkeypatch.setattr(budget, "host_available", lambda: (22 * GB, "this machine has"))
    with pytest.raises(ConfigError, match="22 GB available") as err:
        preflight(HUGE.replace(dataset="synthetic", device="cpu"))
    assert err.value.field == "hidden"
    preflight(RunConfig(dataset="synthetic", device="cpu"))


def test_the_cli_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bedash.__main__ import main

    monkeypatch.setattr(budget, "host_available", lambda: (22 * GB, "this machine has"))
    argv = ["train", "--dataset", "synthetic", "--device", "cpu", "--members", "64", "--hidden",
            "16384", "--layers", "16", "--out", str(tmp_path / "run"), "--quiet"]  # fmt: skip
    with pytest.raises(SystemExit) as ex:
        main(argv)
    assert ex.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bedash train: error: --hidden: needs about ") and "\n" not in err
    assert "22 GB available" in err and not (tmp_path / "run").exists()


def test_the_optimizer_state_is_counted_for_the_optimizer_that_runs() -> None:
    """Adam keeps two moments per parameter, SGD with momentum one buffer (torch's own state
    after a step is the reference)."""
    from bedash.method.budget import kind_bytes

    cfg = RunConfig(hidden=16, members=2)
    model = torch.nn.Linear(8, 4)
    model(torch.randn(2, 8)).sum().backward()
    for name, optim, slots in (
        ("adam", torch.optim.Adam(model.parameters()), 2),
        ("sgd", torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), 1),
    ):
        optim.step()
        tensors = [t for s in optim.state.values() for t in s.values() if t.numel() > 1]
        assert len(tensors) == slots * 2  # weight and bias: the reference count per parameter
        parts = kind_bytes("batchensemble", cfg.replace(optimizer=name), 100)
        assert parts["Adam state"] == slots * parts["parameters"]

"""The architecture's recipe as every front end's default (issue 23): `--arch resnet` alone gives
Page's ResNet-9 DAWNBench recipe in train, sweep (also a grid over arch) and the Experiment form;
a setting given explicitly wins; the MLP's and the CNN's defaults stay the seed's; config.json
records the values used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from bedash.__main__ import main
from bedash.cli import build_parser, config_from_args
from bedash.names import FieldError
from bedash.settings.config import RunConfig
from bedash.sweep import cli as sweep_cli
from bedash.sweep.grid import SweepSpec

# D. Page, "How to train your ResNet" (myrtle.ai, 2018), the DAWNBench ResNet-9 entry: batch 512,
# 24 epochs, SGD (Nesterov) with a one-cycle rate peaking at 0.4, weight decay 5e-4, crop + flip
PUBLISHED = {"batch_size": 512, "epochs": 24, "lr": 0.4, "weight_decay": 5e-4,
             "optimizer": "sgd", "augment": "crop-flip"}  # fmt: skip
# the seed notebook's MLP: batch 32, 20 epochs, Adam at 0.001, no weight decay, no augmentation
SEED = {"batch_size": 32, "epochs": 20, "lr": 0.001, "weight_decay": 0.0}
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def picked(cfg: RunConfig, names: dict) -> dict:
    return {n: getattr(cfg, n) for n in names}


def train(*flags: str) -> RunConfig:
    return config_from_args(build_parser().parse_args(["train", *flags]))


def sweep(*flags: str) -> SweepSpec:
    return sweep_cli.spec_from_args(sweep_cli.build_parser().parse_args(list(flags)))


def test_arch_resnet_alone_gives_the_published_recipe_in_train_and_sweep() -> None:
    cfg = train("--arch", "resnet")
    assert picked(cfg, PUBLISHED) == PUBLISHED
    assert cfg.chosen("optimizer") == "sgd" and cfg.chosen("augment") == "crop-flip"
    assert sweep("--arch", "resnet").base == cfg.replace(seed=0)
    assert RunConfig.of(arch="resnet") == cfg  # the library's way, the same


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_the_mlp_and_cnn_keep_the_seeds_defaults(arch: str) -> None:
    for cfg in (train("--arch", arch), sweep("--arch", arch).base, RunConfig.of(arch=arch)):
        assert picked(cfg, SEED) == SEED
        assert cfg.chosen("optimizer") == "adam" and cfg.chosen("augment") == "none"
    assert train() == RunConfig() and picked(RunConfig(), SEED) == SEED


def test_a_flag_given_explicitly_wins_over_the_recipe() -> None:
    flags = ["--arch", "resnet", "--batch-size", "32", "--lr", "0.1", "--optimizer", "adam"]
    for cfg in (train(*flags), sweep(*flags).base):
        assert (cfg.batch_size, cfg.lr, cfg.optimizer) == (32, 0.1, "adam")  # 32: also mlp's
        assert (cfg.epochs, cfg.weight_decay, cfg.augment) == (24, 5e-4, "crop-flip")
    # given as the field's default value, still given: an --arch mlp flag's own
    assert train("--arch", "resnet", "--epochs", "20").epochs == 20


def test_a_sweeps_grid_over_arch_gives_each_cell_its_architectures_recipe() -> None:
    spec = sweep("--arch", "mlp,resnet", "--epochs", "3", "--seeds", "0")
    by_arch = {c.config.arch: c.config for c in spec.cells()}
    assert picked(by_arch["mlp"], SEED) == {**SEED, "epochs": 3}
    assert picked(by_arch["resnet"], PUBLISHED) == {**PUBLISHED, "epochs": 3}
    again = SweepSpec.from_dict(json.loads(json.dumps(spec.to_dict())))  # resumed: the same
    assert [c.config for c in again.cells()] == [c.config for c in spec.cells()]
    given = sweep("--arch", "mlp,resnet", "--batch-size", "64", "--seeds", "0")
    assert [c.config.batch_size for c in given.cells()] == [64, 64]
    assert "follow" not in sweep("--members", "1,2").to_dict()  # sweep.json as before
    with pytest.raises(FieldError) as info:  # a damaged sweep.json's
        SweepSpec.from_dict({**spec.to_dict(), "follow": ["no_such_setting"]})
    assert info.value.field == "no_such_setting"


def test_resuming_a_grid_over_arch_with_a_setting_now_given_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bedash.sweep.folder import SweepStore, check_out

    flags = ["--arch", "mlp,resnet", "--seeds", "0", "--dataset", "synthetic", "--device", "cpu"]
    out, grid = tmp_path / "sw", sweep(*flags)
    SweepStore.open(out, grid, grid.cells()).close()  # its sweep.json, no cell run
    check_out(out, sweep(*flags))  # the same: resumed
    # batch 32 given now, left to each architecture's recipe before: the resnet cells would change
    with pytest.raises(SystemExit) as info:
        sweep_cli.main([*flags, "--batch-size", "32", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith("bedash sweep: error: --batch-size: differs from the sweep in ")
    assert "recipe" in err and "Traceback" not in err


def test_a_recipes_batch_larger_than_the_training_set_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--arch", "resnet", "--dataset", "synthetic", "--train-size", "64",
              "--width", "2", "--models", "single", "--device", "cpu", "--quiet",
              "--out", str(tmp_path / "r")])  # fmt: skip
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert (
        err
        == "bedash train: error: --batch-size: 512 is larger than the training set (64 images)\n"
    )


def test_the_help_says_each_recipes_value() -> None:
    text = " ".join(build_parser()._subparsers._group_actions[0].choices["train"]
                    .format_help().split())  # fmt: skip
    assert "default: 32, resnet: 512" in text and "default: 0.001, resnet: 0.4" in text
    assert "default: 32, resnet: 512" in " ".join(sweep_cli.build_parser().format_help().split())


def test_config_json_records_the_recipes_values(tmp_path: Path) -> None:
    out = tmp_path / "r"
    flags = ["--dataset", "synthetic", "--train-size", "64", "--test-size", "32", "--width",
             "2", "--members", "2", "--device", "cpu", "--quiet", "--models", "single"]  # fmt: skip
    assert main(["train", *flags, "--arch", "resnet", "--epochs", "1", "--batch-size", "32",
                 "--out", str(out)]) == 0  # fmt: skip
    saved = json.loads((out / "config.json").read_text())
    assert {n: saved[n] for n in PUBLISHED} == {
        **PUBLISHED,
        "epochs": 1,
        "batch_size": 32,
    }


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BEDASH_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("BEDASH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BEDASH_PROFILE", raising=False)
    st.cache_resource.clear()
    yield tmp_path
    st.cache_resource.clear()


def test_the_form_shows_the_recipe_when_architecture_becomes_resnet(fresh: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()

    def shown() -> dict:
        boxes = {n: at.text_input(key=n).value for n in ("batch_size", "epochs", "lr")}
        return {**boxes, "weight_decay": float(at.text_input(key="weight_decay").value),
                "optimizer": at.radio(key="optimizer").value,
                "augment": at.radio(key="augment").value}  # fmt: skip

    mlp = shown()
    assert (mlp["batch_size"], mlp["lr"], mlp["optimizer"]) == ("32", "0.001", "auto")
    at.radio(key="arch").set_value("resnet").run()
    assert not at.exception, at.exception
    assert shown() == {"batch_size": "512", "epochs": "24", "lr": "0.4", "weight_decay": 5e-4,
                       "optimizer": "sgd", "augment": "crop-flip"}  # fmt: skip
    note = " ".join(str(w.value) for w in at.warning).replace("\\", "")
    assert "wants a GPU" in note and "an estimate" in note and "about" in note
    at.text_input(key="batch_size").set_value("128").run()  # the user's value stays
    at.radio(key="arch").set_value("mlp").run()
    assert shown() == {**mlp, "batch_size": "128"}
    at.radio(key="arch").set_value("resnet").run()
    assert shown()["batch_size"] == "128" and shown()["epochs"] == "24"

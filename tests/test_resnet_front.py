"""--arch resnet in the front ends: flags generated from the declaration, the form's choice and
its note, and the demo profile's refusal naming the field (CLI exit 2, the form's error)."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from bedash.__main__ import main
from bedash.cli import build_parser
from bedash.names import ConfigError
from bedash.settings.config import RunConfig
from bedash.settings.profile import DEMO_LIMITS

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TINY = ["--dataset", "synthetic", "--train-size", "64", "--test-size", "32", "--epochs", "1",
        "--batch-size", "32", "--width", "2", "--members", "2", "--device", "cpu",
        "--quiet"]  # fmt: skip


def test_the_flags_come_from_the_declaration() -> None:
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    text = " ".join(train.format_help().split())
    for flag in ("--arch {mlp,cnn,resnet}", "--depth {9,18}", "--width", "--label-smoothing",
                 "--optimizer {auto,adam,sgd}", "--augment {auto,crop-flip,none}"):  # fmt: skip
        assert flag in text
    args = train.parse_args(
        [*TINY, "--arch", "resnet", "--depth", "18", "--label-smoothing", "0.2"]
    )
    assert (args.arch, args.depth, args.width, args.label_smoothing) == ("resnet", "18", 2, 0.2)


def test_the_demo_refuses_resnet_naming_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        RunConfig(arch="resnet").validate(DEMO_LIMITS)
    assert info.value.field == "arch" and "wants a GPU" in str(info.value)
    RunConfig(arch="resnet").validate()  # allowed under the defaults
    with pytest.raises(ConfigError) as info:
        RunConfig(label_smoothing=1.0).validate()
    assert info.value.field == "label_smoothing"


def test_the_cli_exits_2_on_resnet_under_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("BEDASH_PROFILE", "demo")
    with pytest.raises(SystemExit) as info:
        main(["train", *TINY, "--arch", "resnet", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--arch" in err and "wants a GPU" in err
    assert "(demo limit)" in err and "Traceback" not in err and not (tmp_path / "r").exists()


def test_a_tiny_resnet_trains_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main(["train", *TINY, "--arch", "resnet", "--models", "batchensemble",
                 "--out", str(out)]) == 0  # fmt: skip
    assert (out / "results.csv").read_text().count("resnet") == 1


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BEDASH_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("BEDASH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BEDASH_PROFILE", raising=False)
    st.cache_resource.clear()
    yield tmp_path
    st.cache_resource.clear()


def page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_form_offers_resnet_with_its_gpu_note(fresh: Path) -> None:
    at = page()
    arch = at.radio(key="arch")
    assert "ResNet (GPU)" in arch.options and "wants a GPU" in arch.help
    assert "TFLOP per CIFAR-10 epoch" in arch.help
    at.radio(key="arch").set_value("resnet").run()
    assert not at.text_input(key="width").disabled  # the ResNet's own fields apply
    assert at.text_input(key="channels").disabled


def test_the_demo_form_refuses_resnet_naming_the_field(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEDASH_PROFILE", "demo")
    at = page()
    at.radio(key="arch").set_value("resnet").run()
    errors = " ".join(str(e.value) for e in at.error).replace("\\", "")
    assert "**Architecture**" in errors and "wants a GPU" in errors
    assert not (fresh / "runs").exists()

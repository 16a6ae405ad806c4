"""One schema: every RunConfig field declared once with its metadata, and the loops over it
(validation, the run store's type check, the summary) agree with that metadata."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bedash.names import ConfigError, FieldError
from bedash.settings import config as C
from bedash.settings.config import RunConfig, spec
from bedash.settings.limits import Limits
from bedash.settings.profile import DEMO_LIMITS
from bedash.settings.summary import config_problem, config_summary

ROOT = Path(__file__).resolve().parents[1]


def test_every_field_has_its_metadata() -> None:
    names = [f.name for f in dataclasses.fields(RunConfig)]
    specs = list(C.config_fields(extra=True))
    assert [s.name for s in specs] == names
    assert C.field_names() == [n for n in names if n != "extra"]
    for s in specs:
        assert s.label and s.help and s.group in C.GROUPS, s.name
        assert s.default == getattr(RunConfig(), s.name), s.name
        if s.type.name in ("choice", "list"):
            assert s.default in s.choices or set(s.default) <= set(s.choices), s.name
        if s.type.name == "int":
            assert s.lo is not None and s.hi is not None, s.name


def test_flags_default_to_the_field_name_and_keep_the_contract() -> None:
    assert C.flag("batch_size") == "--batch-size" and C.flag("fast_init_std") == "--fast-init-std"
    assert C.flag("cuda_graphs") == "--no-cuda-graphs" and spec("cuda_graphs").negated
    assert spec("extra").flag is None
    assert C.flag("out") == "--out" and C.flag("runs_dir") == "--runs-dir"  # not settings
    assert C.label("members") == "Members (E)" and C.label("runs_dir") == "Runs folder"
    assert C.label("some_thing") == "Some thing"
    with pytest.raises(KeyError):
        spec("memberz")


def test_choices_come_from_the_tuples_written_once() -> None:
    assert spec("arch").choices is C.ARCHS and spec("fast_init").choices is C.FAST_INITS
    assert spec("bias").choices is C.BIAS_MODES
    assert spec("member_batch").choices is C.MEMBER_BATCH_MODES
    assert spec("models").choices == ("batchensemble", "ensemble", "ensemble_parallel", "single")
    assert spec("models").choice_labels["batchensemble"] == "BatchEnsemble"


def test_a_profile_caps_the_limited_fields_and_nothing_else() -> None:
    capped = {"members": 8, "hidden": 512, "layers": None, "epochs": 10, "train_size": 10_000}
    for name, value in capped.items():
        cap = getattr(DEMO_LIMITS, spec(name).limit)
        assert spec(name).bounds(DEMO_LIMITS) == (1, cap)
        if value is not None:
            assert cap == value
    assert spec("batch_size").bounds(Limits(max_batch_size=7)) == (1, 7)
    assert spec("channels").bounds(DEMO_LIMITS) == (1, 1024) == spec("channels").bounds()
    assert spec("train_size").bounds() == (1, C.MAX_SIZE)  # no cap: the whole split
    assert Limits().max_members == spec("members").hi == 64  # one number, two readers
    assert spec("members").widget_range(DEMO_LIMITS) == (1, 8)
    assert spec("lr").widget_range() == (1e-6, 10.0) and spec("lr").bounds() == (0.0, None)


@pytest.mark.parametrize("name", [s.name for s in C.config_fields() if s.type.name == "int"])
def test_validate_enforces_each_int_fields_bounds(name: str) -> None:
    s = spec(name)
    ok = {"train_size": 10} if name != "train_size" else {}
    if name == "batch_size":
        ok["member_batch"] = "tiled"
    RunConfig(**ok, **{name: s.hi}).validate()
    for bad in (s.lo - 1, s.hi + 1):
        with pytest.raises(ConfigError) as info:
            RunConfig(**{name: bad}).validate()
        assert info.value.field == name
        expected = f"from {s.lo} to {s.hi}" if bad < s.lo or not s.optional else f"{s.hi}"
        assert expected in info.value.message and f"(got {bad})" in info.value.message
    with pytest.raises(ConfigError, match="whole number"):
        RunConfig(**{name: True}).validate()


@pytest.mark.parametrize("name", [s.name for s in C.config_fields() if s.type.name == "choice"])
def test_validate_lists_each_choice_fields_choices(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        RunConfig(**{name: "nope"}).validate()
    assert info.value.message == f"unknown value 'nope'; allowed: {', '.join(spec(name).choices)}"


@pytest.mark.parametrize("name", [s.name for s in C.config_fields() if s.type.name == "float"])
def test_validate_refuses_non_finite_floats(name: str) -> None:
    for bad in (math.nan, math.inf, "1e-3", True):
        with pytest.raises(ConfigError, match="finite number") as info:
            RunConfig(**{name: bad}).validate()
        assert info.value.field == name


def test_messages_keep_their_wording() -> None:
    def message(limits: Limits = C.DEFAULT_LIMITS, **change: object) -> str:
        with pytest.raises(ConfigError) as info:
            RunConfig(**{"train_size": 10, "epochs": 2, **change}).validate(limits)
        return info.value.message

    assert message(members=0) == "must be from 1 to 64 (got 0)"
    assert message(DEMO_LIMITS, members=9) == "must be from 1 to 8 (demo limit) (got 9)"
    assert message(Limits(max_hidden=32), hidden=64) == "must be from 1 to 32 (got 64)"
    assert (
        message(DEMO_LIMITS, train_size=10_001) == "must be at most 10000 (demo limit) (got 10001)"
    )
    assert message(DEMO_LIMITS, train_size=None) == "must be at most 10000 (demo limit) (got all)"
    assert message(DEMO_LIMITS, channels=2000) == "must be from 1 to 1024 (got 2000)"  # no cap
    assert message(arch="vit") == "unknown value 'vit'; allowed: mlp, cnn, resnet"
    assert message(lr=0.0) == "must be a finite number > 0 (got 0.0)"
    assert message(weight_decay=-0.5) == "must be >= 0 (got -0.5)"
    assert message(weight_decay=math.nan) == "must be a finite number >= 0 (got nan)"
    assert message(compile=1) == "must be true or false (got 1)"
    assert message(device="") == "must be auto, cpu, cuda, cuda:N or mps"
    assert message(data_dir=3) == "must be text"
    assert issubclass(ConfigError, FieldError)


def test_sweepable_fields() -> None:
    sweepable = {s.name for s in C.config_fields() if s.sweepable}
    for name in ("members", "hidden", "layers", "epochs", "lr", "seed", "batch_size", "arch",
                 "fast_init", "bias", "member_batch"):  # fmt: skip
        assert name in sweepable
    for name in ("dataset", "data_dir", "device", "models", "compile", "cuda_graphs"):
        assert name not in sweepable


@pytest.mark.parametrize("name", C.field_names(extra=True))
def test_example_values_are_valid_and_differ_from_the_default(name: str) -> None:
    value = C.example_value(name)
    assert value != spec(name).default
    small = {"train_size": 100, "epochs": 2}
    RunConfig(**{**small, name: value}).validate(DEMO_LIMITS)


# -- config.json: the run store's type check ---------------------------------------------------


def test_a_config_json_as_written_has_no_problem() -> None:
    assert config_problem(RunConfig().to_dict()) == ""
    assert config_problem({**RunConfig(train_size=5).to_dict(), "_meta": {"torch": "2"}}) == ""
    assert config_problem({}) == ""  # an older run: fields missing
    assert config_problem({"a_newer_setting": [1]}) == ""
    assert config_problem({"members": 100}) == ""  # made under looser limits: still shown
    assert config_problem({"arch": "vit"}) == ""  # a newer version's choice: still shown


@pytest.mark.parametrize(
    ("d", "text"),
    [
        ({"members": True}, "bad 'members': true"),
        ({"members": 2.0}, "bad 'members': 2.0"),
        ({"members": "5"}, "bad 'members': \"5\""),
        ({"members": 0}, "bad 'members': 0"),
        ({"seed": -1}, "bad 'seed'"),
        ({"hidden": 10**30}, "bad 'hidden': 1000000000000000000000000000000"),
        ({"lr": math.nan}, "bad 'lr': NaN"),
        ({"lr": -math.inf}, "bad 'lr': -Infinity"),
        ({"lr": "fast"}, "bad 'lr'"),
        ({"models": 5}, "bad 'models': 5"),
        ({"models": ["single", 3]}, "bad 'models'"),
        ({"arch": 1}, "bad 'arch': 1"),
        ({"dataset": ["x"]}, "bad 'dataset'"),
        ({"compile": "yes"}, "bad 'compile'"),
        ({"cuda_graphs": 1}, "bad 'cuda_graphs': 1"),
        ({"extra": "notes"}, "bad 'extra'"),
        ({"_meta": []}, "bad '_meta': []"),
        ({"epochs": None}, "bad 'epochs': null"),
        ({"dataset": "\x1b[31mred"}, ""),  # a str: shown (escaped where printed)
    ],
)
def test_config_problem_names_the_bad_setting(d: dict, text: str) -> None:
    problem = config_problem({**RunConfig().to_dict(), **d})
    if text:
        assert problem.startswith("config.json has a bad") and text in problem
    else:
        assert problem == ""


@pytest.mark.parametrize("name", C.field_names(extra=True))
def test_config_problem_checks_every_fields_type(name: str) -> None:
    wrong = {"int": "1", "float": "1", "choice": 1, "list": "single", "text": 1, "names": 1,
             "bool": 0, "dict": []}[spec(name).type.name]  # fmt: skip
    assert config_problem({name: wrong}).startswith(f"config.json has a bad {name!r}")
    assert config_problem({name: RunConfig().to_dict()[name]}) == ""
    assert (config_problem({name: None}) == "") == spec(name).optional


def test_config_problem_output_escapes_control_characters() -> None:
    problem = config_problem({"members": "\x1b[2J"})
    assert "\x1b" not in problem and "\\u001b" in problem


# -- the summary -------------------------------------------------------------------------------


def test_summary_text() -> None:
    assert config_summary(RunConfig().to_dict()) == (
        "cifar10 (all train / all test images) · MLP 2 × 128 · E = 5 · 20 epochs · batch 32 · "
        "lr 0.001 · seed 0"
    )
    cnn = RunConfig(dataset="/data/pets/", arch="cnn", channels=16, train_size=12_000).to_dict()
    assert config_summary(cnn) == (
        "pets (12,000 train / all test images) · CNN 16 channels, width 128 · E = 5 · "
        "20 epochs · batch 32 · lr 0.001 · seed 0"
    )
    resnet = RunConfig(arch="resnet", depth="18", width=32).to_dict()
    assert "· RESNET-18, width 32 ·" in config_summary(resnet)
    assert "E = None" in config_summary({})  # a bare dict still gives a line


@pytest.mark.slow  # a subprocess
def test_the_schema_imports_neither_torch_nor_pandas() -> None:
    code = (
        "import sys, bedash.settings.config, bedash.names; "
        "print(sorted(m for m in ('torch', 'pandas', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr

"""The table of setting types (bedash.settings.types): each type's parse/format round trip, its
rejections word for word, and that every front end reaches a field through the same table."""

from __future__ import annotations

import argparse
import math

import pytest

from bedash.names import ConfigError
from bedash.settings.config import config_fields, parse_value, spec, sweep_values
from bedash.settings.limits import Limits
from bedash.settings.types import TYPES

# (field, values that must survive format -> parse unchanged); the values are written here, not
# taken from the declarations
ROUND_TRIPS = {
    "members": [1, 5, 64, 12345678901234567],  # larger than a float holds exactly
    "train_size": [None, 1, 10_000],
    "lr": [0.001, 1e-05, 0.1 + 0.2, 123456789.123, 1.0, 2.5e-300],
    "arch": ["mlp", "cnn"],
    "models": [("single",), ("batchensemble", "ensemble", "single")],
    "device": ["auto", "cuda:1"],
    "shift": ["", "contrast,brightness"],
    "compile": [True, False],
}


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, vs in ROUND_TRIPS.items() for v in vs])
def test_format_then_parse_gives_the_value_back(name: str, value: object) -> None:
    s = spec(name)
    assert parse_value(s, s.type.format(value)) == value


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("members", " 12 ", 12), ("members", "1_000", 1000), ("members", "1e3", 1000),
        ("members", "10,000", 10_000), ("train_size", "", None), ("train_size", "all", None),
        ("train_size", "None", None), ("lr", "1e-3", 0.001), ("lr", " 2 ", 2.0),
        ("models", "single, ensemble", ("single", "ensemble")),
        ("models", ["single"], ("single",)), ("compile", "on", True), ("compile", "0", False),
        ("arch", " cnn ", "cnn"),
    ],
)  # fmt: skip
def test_parse_reads_what_people_type(name: str, text: object, value: object) -> None:
    assert parse_value(spec(name), text) == value


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("members", "x", "'x' is not a number, so not a whole number"),
        ("members", "", "is empty; type a number"),
        ("members", "12.5", "must be a whole number from 1 to 64 (got '12.5')"),
        ("members", "inf", "must be a whole number from 1 to 64 (got 'inf')"),
        ("lr", "fast", "'fast' is not a number"),
        ("lr", "", "is empty; type a number"),
        ("compile", "maybe", "must be true or false (got 'maybe')"),
    ],
)
def test_parse_rejects_with_the_fields_name_and_a_message(
    name: str, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as e:
        parse_value(spec(name), text)
    assert (e.value.field, e.value.message) == (name, message)


def test_the_whole_number_message_gives_the_profiles_bounds() -> None:
    with pytest.raises(ConfigError) as e:
        parse_value(spec("members"), "2.5", Limits(max_members=8))
    assert e.value.message == "must be a whole number from 1 to 8 (got '2.5')"


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("members", 0, "must be from 1 to 64 (got 0)"),
        ("members", 2.0, "must be a whole number from 1 to 64 (got 2.0)"),
        ("train_size", 10**10, "must be at most 1000000000 (got 10000000000)"),
        ("lr", 0.0, "must be a finite number > 0 (got 0.0)"),
        ("weight_decay", -1.0, "must be >= 0 (got -1.0)"),
        ("arch", "vit", "unknown value 'vit'; allowed: mlp, cnn, resnet"),
        ("models", (), "choose at least one of batchensemble, ensemble, ensemble_parallel, single"),
        ("models", ("single", "forest"), "unknown value 'forest'; allowed: batchensemble, "
         "ensemble, ensemble_parallel, single"),
        ("device", " ", "must be auto, cpu, cuda, cuda:N or mps"),
        ("compile", "yes", "must be true or false (got 'yes')"),
        ("extra", [], "must be a mapping of notes (got [])"),
        ("members", 64, ""), ("train_size", None, ""), ("models", ("single",), ""),
    ],
)  # fmt: skip
def test_each_types_check_words_its_problem(name: str, value: object, problem: str) -> None:
    s = spec(name)
    assert s.type.problem(value, s, Limits()) == problem


@pytest.mark.parametrize(
    ("name", "text", "values"),
    [
        ("members", "1,2,4", [1, 2, 4]), ("members", "2,", [2]), ("lr", "0.1, 0.01", [0.1, 0.01]),
        ("arch", "mlp,cnn", ["mlp", "cnn"]), ("device", "cpu", ["cpu"]),
        ("models", "single,ensemble", [("single", "ensemble")]),  # one value: a list itself
        ("shift", "contrast,brightness", ["contrast,brightness"]), ("compile", True, [True]),
    ],
)  # fmt: skip
def test_a_sweep_splits_only_sweepable_fields(name: str, text: object, values: list) -> None:
    assert sweep_values(spec(name), text) == values


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("device", "cpu,cuda", "takes one value in a sweep (got 'cpu,cuda')"),
        ("members", ",", "empty value ',': give at least one value"),
        ("members", "2,x", "'x' is not a number, so not a whole number"),
    ],
)
def test_a_sweeps_bad_list_names_the_field(name: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        sweep_values(spec(name), text)
    assert (e.value.field, e.value.message) == (name, message)


def test_flags_come_from_the_table() -> None:
    parser = argparse.ArgumentParser()
    for name in ("members", "lr", "arch", "models", "cuda_graphs", "train_size"):
        s = spec(name)
        s.type.add_argument(parser, s, s.type.flag_help(s))
    a = parser.parse_args(["--members", "3", "--lr", "0.5", "--models", "single",
                           "--no-cuda-graphs", "--train-size", "all"])  # fmt: skip
    assert (a.members, a.lr, a.models, a.cuda_graphs, a.train_size) == (
        3, 0.5, ("single",), False, None
    )  # fmt: skip
    assert parser.parse_args([]).models == ("batchensemble", "ensemble", "single")
    assert "[--arch {mlp,cnn,resnet}]" in parser.format_help()
    lr, size = spec("lr"), spec("train_size")
    assert lr.type.flag_help(lr) == (
        "Adam's learning rate (the seed: 0.001), or SGD's peak. > 0; default: 0.001, resnet: 0.4"
    )
    assert parser.parse_args([]).lr is None  # not given: the architecture's recipe decides
    assert size.type.flag_help(size).endswith(" 1 to 1000000000 or all; default: all")
    assert spec("compile").type.flag_help(spec("compile")).endswith("(default: off)")


def test_a_bad_number_flag_is_argparses_invalid_int_value(capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    spec("members").type.add_argument(parser, spec("members"), "help")
    with pytest.raises(SystemExit):
        parser.parse_args(["--members", "x"])
    assert "argument --members: invalid int value: 'x'" in capsys.readouterr().err


def test_a_sweep_flag_keeps_its_text_until_the_table_parses_it() -> None:
    parser = argparse.ArgumentParser()
    for name in ("members", "compile"):
        s = spec(name)
        s.type.add_argument(parser, s, "help", sweep=True)
    assert vars(parser.parse_args(["--members", "1,2"])) == {"members": "1,2", "compile": None}


def test_every_field_has_a_type_from_the_table_and_a_widget_or_none() -> None:
    for s in config_fields(extra=True):
        assert TYPES[s.type.name] is s.type, s.name
    from bedash.dashboard.form import WIDGETS

    assert {s.type.widget for s in config_fields()} <= set(WIDGETS)  # the form draws every one
    assert spec("extra").type.widget is None and spec("extra").flag is None
    assert math.isnan(parse_value(spec("lr"), "nan"))  # a number: validate refuses it, naming it


def test_a_list_of_whole_numbers_round_trips_and_says_what_is_wrong() -> None:
    from bedash.benchmark.settings import bench_specs

    s = next(b for b in bench_specs() if b.name == "scaling_members")
    assert s.type.format((1, 2, 16)) == "1,2,16" and parse_value(s, "1, 2,16") == (1, 2, 16)
    for text, message in (
        ("a,b", "must be whole numbers separated by commas, e.g. 1,2,4 (got 'a,b')"),
        (",", "give at least one value, e.g. 1,2,4 (got ',')"),
    ):
        with pytest.raises(ConfigError) as e:
            parse_value(s, text)
        assert (e.value.field, e.value.message) == ("scaling_members", message)


def test_bench_flags_shared_with_train_keep_trains_bounds() -> None:
    from bedash.benchmark.settings import bench_specs

    specs = {s.name: s for s in bench_specs()}
    assert specs["members"].bounds() == (1, 64) and specs["members"].default == 5
    assert specs["steps"].type.problem(-1, specs["steps"]) == "must be from 0 to 1000000 (got -1)"
    dataset = specs["dataset"]
    assert dataset.type.problem("x", dataset) == (
        "unknown value 'x'; allowed: auto, cifar10, synthetic"
    )

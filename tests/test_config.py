"""RunConfig defaults and validation messages."""

from __future__ import annotations

import math

import pytest

from bedash.names import ConfigError
from bedash.settings.config import RunConfig
from bedash.settings.limits import Limits
from bedash.settings.profile import DEMO_LIMITS, current_limits


def test_defaults_reproduce_the_seed() -> None:
    c = RunConfig()
    assert (c.dataset, c.arch, c.members, c.hidden, c.layers) == ("cifar10", "mlp", 5, 128, 2)
    assert (c.epochs, c.batch_size, c.lr, c.seed, c.device) == (20, 32, 1e-3, 0, "auto")
    assert (c.fast_init, c.fast_lr_mult, c.weight_decay) == ("signs", 1.0, 0.0)
    assert (c.bias, c.member_batch) == ("shared", "tiled")
    assert c.models == ("batchensemble", "ensemble", "single")
    assert c.validate() is c


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"members": 0}, "members", "from 1 to 64"),
        ({"members": 65}, "members", "from 1 to 64"),
        ({"hidden": 0}, "hidden", "from 1"),
        ({"hidden": -3}, "hidden", "from 1"),
        ({"epochs": 0}, "epochs", "from 1"),
        ({"batch_size": 0}, "batch_size", "from 1"),
        ({"lr": 0.0}, "lr", "> 0"),
        ({"lr": -1e-3}, "lr", "> 0"),
        ({"lr": math.nan}, "lr", "finite"),
        ({"lr": math.inf}, "lr", "finite"),
        ({"weight_decay": -0.1}, "weight_decay", ">= 0"),
        ({"models": ("batchensemble", "forest")}, "models", "allowed: batchensemble"),
        ({"models": ()}, "models", "at least one"),
        ({"models": ("single", "single")}, "models", "twice"),
        ({"arch": "vit"}, "arch", "allowed: mlp, cnn"),
        ({"fast_init": "zeros"}, "fast_init", "allowed: signs, normal"),
        ({"bias": "none"}, "bias", "allowed: shared, member"),
        ({"member_batch": "half"}, "member_batch", "allowed: tiled, split"),
        ({"members": 8, "batch_size": 4, "member_batch": "split"}, "batch_size", "at least"),
        ({"members": 2.5}, "members", "whole number"),
        ({"members": True}, "members", "whole number"),
        ({"train_size": 0}, "train_size", "from 1"),
        ({"dataset": " "}, "dataset", "cifar10, synthetic"),
    ],
)
def test_bad_values_name_the_field_and_allowed_values(change: dict, field: str, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        RunConfig(**change).validate()
    assert info.value.field == field
    assert text in info.value.message


def test_limits_and_demo_profile() -> None:
    with pytest.raises(ConfigError, match="demo limit"):
        RunConfig(members=9, train_size=100).validate(DEMO_LIMITS)
    with pytest.raises(ConfigError, match="train_size"):
        RunConfig(members=2, epochs=3).validate(
            DEMO_LIMITS
        )  # the whole split is too much for the demo
    RunConfig(members=8, hidden=512, epochs=10, train_size=1000).validate(DEMO_LIMITS)
    with pytest.raises(ConfigError, match="hidden"):
        RunConfig(hidden=64).validate(Limits(max_hidden=32))
    demo = current_limits({"BEDASH_PROFILE": "demo", "BEDASH_DATA_DIR": "/srv/d"})
    assert demo.name == "demo" and demo.max_members == DEMO_LIMITS.max_members
    assert demo.dataset_roots == ("/srv/d/uploads",)
    assert current_limits({}).name == "default"
    small = {"train_size": 100, "epochs": 2}
    with pytest.raises(ConfigError, match="only cpu"):
        RunConfig(device="cuda", **small).validate(demo)
    with pytest.raises(ConfigError, match="upload a zip"):
        RunConfig(dataset="/etc", **small).validate(demo)
    with pytest.raises(ConfigError, match="upload a zip"):
        RunConfig(dataset="/srv/d/uploads/../../etc", **small).validate(demo)
    RunConfig(dataset="/srv/d/uploads/abc/pets", **small).validate(demo)
    RunConfig(dataset="synthetic", device="auto", **small).validate(demo)


def test_dict_round_trip_and_unknown_keys() -> None:
    c = RunConfig(models=("single",), members=3, train_size=10)
    assert RunConfig.from_dict(c.to_dict()) == c
    assert RunConfig.from_dict({"models": "single, ensemble"}).models == ("single", "ensemble")
    with pytest.raises(ConfigError, match="unknown setting"):
        RunConfig.from_dict({"memberz": 3})

"""Architectures and model kinds: shapes, seeds, the seed notebook's layer layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bedash.method.models import CNN, MLP, Ensemble, build_model, param_stats
from bedash.settings.config import RunConfig
from tests.test_layers import SeedMLP


def test_mlp_default_is_the_seed_mlp() -> None:
    torch.manual_seed(0)
    ours = MLP()
    torch.manual_seed(0)
    seed = SeedMLP()
    assert list(ours.state_dict()) == list(seed.state_dict())
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(ours(x), seed(x))
    assert len([m for m in MLP(layers=4).modules() if isinstance(m, nn.Linear)]) == 5


def test_cnn_shapes() -> None:
    assert CNN(channels=4, hidden=8)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("kind", ["single", "batchensemble", "ensemble", "ensemble_parallel"])
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_every_kind_returns_e_b_c(kind: str, arch: str) -> None:
    cfg = RunConfig(arch=arch, members=3, hidden=8, channels=4)
    model = build_model(kind, cfg)
    out = model(torch.randn(5, 3, 32, 32))
    e = 1 if kind == "single" else 3
    assert out.shape == (e, 5, 10) and model.members == e


def test_seeds_single_equals_member_zero_and_members_differ() -> None:
    cfg = RunConfig(members=3, hidden=8, seed=4)
    single = build_model("single", cfg)
    ens = build_model("ensemble", cfg)
    assert isinstance(ens, Ensemble)
    torch.testing.assert_close(single.model.net[0].weight, ens.nets[0].net[0].weight)
    assert not torch.equal(ens.nets[0].net[0].weight, ens.nets[1].net[0].weight)
    again = build_model("ensemble", cfg)
    torch.testing.assert_close(again.nets[2].net[2].weight, ens.nets[2].net[2].weight)


def test_param_stats_count_shared_once() -> None:
    lin = nn.Linear(3, 2)
    shared = nn.Sequential(lin, lin)
    assert param_stats(shared) == (8, 32)

"""The evaluation's call sites use its parts the right way round: OOD scores with the test set
as in-distribution and the OOD set as out, the temperature fitted on the held-out split only."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bedash.data.synthetic import synthetic
from bedash.data.tensors import Dataset, Split
from bedash.uncertainty.evaluation import evaluate_model, hold_out, logits_of, prepare
from bedash.uncertainty.scores import fit_temperature


class Known(nn.Module):
    """Two members whose scores are known: on an image with any spread both say class 0
    (entropy and mutual information near 0); on a flat image one says 0 and the other 1
    (predictive entropy and mutual information near log 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1).std(1) < 1e-6  # [B]
        a = torch.full((len(x), 10), -20.0)
        a[:, 0] = 20.0
        b = a.clone()
        b[flat, 0], b[flat, 1] = -20.0, 20.0
        return torch.stack([a, b])  # [E, B, C]


def test_ood_scores_are_in_distribution_low_and_ood_high_at_the_call_site() -> None:
    ds = synthetic(n_train=1, n_test=64)
    flat = torch.full((40, 3, 32, 32), 128, dtype=torch.uint8)
    data = prepare(ds, ood={"flat": flat})
    res = evaluate_model(Known(), "ensemble", data, 32)
    assert {r["score"] for r in res.ood} == {"entropy", "mutual_info"}
    for row in res.ood:  # the flat set is out: detected perfectly, never the other way round
        assert row["auroc"] == pytest.approx(1.0) and row["aupr"] == pytest.approx(1.0)
        assert row["fpr95"] == pytest.approx(0.0)
    hist = {(r["set"], r["quantity"]): r for r in res.histogram if r["count"]}
    assert hist[("flat", "entropy")]["lower"] > 0.9 * math.log(2) - 0.05  # the flat set's bin
    assert hist[("in_distribution", "entropy")]["upper"] < 0.1


def test_the_temperature_is_fitted_on_the_held_out_split_not_the_test_set() -> None:
    """Test labels shuffled: the test set's own best temperature is far from the held-out
    split's, so a temperature fitted on the test set fails the first assertion."""
    ds = synthetic(n_train=600, n_test=300)
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(0))
    ds = Dataset(ds.name, ds.classes, ds.train, Split(ds.test.x, ds.test.y[perm]), ds.info)
    train, val = hold_out(ds, 200, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))
    with torch.no_grad():  # a model that knows the classes: fitted by least squares on train
        x = train.train.x.flatten(1).float() / 127.5 - 1
        target = torch.nn.functional.one_hot(train.train.y, 10).float() * 8 - 4
        w = torch.linalg.lstsq(torch.cat([x, torch.ones(len(x), 1)], 1), target).solution
        model[1].weight.copy_(w[:-1].T)
        model[1].bias.copy_(w[-1])
    one = OneMember(model)
    res = evaluate_model(one, "single", prepare(train, val=val), 100)
    t_val = fit_temperature(logits_of(one, val.x, 100), val.y)
    t_test = fit_temperature(logits_of(one, train.test.x, 100), train.test.y)
    assert res.temperature == pytest.approx(t_val)
    assert abs(math.log(t_test / t_val)) > 0.5  # fitting on the test set would show
    clean = res.shift[0]
    assert clean["temperature"] == pytest.approx(t_val)


class OneMember(nn.Module):
    """A plain classifier as a one-member ensemble: logits [1, B, C]."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[None]

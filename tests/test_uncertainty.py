"""Entropies, OOD scores, selective prediction and temperature scaling, against hand values."""

from __future__ import annotations

import math

import pytest
import torch

from bedash.uncertainty import scores as U


def _random_probs(E: int, N: int = 200, C: int = 10, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(E, N, C, generator=g) * 3, dim=-1)


# -- entropies -------------------------------------------------------------------------------


@pytest.mark.parametrize("E", [2, 3, 5, 16])
def test_mutual_information_is_never_negative(E) -> None:
    for seed in range(5):
        p = _random_probs(E, seed=seed)
        predictive, expected, mi = U.entropy_terms(p)
        assert bool((mi >= 0).all())
        assert bool((predictive >= expected - 1e-6).all())
        assert torch.allclose(mi, (predictive - expected).clamp(min=0), atol=1e-6)
    same = _random_probs(1).expand(E, -1, -1)  # members that agree exactly: rounding only
    assert bool((U.entropy_terms(same)[2] >= 0).all())
    assert float(U.entropy_terms(same)[2].max()) < 1e-6


def test_mutual_information_is_exactly_zero_for_one_member() -> None:
    p = _random_probs(1)
    predictive, expected, mi = U.entropy_terms(p)
    assert bool((mi == 0).all())
    assert torch.equal(predictive, expected)
    logits = torch.randn(1, 50, 10) * 20
    assert bool((U.logit_entropy_terms(logits)[2] == 0).all())


def test_entropies_by_hand() -> None:
    # two confident members that disagree: total log 2, aleatoric 0, epistemic log 2
    p = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    predictive, expected, mi = U.entropy_terms(p)
    assert predictive.item() == pytest.approx(math.log(2))
    assert expected.item() == pytest.approx(0.0)
    assert mi.item() == pytest.approx(math.log(2))
    # two members both unsure in the same way: all aleatoric
    q = torch.tensor([[[0.5, 0.5]], [[0.5, 0.5]]])
    assert U.entropy_terms(q)[1].item() == pytest.approx(math.log(2))
    assert U.entropy_terms(q)[2].item() == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"\[E, N, C\]"):
        U.entropy_terms(torch.ones(3, 4))


# -- OOD detection ---------------------------------------------------------------------------


def _brute_auroc(a: list[float], b: list[float]) -> float:
    wins = sum((y > x) + 0.5 * (y == x) for x in a for y in b)
    return wins / (len(a) * len(b))


def test_auroc_equals_the_pairwise_count_with_ties() -> None:
    g = torch.Generator().manual_seed(3)
    for trial in range(20):
        n_in, n_out = 5 + trial, 3 + 2 * trial
        a = torch.randint(0, 6, (n_in,), generator=g).float()  # few values: many ties
        b = torch.randint(1, 8, (n_out,), generator=g).float()
        assert U.auroc(a, b) == pytest.approx(_brute_auroc(a.tolist(), b.tolist()), abs=1e-12)
    assert U.auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0
    assert U.auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0
    assert U.auroc(torch.zeros(4), torch.zeros(6)) == 0.5  # a single model's MI


def _brute_ap(a: list[float], b: list[float]) -> float:
    """Average precision by its definition: mean over OOD images of the precision at the
    threshold of its score (ties included)."""
    precisions = []
    for t in b:
        tp = sum(y >= t for y in b)
        fp = sum(x >= t for x in a)
        precisions.append(tp / (tp + fp))
    return sum(precisions) / len(b)


def test_aupr_is_average_precision() -> None:
    # by hand: OOD scores 0.9, 0.6; in 0.8, 0.1 -> ranks: 0.9(+) 0.8(-) 0.6(+) 0.1(-)
    # AP = (1/1 + 2/3) / 2
    assert U.aupr(torch.tensor([0.8, 0.1]), torch.tensor([0.9, 0.6])) == pytest.approx(5 / 6)
    g = torch.Generator().manual_seed(4)
    for _ in range(10):
        a = torch.randint(0, 5, (9,), generator=g).float()
        b = torch.randint(0, 7, (6,), generator=g).float()
        assert U.aupr(a, b) == pytest.approx(_brute_ap(a.tolist(), b.tolist()), abs=1e-12)


def test_fpr_at_95_tpr_by_hand() -> None:
    ood = torch.arange(1, 21).float()  # 20 OOD scores 1..20: 95% = 19 of them, t = 2
    ind = torch.tensor([0.0, 1.0, 2.0, 2.5, 3.0, 25.0, 0.5, 1.5, 1.9, 2.0])
    assert U.fpr_at_tpr(ind, ood) == pytest.approx(5 / 10)  # 2.0, 2.5, 3.0, 25.0, 2.0
    assert U.fpr_at_tpr(torch.tensor([0.0]), torch.tensor([1.0, 2.0])) == 0.0
    assert U.fpr_at_tpr(torch.tensor([5.0, 0.0]), torch.tensor([1.0])) == 0.5
    m = U.ood_metrics(torch.zeros(3), torch.ones(3))
    assert m == {"auroc": 1.0, "aupr": 1.0, "fpr95": 0.0}


# -- selective prediction --------------------------------------------------------------------


def test_aurc_by_hand() -> None:
    conf = torch.tensor([0.9, 0.8, 0.7, 0.6])
    correct = torch.tensor([True, False, True, False])
    # risks at coverage 1/4..4/4: 0/1, 1/2, 1/3, 2/4
    cov, risk = U.risk_coverage(conf, correct)
    assert cov.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert risk.tolist() == pytest.approx([0.0, 0.5, 1 / 3, 0.5])
    assert U.aurc(conf, correct) == pytest.approx((0 + 0.5 + 1 / 3 + 0.5) / 4)
    # the order of the input does not matter
    perm = torch.tensor([2, 0, 3, 1])
    assert U.aurc(conf[perm], correct[perm]) == pytest.approx(U.aurc(conf, correct))


def test_aurc_spreads_errors_over_ties_and_bounds() -> None:
    conf = torch.tensor([0.5, 0.5, 0.5, 0.5])
    correct = torch.tensor([True, False, False, True])
    assert U.risk_coverage(conf, correct)[1].tolist() == pytest.approx([0.5] * 4)
    assert U.aurc(torch.rand(50), torch.ones(50, dtype=torch.bool)) == 0.0
    assert U.aurc(torch.rand(50), torch.zeros(50, dtype=torch.bool)) == 1.0
    # a perfect ranking beats the reverse one
    c = torch.tensor([True] * 8 + [False] * 2)
    good, bad = torch.linspace(1, 0, 10), torch.linspace(0, 1, 10)
    assert U.aurc(good, c) < U.aurc(bad, c)


def test_selective_curve_reads_accuracy_at_coverage() -> None:
    conf = torch.tensor([0.9, 0.8, 0.7, 0.6])
    correct = torch.tensor([True, False, True, False])
    rows = U.selective_curve(conf, correct, points=4)
    assert [r["coverage"] for r in rows] == [0.25, 0.5, 0.75, 1.0]
    assert [r["accuracy"] for r in rows] == pytest.approx([1.0, 0.5, 2 / 3, 0.5])
    assert all(r["risk"] == pytest.approx(1 - r["accuracy"]) for r in rows)


# -- temperature scaling ---------------------------------------------------------------------


def _calibrated(E: int, N: int = 2000, C: int = 10, seed: int = 0):
    """Logits and labels drawn from the logits' own softmax: calibrated by construction."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(1, N, C, generator=g) * 2 + torch.randn(E, 1, C, generator=g) * 0.05
    labels = torch.multinomial(torch.softmax(logits[0], -1), 1, generator=g).squeeze(1)
    return logits, labels


@pytest.mark.parametrize("E", [1, 5])
def test_temperature_scaling_lowers_nll_of_an_overconfident_model(E) -> None:
    logits, labels = _calibrated(E)
    hot = logits * 10  # deliberately overconfident
    t = U.fit_temperature(hot, labels)
    assert t > 5
    assert U.ensemble_nll(hot, labels, t) < 0.5 * U.ensemble_nll(hot, labels)
    assert U.fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.15)


def test_temperature_is_within_bounds_and_refuses_bad_input() -> None:
    logits, labels = _calibrated(1, N=200)
    t = U.fit_temperature(logits * 1000, labels)
    assert U.T_BOUNDS[0] <= t <= U.T_BOUNDS[1]
    with pytest.raises(ValueError, match="temperature"):
        U.fit_temperature(logits, labels[:10])


def test_histogram_counts_every_value_once() -> None:
    rows = U.histogram(torch.tensor([0.0, 0.1, 0.5, 0.99, 1.0, 1.0]), 0.0, 1.0, 4)
    assert [r["count"] for r in rows] == [2, 0, 1, 3]
    assert sum(r["fraction"] for r in rows) == pytest.approx(1.0)
    assert rows[0]["lower"] == 0.0 and rows[-1]["upper"] == 1.0

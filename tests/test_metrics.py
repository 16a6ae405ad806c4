"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from bedash.method.metrics import compute_metrics


def _logits_from_preds(
    preds: list[list[int]], classes: int = 3, scale: float = 10.0
) -> torch.Tensor:
    """Confident logits whose argmax per member and image is preds[e][n]."""
    return torch.nn.functional.one_hot(torch.tensor(preds), classes).float() * scale


def test_accuracies_vote_oracle_and_agreement() -> None:
    labels = torch.tensor([0, 1, 2, 0])
    preds = [[0, 1, 2, 1],  # 3/4
             [0, 2, 2, 1],  # 2/4
             [1, 1, 0, 0]]  # 2/4  # fmt: skip
    m = compute_metrics(_logits_from_preds(preds), labels)
    assert m.member_acc == pytest.approx([0.75, 0.5, 0.5])
    assert m.mean_member_acc == pytest.approx(7 / 12)
    # votes per image: [0,0,1]->0 ok; [1,2,1]->1 ok; [2,2,0]->2 ok; [1,1,0]->1 wrong
    assert m.vote_acc == pytest.approx(0.75)
    assert m.ensemble_acc == pytest.approx(0.75)
    assert m.oracle_acc == pytest.approx(1.0)
    assert m.agreement[0][0] == 1.0
    assert m.agreement[0][1] == pytest.approx(0.75)  # differ on image 1
    assert m.agreement[0][2] == pytest.approx(0.25)
    assert m.agreement[1][2] == pytest.approx(0.0)
    assert m.agreement[1][0] == m.agreement[0][1]
    assert m.mean_disagreement == pytest.approx(1 - (0.75 + 0.25 + 0.0) / 3)


def test_ensemble_uses_mean_softmax_not_vote() -> None:
    # two members weakly say class 0, one is very sure of class 1: vote 0, mean-softmax 1
    logits = torch.tensor([[[0.2, 0.0]], [[0.2, 0.0]], [[0.0, 8.0]]])
    m = compute_metrics(logits, torch.tensor([1]))
    assert m.vote_acc == 0.0 and m.ensemble_acc == 1.0


def test_nll_brier_ece_by_hand() -> None:
    probs = torch.tensor([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1], [0.2, 0.8]])
    labels = torch.tensor([0, 0, 0, 1])
    m = compute_metrics(probs.log().unsqueeze(0), labels)
    p_true = torch.tensor([0.7, 0.4, 0.9, 0.8])
    assert m.nll == pytest.approx(float(-p_true.log().mean()), rel=1e-5)
    brier = ((probs - torch.nn.functional.one_hot(labels, 2)) ** 2).sum(1).mean()
    assert m.brier == pytest.approx(float(brier), rel=1e-5)
    # confidences 0.7 (right), 0.6 (wrong), 0.9 (right), 0.8 (right): one per bin
    expected_ece = (abs(1 - 0.7) + abs(0 - 0.6) + abs(1 - 0.9) + abs(1 - 0.8)) / 4
    assert m.ece == pytest.approx(expected_ece, rel=1e-5)
    assert sum(b["count"] for b in m.reliability) == 4 and len(m.reliability) == 15


def test_mean_of_probabilities_for_nll() -> None:
    a = torch.tensor([[0.9, 0.1]]).log()
    b = torch.tensor([[0.5, 0.5]]).log()
    m = compute_metrics(torch.stack([a, b]), torch.tensor([0]))
    assert m.nll == pytest.approx(-math.log(0.7), rel=1e-5)
    assert m.member_nll == pytest.approx([-math.log(0.9), -math.log(0.5)], rel=1e-5)


def test_single_member_has_no_disagreement() -> None:
    m = compute_metrics(_logits_from_preds([[0, 1]]), torch.tensor([0, 0]))
    assert math.isnan(m.mean_disagreement)
    assert m.vote_acc == m.ensemble_acc == m.oracle_acc == m.mean_member_acc == 0.5


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"\[E, N, C\]"):
        compute_metrics(torch.zeros(3, 4), torch.zeros(3))
    with pytest.raises(ValueError, match="labels"):
        compute_metrics(torch.zeros(2, 4, 3), torch.zeros(5))

"""Metrics of ensemble logits `[E, N, C]` against labels `[N]`, every figure named for what it is.

- member accuracy: each member alone; mean member accuracy is the seed's figure;
- ensemble accuracy: argmax of the mean of the members' softmax;
- vote accuracy: majority vote of the members' argmax (ties -> the class of higher mean prob);
- oracle accuracy: some member is right (an upper bound, not a usable prediction);
- NLL, ECE (15 equal-width bins) and Brier score of the ensemble's mean probabilities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from bedash.names import RELIABILITY_COLUMNS

ECE_BINS = 15


@dataclass
class Metrics:
    member_acc: list[float]
    member_nll: list[float]
    mean_member_acc: float
    ensemble_acc: float
    vote_acc: float
    oracle_acc: float
    nll: float
    ece: float
    brier: float
    agreement: list[list[float]]  # E x E: fraction of images where members i and j agree
    mean_disagreement: float  # mean over pairs i < j of 1 - agreement; NaN when E = 1
    reliability: list[dict[str, float]] = field(default_factory=list)  # per ECE bin

    def summary(self) -> dict[str, float]:
        """The scalar metrics, as results.csv holds them."""
        keys = ("mean_member_acc", "ensemble_acc", "vote_acc", "oracle_acc", "nll", "ece", "brier")
        out = {k: float(getattr(self, k)) for k in keys}
        out["mean_disagreement"] = float(self.mean_disagreement)
        return out


def compute_metrics(logits: Tensor, labels: Tensor, bins: int = ECE_BINS) -> Metrics:
    """All metrics of logits `[E, N, C]` (any float dtype, any device) and labels `[N]`."""
    if logits.dim() != 3:
        raise ValueError(f"logits must be [E, N, C], got shape {tuple(logits.shape)}")
    logits = logits.detach().float().cpu()
    labels = labels.detach().long().cpu()
    E, N, C = logits.shape
    if labels.shape != (N,):
        raise ValueError(f"labels must be [{N}], got shape {tuple(labels.shape)}")

    logp = F.log_softmax(logits, dim=-1)  # (E, N, C)
    preds = logits.argmax(-1)  # (E, N)
    correct = preds == labels  # (E, N)
    member_acc = correct.float().mean(1)
    member_nll = -logp.gather(2, labels.expand(E, N).unsqueeze(-1)).squeeze(-1).mean(1)

    # mean of softmax, in log space for a stable NLL: log(mean_i p_i) = logsumexp - log E
    ens_logp = torch.logsumexp(logp, dim=0) - math.log(E)  # (N, C)
    ens_p = ens_logp.exp()
    ens_pred = ens_p.argmax(-1)
    nll = -ens_logp.gather(1, labels[:, None]).mean()
    onehot = F.one_hot(labels, C).float()
    brier = ((ens_p - onehot) ** 2).sum(1).mean()

    votes = F.one_hot(preds, C).sum(0).float()  # (N, C)
    # ties go to the class the ensemble finds more probable (ens_p < 1 keeps counts in charge)
    vote_pred = (votes + 0.999 * ens_p).argmax(-1)

    conf, _ = ens_p.max(-1)
    ece, reliability = _calibration(conf, (ens_pred == labels).float(), bins)

    agree = (preds[:, None, :] == preds[None, :, :]).float().mean(-1)  # (E, E)
    iu = torch.triu_indices(E, E, offset=1)  # the pairs i < j
    disagreement = float((1 - agree[iu[0], iu[1]]).mean()) if E > 1 else float("nan")

    return Metrics(
        member_acc=member_acc.tolist(),
        member_nll=member_nll.tolist(),
        mean_member_acc=float(member_acc.mean()),
        ensemble_acc=float((ens_pred == labels).float().mean()),
        vote_acc=float((vote_pred == labels).float().mean()),
        oracle_acc=float(correct.any(0).float().mean()),
        nll=float(nll),
        ece=ece,
        brier=float(brier),
        agreement=agree.tolist(),
        mean_disagreement=disagreement,
        reliability=reliability,
    )


def _calibration(conf: Tensor, correct: Tensor, bins: int) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error over equal-width confidence bins (lo, hi], and the bins."""
    edges = torch.linspace(0, 1, bins + 1)
    idx = torch.bucketize(conf, edges[1:-1], right=False)  # bin i holds (edge_i, edge_i+1]
    n = conf.numel()
    ece = 0.0
    table = []
    for b in range(bins):
        mask = idx == b
        count = int(mask.sum())
        acc = float(correct[mask].mean()) if count else float("nan")
        avg_conf = float(conf[mask].mean()) if count else float("nan")
        if count:
            ece += count / n * abs(acc - avg_conf)
        row = (b, float(edges[b]), float(edges[b + 1]), count, acc, avg_conf)
        table.append(dict(zip(RELIABILITY_COLUMNS, row, strict=True)))
    return ece, table

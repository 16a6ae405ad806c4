"""What the members know: entropies of member probabilities, OOD detection scores, selective
prediction and post-hoc temperature scaling.

From member probabilities `[E, N, C]`:
- predictive entropy `H(mean_e p_e)` (total uncertainty);
- expected entropy `mean_e H(p_e)` (aleatoric);
- mutual information, their difference (epistemic; >= 0, exactly 0 for E = 1).
OOD detection treats OOD images as the positives and a higher score as "more OOD".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# -- entropies -----------------------------------------------------------------------------------


def entropy(p: Tensor, dim: int = -1) -> Tensor:
    """Shannon entropy in nats along `dim` (0 log 0 = 0)."""
    return -torch.special.xlogy(p, p).sum(dim)


def entropy_terms(probs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(predictive entropy, expected entropy, mutual information), each `[N]`, of member
    probabilities `[E, N, C]`. Rounding can make the difference a hair below zero: clamped."""
    if probs.dim() != 3:
        raise ValueError(f"probabilities must be [E, N, C], got shape {tuple(probs.shape)}")
    probs = probs.float()
    expected = entropy(probs).mean(0)
    if probs.shape[0] == 1:  # one member knows nothing it does not know: MI is exactly 0
        return expected, expected.clone(), torch.zeros_like(expected)
    predictive = entropy(probs.mean(0))
    return predictive, expected, (predictive - expected).clamp_(min=0.0)


def logit_entropy_terms(logits: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """entropy_terms of softmax(logits) for logits `[E, N, C]`; each member's entropy is taken
    as logsumexp(z) - sum p z, which stays exact where probabilities underflow."""
    if logits.dim() != 3:
        raise ValueError(f"logits must be [E, N, C], got shape {tuple(logits.shape)}")
    z = logits.float()
    p = torch.softmax(z, dim=-1)
    expected = (torch.logsumexp(z, -1) - (p * z).sum(-1)).mean(0)
    if z.shape[0] == 1:
        return expected, expected.clone(), torch.zeros_like(expected)
    predictive = entropy(p.mean(0))
    return predictive, expected, (predictive - expected).clamp_(min=0.0)


# -- OOD detection -------------------------------------------------------------------------------


def _scores(in_scores: Tensor, out_scores: Tensor) -> tuple[Tensor, Tensor]:
    a = torch.as_tensor(in_scores, dtype=torch.float64).flatten()
    b = torch.as_tensor(out_scores, dtype=torch.float64).flatten()
    if a.numel() == 0 or b.numel() == 0:
        raise ValueError("OOD detection needs at least one in-distribution and one OOD score")
    return a, b


def _average_ranks(x: Tensor) -> Tensor:
    """Ranks 1..n of x, tied values sharing the mean of their ranks."""
    order = torch.argsort(x)
    _, inverse, counts = torch.unique(x[order], return_inverse=True, return_counts=True)
    last = torch.cumsum(counts, 0).double()  # rank of the last element of each tied group
    mean_rank = last - (counts.double() - 1) / 2
    ranks = torch.empty_like(x, dtype=torch.float64)
    ranks[order] = mean_rank[inverse]
    return ranks


def auroc(in_scores: Tensor, out_scores: Tensor) -> float:
    """Area under the ROC curve of separating OOD (positive) from in-distribution by the score:
    P(score_ood > score_in) + P(equal) / 2, by the Mann-Whitney rank statistic."""
    a, b = _scores(in_scores, out_scores)
    ranks = _average_ranks(torch.cat([b, a]))
    n_pos, n_neg = b.numel(), a.numel()
    u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def aupr(in_scores: Tensor, out_scores: Tensor) -> float:
    """Area under the precision-recall curve, OOD positive, as average precision: the sum over
    distinct thresholds (high to low) of the recall gained times the precision there."""
    a, b = _scores(in_scores, out_scores)
    scores = torch.cat([b, a])
    positive = torch.cat([torch.ones_like(b), torch.zeros_like(a)])
    order = torch.argsort(scores, descending=True)
    s, pos = scores[order], positive[order]
    tp, fp = torch.cumsum(pos, 0), torch.cumsum(1 - pos, 0)
    last = torch.ones_like(s, dtype=torch.bool)  # the last element of each tied group
    last[:-1] = s[1:] != s[:-1]
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / b.numel()
    gained = torch.diff(recall, prepend=recall.new_zeros(1))
    return float((gained * precision).sum())


def fpr_at_tpr(in_scores: Tensor, out_scores: Tensor, tpr: float = 0.95) -> float:
    """Fraction of in-distribution images flagged at the highest threshold t that flags at least
    `tpr` of the OOD images (flagged: score >= t)."""
    a, b = _scores(in_scores, out_scores)
    k = math.ceil(tpr * b.numel() - 1e-9)  # OOD images that must score >= t
    t = torch.sort(b, descending=True).values[max(k, 1) - 1]
    return float((a >= t).double().mean())


def ood_metrics(in_scores: Tensor, out_scores: Tensor) -> dict[str, float]:
    return {
        "auroc": auroc(in_scores, out_scores),
        "aupr": aupr(in_scores, out_scores),
        "fpr95": fpr_at_tpr(in_scores, out_scores, 0.95),
    }


# -- selective prediction ------------------------------------------------------------------------


def risk_coverage(confidence: Tensor, correct: Tensor) -> tuple[Tensor, Tensor]:
    """Coverage k/N and risk (error rate of the k most confident predictions) for k = 1..N.
    Within a group of equal confidence no order is preferred: the risk there is its expected
    value under a random order (the group's errors spread evenly over it)."""
    conf = torch.as_tensor(confidence, dtype=torch.float64).flatten()
    err = 1.0 - torch.as_tensor(correct, dtype=torch.float64).flatten()
    n = conf.numel()
    if n == 0 or err.numel() != n:
        raise ValueError("confidence and correct must be non-empty and of the same length")
    order = torch.argsort(conf, descending=True, stable=True)
    c, e = conf[order], err[order]
    _, group, counts = torch.unique_consecutive(c, return_inverse=True, return_counts=True)
    group_err = torch.zeros(len(counts), dtype=torch.float64).index_add_(0, group, e)
    before = torch.cumsum(group_err, 0) - group_err  # errors of the more confident groups
    start = torch.cumsum(counts, 0) - counts  # first position of each group
    k = torch.arange(1, n + 1, dtype=torch.float64)
    within = k - start[group].double()  # 1..count inside the group
    errors = before[group] + within * group_err[group] / counts[group].double()
    return k / n, errors / k


def aurc(confidence: Tensor, correct: Tensor) -> float:
    """Area under the risk-coverage curve: the mean risk over coverages 1/N..N/N."""
    _, risk = risk_coverage(confidence, correct)
    return float(risk.mean())


def selective_curve(
    confidence: Tensor, correct: Tensor, points: int = 100
) -> list[dict[str, float]]:
    """Accuracy and risk at coverage 1/points, 2/points, ..., 1 (the nearest k >= coverage N)."""
    cov, risk = risk_coverage(confidence, correct)
    n = cov.numel()
    rows = []
    for i in range(1, points + 1):
        k = min(max(math.ceil(i / points * n - 1e-9), 1), n)
        rows.append(
            {
                "coverage": i / points,
                "accuracy": 1.0 - float(risk[k - 1]),
                "risk": float(risk[k - 1]),
            }
        )
    return rows


# -- temperature scaling -------------------------------------------------------------------------

T_BOUNDS = (0.05, 20.0)


def ensemble_nll(logits: Tensor, labels: Tensor, temperature: float = 1.0) -> float:
    """NLL of the mean of the members' softmax(logits / T), logits `[E, N, C]`: only the
    label's log probability is needed, log p_y = z_y / T - logsumexp(z / T), then log of the
    mean over members in log space."""
    z = logits / temperature
    logp_y = z.gather(2, labels.long().view(1, -1, 1).expand(z.shape[0], -1, 1)).squeeze(2)
    logp_y = logp_y - torch.logsumexp(z, dim=-1)  # (E, N)
    ens = torch.logsumexp(logp_y, dim=0) - math.log(z.shape[0])
    return float(-ens.mean())


def fit_temperature(
    logits: Tensor, labels: Tensor, bounds: tuple[float, float] = T_BOUNDS
) -> float:
    """The one temperature T > 0 that, dividing every member's logits, minimises the NLL of the
    ensemble's mean probabilities on (logits `[E, N, C]`, labels `[N]`): a grid over log T, then
    golden-section search around its best point. T = 1 when no better T exists."""
    if logits.dim() != 3 or logits.shape[1] == 0 or labels.shape != (logits.shape[1],):
        raise ValueError("temperature scaling needs logits [E, N, C] with N > 0 and labels [N]")
    logits, labels = logits.detach().float().cpu(), labels.detach().long().cpu()
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    grid = [lo + (hi - lo) * i / 24 for i in range(25)]
    values = [ensemble_nll(logits, labels, math.exp(t)) for t in grid]
    best = min(range(len(grid)), key=values.__getitem__)
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    phi = (math.sqrt(5) - 1) / 2
    c, d = b - phi * (b - a), a + phi * (b - a)
    fc, fd = ensemble_nll(logits, labels, math.exp(c)), ensemble_nll(logits, labels, math.exp(d))
    for _ in range(30):  # the bracket shrinks to 0.62^30 (1e-6) of a grid step
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - phi * (b - a)
            fc = ensemble_nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + phi * (b - a)
            fd = ensemble_nll(logits, labels, math.exp(d))
    t = math.exp((a + b) / 2)
    return t if ensemble_nll(logits, labels, t) <= ensemble_nll(logits, labels, 1.0) else 1.0


# -- histograms ----------------------------------------------------------------------------------


def histogram(values: Tensor, lower: float, upper: float, bins: int) -> list[dict[str, float]]:
    """Counts of values in `bins` equal-width bins over [lower, upper] (the ends included)."""
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    upper = upper if upper > lower else lower + 1e-6
    idx = ((v - lower) / (upper - lower) * bins).floor().long().clamp_(0, bins - 1)
    counts = torch.bincount(idx, minlength=bins)
    n = max(v.numel(), 1)
    width = (upper - lower) / bins
    return [
        {
            "bin": i,
            "lower": lower + i * width,
            "upper": lower + (i + 1) * width,
            "count": int(counts[i]),
            "fraction": float(counts[i]) / n,
        }
        for i in range(bins)
    ]

"""Statistics over seeds: mean, std, a Student t interval, paired differences and a verdict.

Plain Python but for the t quantile (scipy.stats, imported when an interval is computed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95  # every interval bedash reports

# Which way is better, for every metric a run file holds (results.csv, shift.csv, ood.csv); a
# temperature-scaled one (*_ts) goes the way of its raw metric. "" = neither: the verdict says
# which is higher instead of which is better. Diversity is a means, not a goal; a higher or lower
# entropy or mutual information on shifted images is not better in itself; a fitted temperature
# is right where it calibrates; infer_repeats, load_avg, cpu_count and niceness say how timing ran.
SIZES = ("params", "param_bytes", "param_mb", "params_rel_single")
LOWER = [*SIZES, "nll", "ece", "brier", "fpr95", "aurc", "train_seconds", "epoch_seconds"]
LOWER += ["infer_seconds"]
HIGHER = ["acc", "mean_member_acc", "ensemble_acc", "vote_acc", "oracle_acc", "auroc", "aupr"]
HIGHER += ["member_samples_per_s"]
NEITHER = ["mean_disagreement", "entropy", "expected_entropy", "mutual_info", "temperature"]
NEITHER += ["infer_repeats", "load_avg", "cpu_count", "niceness"]
DIRECTIONS = dict.fromkeys(LOWER, "lower") | dict.fromkeys(HIGHER, "higher")
DIRECTIONS |= dict.fromkeys(NEITHER, "")
# Differences this close to equal (relative to their size) are equal: 0.3 - 0.1 and 0.6 - 0.4
# differ in the last bit, which must not make a zero-width interval look resolved.
EQUAL = 1e-9
TENTATIVE_BELOW = 3  # seeds: a verdict from fewer is marked tentative


# The values a metric can take (None: no bound), so that a chart draws an interval of the mean
# only where the metric exists: with few seeds a t interval reaches past them (an ECE band
# below 0). The intervals in the CSV files stay as computed.
FRACTIONS = ("acc", "ece", "auroc", "aupr", "fpr95", "aurc", "disagreement", "agreement")
NONNEGATIVE = ("nll", "entropy", "mutual_info", *SIZES, "temperature")


def metric_range(metric: str) -> tuple[float | None, float | None]:
    """(lowest, highest) value metric can take; None: no bound."""
    base = metric.removesuffix("_ts")  # a temperature-scaled metric: the same range
    if base == "brier" or base.endswith("_brier"):
        return 0.0, 2.0
    if base in FRACTIONS or base.endswith(tuple(f"_{f}" for f in FRACTIONS)):
        return 0.0, 1.0
    if base in NONNEGATIVE or base.endswith(("_seconds", "_per_s", "_nll", "_entropy")):
        return 0.0, None
    return None, None


def clip_to_range(metric: str, values: Sequence[float]) -> list[float]:
    """values cut to metric_range(metric): where a chart may draw a band of them."""
    lo, hi = metric_range(metric)
    out = []
    for v in values:
        v = max(v, lo) if lo is not None else v
        out.append(min(v, hi) if hi is not None else v)
    return out


def better_direction(metric: str) -> str:
    """'higher', 'lower' or '' (neither) for a metric of results.csv, shift.csv or ood.csv;
    ValueError for one without a declared direction."""
    base = metric.removesuffix("_ts")
    if base not in DIRECTIONS:
        raise ValueError(f"no better direction declared for {metric!r}")
    return DIRECTIONS[base]


# -- the t distribution ------------------------------------------------------------------------


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile (scipy, imported here so that importing this module stays light)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1) (got {p})")
    if df <= 0:
        raise ValueError(f"df must be > 0 (got {df})")
    from scipy.stats import t

    return float(t.ppf(p, df))


# -- summaries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """mean ± a t interval over n values; std and the interval are NaN when n < 2."""

    mean: float
    std: float  # sample standard deviation (n - 1)
    n: int
    ci_low: float
    ci_high: float


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Mean, sample std and the Student t interval of the mean (NaN where undefined)."""
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        nan = math.nan
        return Summary(nan, nan, 0, nan, nan)
    mean = math.fsum(xs) / n
    if n == 1:
        return Summary(mean, math.nan, 1, math.nan, math.nan)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
    return Summary(mean, std, n, mean - half, mean + half)


def paired(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """The t interval of the mean of a[i] - b[i] (pairs with a missing side are dropped)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length ({len(a)} vs {len(b)})")
    diffs = [
        float(x) - float(y)
        for x, y in zip(a, b, strict=True)
        if x is not None and y is not None and not math.isnan(float(x) - float(y))
    ]
    return summarize(diffs, confidence)


def unresolved(n: int) -> str:
    return f"not resolved with {n} seed{'s' if n != 1 else ''}"


def verdict(diff: Summary, better: str, a: str = "batchensemble", b: str = "ensemble") -> str:
    """The verdict on a - b from the t interval of its mean difference over paired seeds:
    '<a> better than <b>' (or '<b> better than <a>') when the interval lies on one side of zero
    ('higher' / 'lower' where better is ''), ' (tentative: 2 seeds)' added below 3 seeds; 'not
    resolved with n seeds' when it holds zero or n < 2. A zero spread has a zero-width interval
    and gives no winner: 'identical in every seed', or 'same difference in every seed: <a>
    higher than <b>' (described, never 'better')."""
    if diff.n < 2 or math.isnan(diff.ci_low) or math.isnan(diff.ci_high):
        return unresolved(diff.n)
    side = "higher" if diff.mean > 0 else "lower"
    if diff.std <= EQUAL * max(1.0, abs(diff.mean)):
        if abs(diff.mean) <= EQUAL:
            return "identical in every seed"
        return f"same difference in every seed: {a} {side} than {b}"
    if diff.ci_low <= 0 <= diff.ci_high:
        return unresolved(diff.n)
    if not better:
        text = f"{a} {side} than {b}"
    else:
        text = f"{a} better than {b}" if side == better else f"{b} better than {a}"
    return text + (f" (tentative: {diff.n} seeds)" if diff.n < TENTATIVE_BELOW else "")

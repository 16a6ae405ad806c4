"""Statistics over seeds: mean, std, a Student t interval, paired differences and a verdict.

Plain Python but for the t quantile (scipy.stats, imported when an interval is computed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95  # every interval bedash reports

# Which way is better, per metric of results.csv, shift.csv (acc, nll, ece, brier) and ood.csv
# (auroc, aupr, fpr95). "" = no better direction (diversity is not a goal in itself, and neither
# is a higher or a lower entropy or mutual information on shifted images): the verdict then
# says which is higher instead of which is better.
# (and by suffix in better_direction: *_seconds, *_acc, *_per_s...)
SIZES = ("params", "param_bytes", "param_mb", "params_rel_single")
LOWER_IS_BETTER = ("nll", "ece", "brier", *SIZES, "fpr95", "aurc")
HIGHER_IS_BETTER = ("acc", "auroc", "aupr")


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
    """'higher', 'lower' or '' (neither) for a metric of results.csv, shift.csv or ood.csv."""
    if metric in LOWER_IS_BETTER or metric.endswith(("_seconds", "_nll", "_ece", "_brier")):
        return "lower"
    if metric in HIGHER_IS_BETTER or metric.endswith(("_acc", "_auroc", "_per_s")):
        return "higher"
    return ""


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
    """'<a> better', '<b> better' or 'not resolved with n seeds' from the interval of a - b:
    resolved when it lies on one side of zero. better '' words it '<a> higher' / '<a> lower'."""
    if diff.n < 2 or math.isnan(diff.ci_low) or math.isnan(diff.ci_high):
        return unresolved(diff.n)
    if diff.ci_low > 0:
        side = "higher"
    elif diff.ci_high < 0:
        side = "lower"
    else:
        return unresolved(diff.n)
    if not better:
        return f"{a} {side}"
    return f"{a} better" if side == better else f"{b} better"

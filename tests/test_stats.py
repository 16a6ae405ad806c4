"""bedash.sweep.stats: the t quantile against table values, intervals and verdicts by hand."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bedash.sweep.stats import (
    Summary,
    better_direction,
    paired,
    summarize,
    t_quantile,
    verdict,
)

# two-sided 95% (p = 0.975) critical values of Student's t, from the standard tables
T975 = {
    1: 12.706204736, 2: 4.302652730, 3: 3.182446305, 4: 2.776445105, 5: 2.570581836,
    9: 2.262157163, 10: 2.228138852, 29: 2.045229642, 30: 2.042272456, 100: 1.983971519,
}  # fmt: skip


@pytest.mark.parametrize(("df", "expected"), sorted(T975.items()))
def test_t_quantile_matches_the_table(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-8)


def test_t_quantile_other_levels_and_symmetry() -> None:
    assert t_quantile(0.95, 10) == pytest.approx(1.812461123, abs=1e-8)  # one-sided 95%
    assert t_quantile(0.995, 5) == pytest.approx(4.032142984, abs=1e-8)  # 99% two-sided
    assert t_quantile(0.5, 7) == pytest.approx(0.0, abs=1e-10)
    assert t_quantile(0.025, 4) == pytest.approx(-2.776445105, abs=1e-8)
    assert t_quantile(0.975, 10_000) == pytest.approx(1.960201, abs=1e-5)  # ~ the normal's
    with pytest.raises(ValueError, match="p must be"):
        t_quantile(1.0, 3)


def test_importing_the_statistics_does_not_import_scipy() -> None:
    """scipy is imported when an interval is computed, not by `import bedash.sweep.stats`
    (which a dashboard page's first render may do)."""
    code = (
        "import sys, bedash, bedash.sweep.stats as s\n"
        "assert 'scipy' not in sys.modules, 'imported scipy'\n"
        "s.summarize([1.0, 2.0]); assert 'scipy' in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "values",
    [[0.61, 0.64, 0.59], [1.0, 2.0, 3.0, 4.0], [-0.02, 0.01], [0.9, 0.91, 0.93, 0.88, 0.9, 0.95]],
)
def test_the_interval_is_scipys(values: list[float]) -> None:
    """The t interval of the mean, computed independently with numpy and scipy.stats.t.interval."""
    import numpy as np
    from scipy import stats

    x = np.asarray(values)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    s = summarize(values)
    assert abs(s.ci_low - low) < 1e-12 and abs(s.ci_high - high) < 1e-12
    assert abs(s.std - x.std(ddof=1)) < 1e-12


def test_summarize_by_hand() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0])
    std = math.sqrt((1.5**2 + 0.5**2 + 0.5**2 + 1.5**2) / 3)  # 1.2909944
    half = 3.182446305 * std / 2  # t(0.975, 3) * std / sqrt(4)
    assert (s.mean, s.n) == (2.5, 4)
    assert s.std == pytest.approx(std, rel=1e-12)
    assert (s.ci_low, s.ci_high) == (pytest.approx(2.5 - half), pytest.approx(2.5 + half))


def test_summarize_small_samples() -> None:
    one = summarize([0.7])
    assert (one.mean, one.n) == (0.7, 1)
    assert math.isnan(one.std) and math.isnan(one.ci_low) and math.isnan(one.ci_high)
    none = summarize([])
    assert none.n == 0 and math.isnan(none.mean)
    assert summarize([float("nan"), 2.0, None]).n == 1  # missing values are dropped
    same = summarize([5.0, 5.0, 5.0])  # no spread: the interval is the point
    assert (same.std, same.ci_low, same.ci_high) == (0.0, 5.0, 5.0)


def test_paired_by_hand() -> None:
    a, b = [0.60, 0.62, 0.58], [0.55, 0.60, 0.56]  # differences 0.05, 0.02, 0.02
    d = paired(a, b)
    std = math.sqrt((0.02**2 + 0.01**2 + 0.01**2) / 2)
    half = 4.302652730 * std / math.sqrt(3)
    assert d.n == 3
    assert d.mean == pytest.approx(0.03)
    assert d.std == pytest.approx(std)
    assert d.ci_low == pytest.approx(0.03 - half) and d.ci_high == pytest.approx(0.03 + half)
    assert verdict(d, "higher") == "not resolved with 3 seeds"  # the interval holds zero
    with pytest.raises(ValueError, match="length"):
        paired([1.0], [1.0, 2.0])
    assert paired([1.0, None, 3.0], [0.0, 1.0, 1.0]).n == 2  # a pair with a gap is dropped


def _diff(lo: float, hi: float, n: int = 5) -> Summary:
    return Summary((lo + hi) / 2, 1.0, n, lo, hi)


def test_verdict_each_way() -> None:
    assert verdict(_diff(0.01, 0.03), "higher") == "batchensemble better than ensemble"
    assert verdict(_diff(-0.03, -0.01), "higher") == "ensemble better than batchensemble"
    # e.g. NLL went up
    assert verdict(_diff(0.01, 0.03), "lower") == "ensemble better than batchensemble"
    assert verdict(_diff(-0.03, -0.01), "lower", b="single") == "batchensemble better than single"
    assert verdict(_diff(0.01, 0.03), "lower", b="single") == "single better than batchensemble"
    assert verdict(_diff(-0.01, 0.03), "higher") == "not resolved with 5 seeds"
    # no good direction
    assert verdict(_diff(0.01, 0.03), "") == "batchensemble higher than ensemble"
    assert verdict(_diff(-0.03, -0.01), "") == "batchensemble lower than ensemble"
    assert verdict(summarize([0.1]), "higher") == "not resolved with 1 seed"


def test_better_direction() -> None:
    for m in ("nll", "ece", "brier", "params", "param_mb", "train_seconds", "infer_seconds"):
        assert better_direction(m) == "lower", m
    for m in ("ensemble_acc", "vote_acc", "mean_member_acc", "oracle_acc",
              "member_samples_per_s"):  # fmt: skip
        assert better_direction(m) == "higher", m
    assert better_direction("mean_disagreement") == ""
    # shift.csv and ood.csv
    for m in ("acc", "auroc", "aupr"):
        assert better_direction(m) == "higher", m
    for m in ("fpr95", "aurc"):
        assert better_direction(m) == "lower", m
    for m in ("entropy", "mutual_info"):  # no good direction: "batchensemble higher / lower"
        assert better_direction(m) == "", m


@pytest.mark.parametrize(
    ("metric", "bounds"),
    [
        ("acc", (0.0, 1.0)), ("ensemble_acc", (0.0, 1.0)), ("ece", (0.0, 1.0)),
        ("ece_ts", (0.0, 1.0)), ("auroc", (0.0, 1.0)), ("fpr95", (0.0, 1.0)),
        ("brier", (0.0, 2.0)), ("brier_ts", (0.0, 2.0)), ("nll", (0.0, None)),
        ("mutual_info", (0.0, None)), ("train_seconds", (0.0, None)), ("params", (0.0, None)),
        ("diversity", (None, None)), ("mean_diff", (None, None)),
    ],
)  # fmt: skip
def test_metric_range_is_what_the_metric_can_take(metric: str, bounds: tuple) -> None:
    from bedash.sweep.stats import clip_to_range, metric_range

    assert metric_range(metric) == bounds
    lo, hi = bounds
    clipped = clip_to_range(metric, [-5.0, 0.5, 7.0])
    assert clipped == [-5.0 if lo is None else lo, 0.5, 7.0 if hi is None else hi]

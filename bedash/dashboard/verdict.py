"""The short answer at the top of a Results page: BatchEnsemble against the ensemble, in words,
from results.csv or paired.csv rows. No streamlit, no pandas."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from bedash.names import metric_label, model_label

CAVEAT = (
    "One seed cannot resolve differences below the seed-to-seed spread: run a seed sweep "
    "of this config for a verdict with confidence intervals."
)
NOT_MEASURED = "not measured"
BASELINE_ORDER = ("ensemble", "ensemble_parallel")


def _num(value: Any) -> float | None:
    """A finite float, or None for a missing, empty or non-numeric value."""
    if value is None or value == "":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _rows_by_model(rows: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        model = str(r.get("model", ""))
        if model and str(r.get("status", "finished")) == "finished":
            out.setdefault(model, r)
    return out


def one_seed_verdict(rows: Iterable[Mapping[str, Any]]) -> str:
    """ "Ensemble accuracy: BatchEnsemble 0.556 vs Ensemble (sequential) 0.569 (−1.3 points) ·
    NLL: ... · parameters: BatchEnsemble 4.8× fewer than Ensemble (sequential) · training time:
    ..." from one run's rows: every number named by its model."""
    by = _rows_by_model(rows)
    be = by.get("batchensemble")
    base_kind = next((k for k in BASELINE_ORDER if k in by), None)
    if be is None:
        return "BatchEnsemble: " + NOT_MEASURED + " in this run."
    if base_kind is None:
        return "BatchEnsemble: no ensemble in this run to compare with (" + NOT_MEASURED + ")."
    base, me, other = by[base_kind], model_label("batchensemble"), model_label(base_kind)

    def pair(what: str, column: str, digits: int) -> tuple[str, float | None, float | None]:
        a, b = _num(be.get(column)), _num(base.get(column))
        if a is None or b is None:
            return f"{what}: {NOT_MEASURED}", None, None
        return f"{what}: {me} {a:.{digits}f} vs {other} {b:.{digits}f}", a, b

    text, a, b = pair("Ensemble accuracy", "ensemble_acc", 3)
    if a is not None and b is not None:
        diff = (a - b) * 100
        sign = "+" if diff > 0 else "−" if diff < 0 else "±"
        text += f" ({sign}{abs(diff):.1f} points)"
    parts = [text, pair("NLL", "nll", 2)[0]]
    a, b = _num(be.get("params")), _num(base.get("params"))
    if a is None or b is None or a <= 0 or b <= 0:
        parts.append(f"parameters: {NOT_MEASURED}")
    elif b >= a:
        parts.append(f"parameters: {me} {b / a:.1f}× fewer than {other}")
    else:
        parts.append(f"parameters: {me} {a / b:.1f}× as many as {other}")
    a, b = _num(be.get("train_seconds")), _num(base.get("train_seconds"))
    if a is None or b is None or b <= 0:
        parts.append(f"training time: {NOT_MEASURED}")
    else:
        parts.append(f"training time: {me} {a / b:.1f}× that of {other}")
    return " · ".join(parts)


def readable(verdict: Any) -> str:
    """paired.csv's verdict with model labels for the kinds' names ("BatchEnsemble better than
    Ensemble (parallel)")."""
    kinds = (*BASELINE_ORDER, "batchensemble", "single")
    return " ".join(model_label(w) if w in kinds else w for w in str(verdict).split(" "))


def paired_verdict(
    paired_rows: Iterable[Mapping[str, Any]],
    metrics: tuple[str, ...] = ("ensemble_acc", "nll"),
    baseline: str | None = None,
    config: Any = None,
) -> list[str]:
    """One line per metric from paired.csv rows of one config (a number or the file's text; None:
    the first) against baseline (None: the first of BASELINE_ORDER the rows have): mean
    difference, 95% CI, n, verdict; [] when no row fits."""
    paired_rows = list(paired_rows)
    have = {str(r.get("baseline")) for r in paired_rows}
    baseline = baseline or next((b for b in BASELINE_ORDER if b in have), BASELINE_ORDER[0])
    rows = [r for r in paired_rows if str(r.get("baseline")) == baseline]
    if not rows:
        return []
    want = str(rows[0].get("config") if config is None else config)
    rows = [r for r in rows if str(r.get("config")) == want]
    if not rows:
        return []
    lines = []
    for metric in metrics:
        r = next((x for x in rows if x.get("metric") == metric), None)
        if r is None:
            lines.append(f"{metric_label(metric)}: {NOT_MEASURED}")
            continue
        d, lo, hi = _num(r.get("mean_diff")), _num(r.get("ci_low")), _num(r.get("ci_high"))
        n = r.get("n")
        ci = f"95% CI [{lo:+.4f}, {hi:+.4f}]" if lo is not None and hi is not None else "no CI"
        dtext = f"{d:+.4f}" if d is not None else NOT_MEASURED
        lines.append(
            f"{metric_label(metric)}: BatchEnsemble − {model_label(baseline)} {dtext}, {ci}, "
            f"n={n}: {readable(r.get('verdict'))}"
        )
    return lines

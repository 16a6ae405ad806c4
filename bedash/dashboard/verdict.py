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
    """ "BatchEnsemble: ensemble accuracy 0.556 vs 0.569 (−1.3 points), NLL 1.25 vs 1.28, 4.8×
    fewer parameters than the ensemble, 1.0× its training time" from one run's rows."""
    by = _rows_by_model(rows)
    be = by.get("batchensemble")
    base_kind = next((k for k in BASELINE_ORDER if k in by), None)
    if be is None:
        return "BatchEnsemble: " + NOT_MEASURED + " in this run."
    if base_kind is None:
        return "BatchEnsemble: no ensemble in this run to compare with (" + NOT_MEASURED + ")."
    base = by[base_kind]
    parts = []
    a, b = _num(be.get("ensemble_acc")), _num(base.get("ensemble_acc"))
    if a is None or b is None:
        parts.append(f"ensemble accuracy {NOT_MEASURED}")
    else:
        diff = (a - b) * 100
        sign = "+" if diff > 0 else "−" if diff < 0 else "±"
        parts.append(f"ensemble accuracy {a:.3f} vs {b:.3f} ({sign}{abs(diff):.1f} points)")
    a, b = _num(be.get("nll")), _num(base.get("nll"))
    parts.append(f"NLL {NOT_MEASURED}" if a is None or b is None else f"NLL {a:.2f} vs {b:.2f}")
    a, b = _num(be.get("params")), _num(base.get("params"))
    if a is None or b is None or a <= 0 or b <= 0:
        parts.append(f"parameters {NOT_MEASURED}")
    elif b >= a:
        parts.append(f"{b / a:.1f}× fewer parameters than the ensemble")
    else:
        parts.append(f"{a / b:.1f}× the ensemble's parameters")
    a, b = _num(be.get("train_seconds")), _num(base.get("train_seconds"))
    if a is None or b is None or b <= 0:
        parts.append(f"training time {NOT_MEASURED}")
    else:
        parts.append(f"{a / b:.1f}× its training time")
    return "BatchEnsemble: " + ", ".join(parts)


def paired_verdict(
    paired_rows: Iterable[Mapping[str, Any]],
    metrics: tuple[str, ...] = ("ensemble_acc", "nll"),
    baseline: str = "ensemble",
    config: Any = None,
) -> list[str]:
    """One line per metric from paired.csv rows of one config (a number or the file's text; None:
    the first): mean difference, 95% CI, n, verdict; [] when no row fits."""
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
            f"n={n}: {r.get('verdict')}"
        )
    return lines

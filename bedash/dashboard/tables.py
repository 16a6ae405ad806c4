"""Table shaping for the dashboard, and the numbers the live view derives from a job snapshot:
pure functions of rows and frames. No streamlit, no plotly, no torch."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from bedash.names import HISTORY_COLUMNS, MODEL_LABELS, model_label
from bedash.names import busy as machine_busy

__all__ = ["HISTORY_COLUMNS", "TRACE_COLUMNS"]

TRACE_COLUMNS = ["model", "member", "x", "loss"]  # live log points and steps.csv
# results.csv column -> the results table's header, in the order the table shows them
RESULT_TABLE = {
    "model": "Model",
    "status": "Status",
    "members": "E",
    "params": "Params",
    "param_mb": "MB",
    "params_rel_single": "× single",
    "train_seconds": "Train s",
    "epoch_seconds": "s / epoch",
    "infer_seconds": "Infer s",
    "infer_repeats": "Infer repeats",
    "load_avg": "Load",
    "mean_member_acc": "Acc mean member",
    "ensemble_acc": "Acc ensemble (mean softmax)",
    "vote_acc": "Acc majority vote",
    "oracle_acc": "Acc oracle",
    "nll": "NLL",
    "ece": "ECE",
    "brier": "Brier",
    "mean_disagreement": "Disagreement",
}
NOT_MEASURED = "not measured"


def frame(rows: Iterable[Any], columns: Sequence[str]) -> pd.DataFrame:
    """Dataclasses or dicts -> a DataFrame with exactly `columns` (also when rows is empty)."""
    rows = list(rows)
    df = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(columns))
    return df.reindex(columns=list(columns))


def members_of(series: pd.Series) -> pd.Series:
    """history.csv leaves member empty for whole-model rows: NaN/None -> -1, else int."""
    return pd.to_numeric(series, errors="coerce").fillna(-1).astype(int)


def ordered(kinds: Iterable[str]) -> list[str]:
    """Model kinds in the order the charts list them (known kinds first, in MODEL_LABELS order)."""
    kinds = list(dict.fromkeys(kinds))
    known = [k for k in MODEL_LABELS if k in kinds]
    return known + [k for k in kinds if k not in MODEL_LABELS]


def as_float(value: Any) -> float | None:
    """A number, or None for a missing / NaN / non-numeric cell."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def numbers(values: Iterable[Any]) -> list[float | None]:
    """Numbers as floats, anything missing or not finite as None (never drawn as a zero)."""
    return [f if f is not None and math.isfinite(f) else None for f in map(as_float, values)]


def column(frame: pd.DataFrame, name: str) -> list[float | None]:
    """A column's numbers (all None when the frame has no such column)."""
    return numbers(frame[name]) if name in frame else [None] * len(frame)


# -- the loss between log points, smoothing ---------------------------------------------------


def interval_means(trace: pd.DataFrame) -> pd.DataFrame:
    """Live log points (model, member, x, loss: the epoch's running mean so far) -> the mean loss
    between two log points of one epoch at the interval's middle (model, member, x, x0, x1, loss).
    The running mean restarts every epoch (a sawtooth as it is); with m1 at fraction f1 and m2 at
    f2 of one epoch, the batches between average (m2*f2 - m1*f1) / (f2 - f1)."""
    cols = ["model", "member", "x", "x0", "x1", "loss"]
    if trace is None or not len(trace):
        return pd.DataFrame(columns=cols)
    t = trace.assign(
        member=members_of(trace["member"]),
        x=pd.to_numeric(trace["x"], errors="coerce"),
        loss=pd.to_numeric(trace["loss"], errors="coerce"),
    ).dropna(subset=["x", "loss"])
    out: list[tuple] = []
    for (kind, member), rows in t.groupby(["model", "member"], sort=False):
        rows = rows.drop_duplicates("x", keep="last").sort_values("x")
        prev_epoch, prev_f, prev_m = -1, 0.0, 0.0
        for x, m in zip(rows["x"].tolist(), rows["loss"].tolist(), strict=True):
            epoch = max(0, math.ceil(x - 1e-9) - 1)  # x = 2.0 ends the second epoch (index 1)
            f = x - epoch
            if epoch != prev_epoch or f <= prev_f:
                prev_f, prev_m = 0.0, 0.0
            loss = (m * f - prev_m * prev_f) / (f - prev_f)
            out.append((kind, member, epoch + (prev_f + f) / 2, epoch + prev_f, x, loss))
            prev_epoch, prev_f, prev_m = epoch, f, m
    return pd.DataFrame(out, columns=cols)


def epoch_means(history: pd.DataFrame) -> pd.DataFrame:
    """history.csv's per-epoch means as interval_means' intervals: epoch e covers [e-1, e]."""
    cols = ["model", "member", "x", "x0", "x1", "loss"]
    if history is None or not len(history):
        return pd.DataFrame(columns=cols)
    epoch = pd.to_numeric(history["epoch"], errors="coerce")  # words in a damaged file -> NaN
    h = pd.DataFrame(
        {
            "model": history["model"],
            "member": members_of(history["member"]),
            "x": epoch - 0.5,
            "x0": epoch - 1,
            "x1": epoch,
            "loss": pd.to_numeric(history["loss"], errors="coerce"),
        }
    )
    return h.dropna(subset=["x", "loss"]).reset_index(drop=True)[cols]


SMOOTHING_SCALE = 1000  # W&B's VIEWPORT_SCALE: the weight applies per 1/1000 of the x range


def smooth(
    x: Sequence[float], values: Sequence[float], weight: float, span: float | None = None
) -> list[float]:
    """W&B's time-weighted EMA (TWEMA), debiased as TensorBoard does: each step decays the
    running sums by weight ** (dx / span * 1000), so the smoothing follows the distance along
    x, not the number of points. Points 1/1000 of `span` apart (the chart's x range; default the
    series' own) get TensorBoard's EMA exactly; one point per epoch is barely smoothed. The
    result is a weighted mean of the values so far: never outside their range. Non-finite
    values pass through."""
    xs, values = [float(v) for v in x], [float(v) for v in values]
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing: {weight} is not in [0, 1)")
    finite = [a for a in xs if math.isfinite(a)]
    span = span if span and span > 0 else (max(finite) - min(finite) if finite else 0.0)
    if weight == 0 or span <= 0 or len(values) != len(xs):
        return values
    out, total, norm, last = [], 0.0, 0.0, None
    for a, v in zip(xs, values, strict=True):
        if not (math.isfinite(v) and math.isfinite(a)):
            out.append(v)
            continue
        decay = 0.0 if last is None else weight ** (max(a - last, 0.0) / span * SMOOTHING_SCALE)
        total, norm, last = total * decay + v, norm * decay + 1.0, a
        out.append(total / norm)
    return out


# -- the live view's numbers --------------------------------------------------------------------


def smoothed_throughput(progress: Any, history: Iterable[Any]) -> float | None:
    """Member-samples per second that do not jump at an epoch start: the current epoch's (noisy)
    rate blended with the previous epoch's by how much of this epoch is done."""
    if progress is None:
        return None
    current = as_float(progress.samples_per_s)
    done = progress.step / progress.steps if progress.steps else 1.0
    earlier = [
        r
        for r in history
        if r.model == progress.model and r.member == progress.member and r.epoch < progress.epoch
    ]
    previous = as_float(earlier[-1].samples_per_s) if earlier else None
    if previous is None or previous <= 0:
        return current
    if current is None or current <= 0:
        return previous
    return done * current + (1 - done) * previous


def for_people(values: Sequence[float | None], unit: str = "") -> list[str]:
    """Numbers as people read them, one precision for the whole column (from its largest
    value: 1,410 and 12, or 1.41 and 0.25), thousands separated; "" for a missing one."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    top = max(finite, default=0.0)
    digits = 0 if top >= 100 else 1 if top >= 10 else 2 if top >= 1 else 3
    return ["" if v is None else f"{v:,.{digits}f}{unit}" for v in values]


def accuracy_interval(acc: float | None, n: int | None) -> tuple[float, float] | None:
    """The 95% Wilson interval of an accuracy measured on n test images (scipy), or None."""
    if acc is None or not n or n <= 0 or not 0.0 <= acc <= 1.0:
        return None
    from scipy.stats import binomtest  # imported when an interval is drawn

    ci = binomtest(round(acc * n), n).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def busy(load_avg: Any, cpus: int | None) -> bool:
    """The machine was busy when the 1-minute load average exceeded its CPU count."""
    return machine_busy(as_float(load_avg), cpus)


# -- tables ----------------------------------------------------------------------------------


def results_table(results: pd.DataFrame) -> pd.DataFrame:
    """results.csv rows -> the side-by-side table (readable headers, numbers kept numeric)."""
    cols = [c for c in RESULT_TABLE if c in results]
    out = results[cols].copy()
    for c in cols:
        if c not in ("model", "status"):
            out[c] = pd.to_numeric(out[c], errors="coerce")
    out["model"] = out["model"].map(model_label)
    return out.rename(columns=RESULT_TABLE)


def run_key(run: Any) -> str:
    """A run's row key on the Runs page: its id, or sweep/cell for a sweep's cell (cell ids
    repeat from sweep to sweep)."""
    return f"{run.sweep}/{run.run_id}" if getattr(run, "sweep", "") else run.run_id


def runs_frame(runs: Iterable[Any], annotations: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per RunInfo: config, each kind's ensemble accuracy, total training time, tags and
    notes (annotations: run_id -> Annotations)."""
    annotations = annotations or {}
    records = []
    for r in runs:
        cfg = r.config if isinstance(r.config, dict) else {}
        note = annotations.get(run_key(r))
        row: dict[str, Any] = {
            "run_id": run_key(r),
            "status": r.status,
            "started": r.started,
            "tags": ", ".join(note.tags) if note is not None else "",
            "dataset": _short_dataset(cfg.get("dataset")),
            "arch": cfg.get("arch"),
            "models": ", ".join(cfg.get("models", []) or []),
            **{k: cfg.get(k) for k in ("members", "hidden", "layers", "epochs", "batch_size")},
            **{k: cfg.get(k) for k in ("lr", "seed", "device", "train_size")},
        }
        total = 0.0
        for res in r.results:
            kind = res.get("model", "")
            row[f"acc {kind}"] = as_float(res.get("ensemble_acc"))
            if kind == "batchensemble":
                row["BE params × single"] = as_float(res.get("params_rel_single"))
            total += as_float(res.get("train_seconds")) or 0.0
        row["train s (all)"] = total if r.results else None
        row["notes"] = note.notes if note is not None else ""
        row["note"] = r.reason
        row["sweep"] = getattr(r, "sweep", "") or None  # last: runs.csv keeps its column order
        records.append(row)
    df = pd.DataFrame(records)
    if not len(df):
        return df
    df["started"] = pd.to_datetime(df["started"], errors="coerce", utc=True)
    acc = [f"acc {k}" for k in MODEL_LABELS if f"acc {k}" in df]
    acc += sorted(c for c in df if c.startswith("acc ") and c not in acc)
    headline = ["run_id", "status", "started", "tags", "models", *acc]
    headline += [c for c in ("BE params × single", "train s (all)") if c in df]
    return df[headline + [c for c in df if c not in headline]]


RUNS_HEADERS = {  # runs_frame column -> the Runs table's header (acc <kind>: runs_header)
    "run_id": "Run id", "sweep": "Sweep", "status": "Status", "started": "Started", "tags": "Tags",
    "models": "Models", "BE params × single": "BatchEnsemble params × single",
    "train s (all)": "Training s (all models)", "dataset": "Dataset", "arch": "Architecture",
    "members": "Members (E)", "hidden": "Hidden width", "layers": "Layers", "epochs": "Epochs",
    "batch_size": "Batch", "lr": "Learning rate", "seed": "Seed", "device": "Device",
    "train_size": "Training images", "notes": "Notes", "note": "Status note",
}  # fmt: skip


def runs_header(column: str) -> str:
    """The Runs table's header of a runs_frame column: model labels, no internal names."""
    if column.startswith("acc "):
        return f"Accuracy, {model_label(column[4:])}"
    return RUNS_HEADERS.get(column, column)


def model_labels(models: Any) -> Any:
    """ "batchensemble, single" -> "BatchEnsemble, Single model" (anything else unchanged)."""
    if not isinstance(models, str) or not models:
        return models
    return ", ".join(model_label(m.strip()) for m in models.split(","))


def tag_filter(table: pd.DataFrame, tags: Iterable[str]) -> pd.DataFrame:
    """The runs carrying every one of `tags` (none given: all)."""
    wanted = set(tags)
    if not wanted or not len(table):
        return table
    have = table["tags"].fillna("").map(lambda s: {t.strip() for t in str(s).split(",")})
    return table[have.map(wanted.issubset)]


def all_tags(table: pd.DataFrame) -> list[str]:
    if not len(table) or "tags" not in table:
        return []
    found = {t.strip() for s in table["tags"].fillna("") for t in str(s).split(",")}
    return sorted(t for t in found if t)


# -- comparing runs ------------------------------------------------------------------------------

# the settings that make two runs' numbers comparable along the member count
COMPARE_SETTINGS = ("dataset", "arch", "hidden", "layers", "epochs", "batch_size", "lr", "seed")
COMPARE_SETTINGS += ("train_size", "test_size")


def compare_series(rows: pd.DataFrame, configs: dict[str, dict]) -> pd.DataFrame:
    """results rows (with run_id) plus a `series`: runs whose settings agree but for the member
    count share one (a line on the compare chart). configs: run_id -> config.json."""
    if rows is None or not len(rows):
        return pd.DataFrame(columns=[*rows.columns, "series"] if rows is not None else ["series"])

    def key(run_id: str) -> tuple:
        cfg = configs.get(run_id) or {}
        return tuple(str(cfg.get(s)) for s in COMPARE_SETTINGS)

    keys = {r: key(r) for r in dict.fromkeys(rows["run_id"])}
    numbers = {k: i for i, k in enumerate(dict.fromkeys(keys.values()))}
    return rows.assign(series=rows["run_id"].map(lambda r: numbers[keys[r]]))


def compare_rows(runs: dict[str, Any], ids: Iterable[str]) -> pd.DataFrame:
    """The results rows with an ensemble accuracy of the runs `ids`, with run_id and series."""
    ids = list(ids)
    rows = [
        {**res, "run_id": run_id}
        for run_id in ids
        for res in runs[run_id].results
        if res.get("ensemble_acc") not in (None, "")
    ]
    if not rows:
        return pd.DataFrame()
    return compare_series(pd.DataFrame(rows), {r: runs[r].config for r in ids})


def _short_dataset(value: Any) -> Any:
    """An image folder's path -> its last part (the table stays narrow)."""
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return value.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return value

"""Uncertainty under shift for one model: corrupted test sets, OOD sets, selective prediction.

Every set goes through the same `bedash.method.train.predict` path as the clean test set, one
corruption and severity at a time: CHUNK images at a time are corrupted into one reused uint8
buffer the size of the test set (30 MB for 10,000 images), which predict then evaluates in its
batches; only the logits `[E, N, C]` are kept, so memory stays flat however many sets there are.
Corrupted images are drawn per (corruption, severity, chunk) from their own seed, so every model
kind of a run sees the very same shifted images. The rows returned match bedash.names's
SHIFT_COLUMNS, OOD_COLUMNS, SELECTIVE_COLUMNS and UNCERTAINTY_COLUMNS.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from bedash.data.datasets import Dataset, Split
from bedash.method import intgemm
from bedash.method.fastpath import inference_pass
from bedash.method.metrics import ECE_BINS
from bedash.method.train import predict
from bedash.names import (
    OOD_COLUMNS,
    SELECTIVE_COLUMNS,
    SHIFT_COLUMNS,
    UNCERTAINTY_COLUMNS,
    parse_ood,
    parse_severities,
    parse_shift,
    validation_size,
)
from bedash.settings.config import RunConfig
from bedash.uncertainty.corruptions import CORRUPTION_NAMES, SEVERITIES, corrupt, corruption_seed
from bedash.uncertainty.ood import load_ood, ood_label
from bedash.uncertainty.scores import (
    aurc,
    entropy,
    fit_temperature,
    histogram,
    logit_entropy_terms,
    ood_metrics,
    selective_curve,
)

CHUNK = 1000  # images corrupted at once (fixed: the shifted images do not depend on it)
HIST_BINS = 30
COVERAGE_POINTS = 100
IN_DISTRIBUTION = "in_distribution"  # the clean test set's name in uncertainty_<model>.csv


@dataclass
class UncertaintyData:
    """What every model of a run is evaluated on (CPU tensors)."""

    test: Split  # the clean test split
    corruptions: tuple[str, ...] = ()
    severities: tuple[int, ...] = SEVERITIES
    ood: dict[str, Tensor] = field(default_factory=dict)  # label -> uint8 images
    val: Split | None = None  # held out of the training set: fit the temperature on it
    seed: int = 0

    @property
    def active(self) -> bool:
        return bool(self.corruptions or self.ood or self.val is not None)


@dataclass
class ModelUncertainty:
    shift: list[dict[str, Any]] = field(default_factory=list)
    ood: list[dict[str, Any]] = field(default_factory=list)
    selective: list[dict[str, Any]] = field(default_factory=list)
    histogram: list[dict[str, Any]] = field(default_factory=list)
    temperature: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per stage


def expand_corruptions(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """'all' -> every corruption; otherwise the names, in order, once each."""
    out: list[str] = []
    for n in names:
        for m in CORRUPTION_NAMES if n == "all" else (n,):
            if m not in out:
                out.append(m)
    return tuple(out)


def hold_out(dataset: Dataset, val_size: int, seed: int) -> tuple[Dataset, Split]:
    """Split val_size images off the training set (a seeded draw); the rest keep their order."""
    n = len(dataset.train)
    if not 0 < val_size < n:
        raise ValueError(f"val_size: must be from 1 to {n - 1} (the training set has {n} images)")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7 + 12345))
    keep = torch.zeros(n, dtype=torch.bool)
    keep[perm[val_size:]] = True
    tr = dataset.train
    val = Split(tr.x[~keep.to(tr.x.device)], tr.y[~keep.to(tr.y.device)])
    train = Split(tr.x[keep.to(tr.x.device)], tr.y[keep.to(tr.y.device)])
    info = {**dataset.info, "val_size": val_size}
    return Dataset(dataset.name, dataset.classes, train, dataset.test, info), val


def prepare(
    dataset: Dataset, *, corruptions: tuple[str, ...] = (),
    severities: tuple[int, ...] = SEVERITIES, ood: tuple[str, ...] = (),
    val: Split | None = None, seed: int = 0, data_dir: str | os.PathLike = "./data",
    download: bool = True,
) -> UncertaintyData:  # fmt: skip
    """Load every OOD set once (as many images as the test set), before anything is trained:
    a bad folder fails here (DatasetError naming `ood`), not after an hour of training."""
    test = dataset.test.to("cpu")
    n = len(test)
    sets: dict[str, Tensor] = {}
    for name in ood:
        label = ood_label(name)
        label = name if label in sets else label  # two folders of one name: the whole path
        sets[label] = load_ood(name, n, data_dir=data_dir, seed=seed, download=download)
    return UncertaintyData(
        test, expand_corruptions(corruptions), tuple(severities), sets,
        None if val is None else val.to("cpu"), seed,
    )  # fmt: skip


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def stream_logits(
    model: nn.Module, images: Tensor, batch_size: int, *, corruption: str | None = None,
    severity: int = 0, seed: int = 0, chunk: int = CHUNK, buffer: Tensor | None = None,
) -> Tensor:  # fmt: skip
    """Logits `[E, N, C]` (CPU) of uint8 images `[N, 3, 32, 32]` (CPU), corrupted chunk by
    chunk when a corruption is named: the shifted set is written into one uint8 buffer (`buffer`
    when given, reused from set to set), then goes through one predict call, as the clean test
    set does (a predict call per chunk costs its per-call set-up ten times over)."""
    device = _device(model)
    x = images
    if corruption is not None:
        x = buffer[: len(images)] if buffer is not None else torch.empty_like(images)
        for i, start in enumerate(range(0, len(images), chunk)):
            g = torch.Generator().manual_seed(corruption_seed(seed, corruption, severity, i))
            x[start : start + chunk] = corrupt(images[start : start + chunk], corruption,
                                               severity, g)  # fmt: skip
    dummy = torch.zeros(len(x), dtype=torch.int64, device=device)  # predict reads y's device
    with intgemm.integer_inputs():  # an MLP's first layer as exact integer products on a CPU
        logits, _ = predict(model, Split(x.to(device), dummy), batch_size)
    return logits


def scalar_metrics(logits: Tensor, labels: Tensor) -> dict[str, Any]:
    """acc, nll, ece, brier of the ensemble's mean probabilities, as bedash.method.metrics defines
    them (tested equal to compute_metrics), plus the per-image scores. One softmax serves
    everything: compute_metrics also works out votes, member and pairwise figures, which the
    42 shifted and OOD sets per model do not need."""
    z = logits.float()
    E, N, _ = z.shape
    labels = labels.long()
    lse = torch.logsumexp(z, dim=-1)  # (E, N)
    # the softmax from lse: the same values to a float32 rounding, and torch.softmax over a
    # last dimension of 10 classes is ~8x slower on a CPU (43 sets per model)
    p = (z - lse.unsqueeze(-1)).exp_()  # (E, N, C)
    logp_y = z.gather(2, labels.view(1, N, 1).expand(E, N, 1)).squeeze(2) - lse
    nll = -(torch.logsumexp(logp_y, dim=0) - math.log(E)).mean()
    pbar = p.mean(0)  # (N, C)
    conf, pred = pbar.max(-1)
    correct = pred == labels
    brier = (pbar.square().sum(1) - 2 * pbar.gather(1, labels[:, None]).squeeze(1) + 1).mean()
    ece = _ece(conf, correct)
    expected = (lse - (p * z).sum(-1)).mean(0)  # mean member entropy
    if E == 1:
        predictive, mi = expected, torch.zeros_like(expected)
    else:
        predictive = entropy(pbar)
        mi = (predictive - expected).clamp_(min=0.0)
    return {
        "acc": float(correct.float().mean()), "nll": float(nll), "ece": float(ece),
        "brier": float(brier), "entropy": predictive, "expected_entropy": expected,
        "mutual_info": mi, "confidence": conf, "correct": correct,
    }  # fmt: skip


def _ece(conf: Tensor, correct: Tensor, bins: int = ECE_BINS) -> float:
    """bedash.method.metrics' ECE (equal-width bins (lo, hi]) without its per-bin loop: the sum over
    bins of |sum of correct - sum of confidence| / N."""
    edges = torch.linspace(0, 1, bins + 1)
    idx = torch.bucketize(conf.float(), edges[1:-1], right=False)
    gap = torch.zeros(bins, dtype=torch.float64).index_add_(
        0, idx, correct.double() - conf.double()
    )
    return float(gap.abs().sum() / max(conf.numel(), 1))


def set_metrics(
    logits: Tensor, labels: Tensor, temperature: float | None = None
) -> tuple[dict[str, float], dict[str, Tensor]]:
    """A set's row (acc, nll, ece, brier, mean entropies, aurc; the same under a temperature
    when given, beside them) and its per-image scores."""
    m = scalar_metrics(logits, labels)
    row: dict[str, float] = {k: m[k] for k in ("acc", "nll", "ece", "brier")}
    for k in ("entropy", "expected_entropy", "mutual_info"):
        row[k] = float(m[k].mean())
    row["aurc"] = aurc(m["confidence"], m["correct"])
    if temperature is not None:
        mt = scalar_metrics(logits / temperature, labels)
        row.update(temperature=temperature, acc_ts=mt["acc"], nll_ts=mt["nll"],
                   ece_ts=mt["ece"], brier_ts=mt["brier"])  # fmt: skip
    scores = {k: m[k] for k in ("entropy", "mutual_info", "confidence", "correct")}
    return row, scores


def evaluate_model(
    model: nn.Module, kind: str, data: UncertaintyData, batch_size: int, *,
    clean_logits: Tensor | None = None, chunk: int = CHUNK,
    cancel: threading.Event | None = None,
) -> ModelUncertainty:  # fmt: skip
    """Every table of one model. clean_logits: the test logits when already computed. A set
    cancel event stops it between two sets (the rows so far are returned)."""
    with inference_pass():  # no weight changes in here: scale and split each weight only once
        return _evaluate_model(model, kind, data, batch_size, clean_logits, chunk, cancel)


def _evaluate_model(
    model: nn.Module, kind: str, data: UncertaintyData, batch_size: int,
    clean_logits: Tensor | None, chunk: int, cancel: threading.Event | None,
) -> ModelUncertainty:  # fmt: skip
    def stopped() -> bool:
        return cancel is not None and cancel.is_set()

    out = ModelUncertainty()
    t0 = time.perf_counter()
    if data.val is not None:
        val_logits = stream_logits(model, data.val.x, batch_size, chunk=chunk)
        out.temperature = fit_temperature(val_logits, data.val.y)
    out.seconds["temperature"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    labels = data.test.y
    if clean_logits is None:
        clean_logits = stream_logits(model, data.test.x, batch_size, chunk=chunk)
    clean, clean_scores = set_metrics(clean_logits, labels, out.temperature)
    out.shift.append({"model": kind, "corruption": "clean", "severity": 0, **clean})
    correct = clean_scores["correct"]
    out.selective = [
        {"model": kind, **r}
        for r in selective_curve(clean_scores["confidence"], correct, COVERAGE_POINTS)
    ]
    out.seconds["clean"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    per_severity: dict[int, list[dict[str, float]]] = {s: [] for s in data.severities}
    buffer = torch.empty_like(data.test.x) if data.corruptions else None  # one shifted set
    for name in data.corruptions:
        for sev in data.severities:
            if stopped():
                return out
            logits = stream_logits(model, data.test.x, batch_size, corruption=name, severity=sev,
                                   seed=data.seed, chunk=chunk, buffer=buffer)  # fmt: skip
            row, _ = set_metrics(logits, labels, out.temperature)
            out.shift.append({"model": kind, "corruption": name, "severity": sev, **row})
            per_severity[sev].append(row)
    if data.corruptions:
        for sev, rows in per_severity.items():  # every corruption was evaluated: not stopped
            mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
            out.shift.append({"model": kind, "corruption": "mean", "severity": sev, **mean})
    out.seconds["shift"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores = {IN_DISTRIBUTION: (clean_scores["entropy"], clean_scores["mutual_info"])}
    for label, images in data.ood.items():
        if stopped():
            return out
        logits = stream_logits(model, images, batch_size, chunk=chunk)
        predictive, _, mi = logit_entropy_terms(logits)  # OOD images have no labels
        scores[label] = (predictive, mi)
        for score, s_in, s_out in (
            ("entropy", clean_scores["entropy"], predictive),
            ("mutual_info", clean_scores["mutual_info"], mi),
        ):
            out.ood.append({"model": kind, "ood_set": label, "score": score,
                            **ood_metrics(s_in, s_out)})  # fmt: skip
    out.histogram = _histograms(kind, scores, num_classes=clean_logits.shape[-1])
    out.seconds["ood"] = time.perf_counter() - t0
    return out


def _histograms(
    kind: str, scores: dict[str, tuple[Tensor, Tensor]], num_classes: int
) -> list[dict[str, Any]]:
    """Entropy over [0, log C] and mutual information over [0, its largest value in any set]:
    the same bins for every set, so in-distribution and OOD compare bin by bin."""
    mi_max = max(float(mi.max()) for _, mi in scores.values() if mi.numel()) if scores else 0.0
    rows: list[dict[str, Any]] = []
    for label, (ent, mi) in scores.items():
        for quantity, values, upper in (
            ("entropy", ent, math.log(num_classes)),
            ("mutual_info", mi, mi_max if mi_max > 0 else 1e-6),
        ):
            for r in histogram(values, 0.0, upper, HIST_BINS):
                rows.append({"model": kind, "set": label, "quantity": quantity, **r})
    return rows


# -- a run's evaluation: from its RunConfig to its files -----------------------------------------


def prepare_run(
    cfg: RunConfig, dataset: Dataset, *, download: bool = True
) -> tuple[Dataset, UncertaintyData | None]:
    """Before training: hold the validation split out of the training set (temperature
    scaling) and load the OOD sets. Returns the dataset to train on, and what to evaluate
    (None when the run asks for none of it). Raises ConfigError (val_size) or DatasetError
    (ood) before anything is written."""
    corruptions = parse_shift(cfg.shift)
    severities = parse_severities(cfg.severities)
    ood = parse_ood(cfg.ood)
    val = None
    if cfg.temperature_scaling:
        n = validation_size(cfg.val_size, len(dataset.train))
        dataset, val = hold_out(dataset, n, cfg.seed)
    if not (corruptions or ood or val is not None):
        return dataset, None
    data = prepare(
        dataset, corruptions=corruptions, severities=severities, ood=ood, val=val,
        seed=cfg.seed, data_dir=cfg.data_dir, download=download,
    )  # fmt: skip
    return dataset, data


class UncertaintyTables:
    """Evaluates each model of a run and (re)writes shift.csv, ood.csv, selective.csv and
    uncertainty_<model>.csv with the run's RunWriter after each model: a later failure keeps
    what the earlier models wrote."""

    def __init__(self, writer: Any, data: UncertaintyData) -> None:
        self.writer, self.data = writer, data
        self.shift: list[dict[str, Any]] = []
        self.ood: list[dict[str, Any]] = []
        self.selective: list[dict[str, Any]] = []

    def add(
        self, kind: str, model: nn.Module, batch_size: int, *,
        clean_logits: Tensor | None = None, cancel: threading.Event | None = None,
    ) -> ModelUncertainty:  # fmt: skip
        res = evaluate_model(
            model, kind, self.data, batch_size, clean_logits=clean_logits, cancel=cancel
        )
        self.shift += res.shift
        self.ood += res.ood
        self.selective += res.selective
        w = self.writer
        w.write_table("shift.csv", SHIFT_COLUMNS, self.shift)
        w.write_table("selective.csv", SELECTIVE_COLUMNS, self.selective)
        if self.data.ood:
            w.write_table("ood.csv", OOD_COLUMNS, self.ood)
        if res.histogram:
            w.write_table(f"uncertainty_{kind}.csv", UNCERTAINTY_COLUMNS, res.histogram)
        return res

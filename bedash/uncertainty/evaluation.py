"""Uncertainty under shift for one model: corrupted test sets, OOD sets, selective prediction.

Every set goes through the same `predict` path as the clean test set, one at a time; only the
logits are kept, so memory stays flat however many sets there are. A shifted set is corrupted
CHUNK images at a time, each chunk from its own seed, into one reused buffer; it is built once
per run: later model kinds read the first one's images back from a temporary folder.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bedash.data.tensors import Dataset, Split
from bedash.method.metrics import ECE_BINS
from bedash.method.train import predict
from bedash.names import (
    BENCHMARK_CORRUPTIONS,
    CATEGORY_ROWS,
    CORRUPTION_CATEGORIES,
    MEAN_ROW,
    OOD_COLUMNS,
    SELECTIVE_COLUMNS,
    SHIFT_COLUMNS,
    UNCERTAINTY_COLUMNS,
    parse_shift,
)
from bedash.uncertainty.corruptions import SEVERITIES, corrupt, corruption_seed
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


class ShiftedSets:
    """The corrupted versions of one test set, (corruption, severity) -> uint8 images; with
    `keep`, each is written to a temporary folder on its first use and read back later."""

    def __init__(self, images: Tensor, seed: int, chunk: int = CHUNK, keep: bool = False):
        self.images, self.seed, self.chunk = images, seed, chunk
        self.buffer: Tensor | None = None  # allocated on the first set
        self.folder = tempfile.TemporaryDirectory(prefix="bedash-shifted-") if keep else None

    def get(self, corruption: str, severity: int) -> Tensor:
        """The shifted set, in the one buffer: valid until the next call."""
        if self.buffer is None:
            self.buffer = torch.empty_like(self.images)
        flat = self.buffer.view(-1).numpy()
        path = None
        if self.folder is not None:
            path = Path(self.folder.name) / f"{corruption}-{severity}.u8"
            if path.exists():
                with path.open("rb") as f:
                    if f.readinto(flat) == flat.nbytes:
                        return self.buffer
        for i, start in enumerate(range(0, len(self.images), self.chunk)):
            g = torch.Generator().manual_seed(corruption_seed(self.seed, corruption, severity, i))
            part = self.images[start : start + self.chunk]
            self.buffer[start : start + self.chunk] = corrupt(part, corruption, severity, g)
        if path is not None:
            flat.tofile(path)
        return self.buffer

    def close(self) -> None:
        """Delete the kept sets (also done when the object is garbage-collected)."""
        if self.folder is not None:
            self.folder.cleanup()


@dataclass
class UncertaintyData:
    """What every model of a run is evaluated on (CPU tensors)."""

    test: Split  # the clean test split
    shifted: ShiftedSets  # its corrupted versions
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
    """'all' -> the benchmark's corruptions, 'extra' -> the others; otherwise the names, in
    order, once each (names.parse_shift: an unknown name is a ConfigError, a ValueError)."""
    return parse_shift(",".join(names))


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
    dataset: Dataset,
    *,
    corruptions: tuple[str, ...] = (),
    severities: tuple[int, ...] = SEVERITIES,
    ood: dict[str, Tensor] | None = None,
    val: Split | None = None,
    seed: int = 0,
    chunk: int = CHUNK,
    keep: bool = False,
) -> UncertaintyData:
    """What to evaluate: the clean test set, its corrupted versions (built lazily), the OOD sets
    (label -> images) and the validation split. `keep`: more than one model will be evaluated."""
    test = dataset.test.to("cpu")
    shifted, names = ShiftedSets(test.x, seed, chunk, keep), expand_corruptions(corruptions)
    val = None if val is None else val.to("cpu")
    return UncertaintyData(test, shifted, names, tuple(severities), dict(ood or {}), val, seed)


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def logits_of(model: nn.Module, images: Tensor, batch_size: int) -> Tensor:
    """Logits `[E, N, C]` (CPU) of uint8 images `[N, 3, 32, 32]` (CPU): one predict call, as
    for the clean test set."""
    device = _device(model)
    dummy = torch.zeros(len(images), dtype=torch.int64, device=device)  # predict reads y's device
    logits, _ = predict(model, Split(images.to(device), dummy), batch_size)
    return logits


def scalar_metrics(logits: Tensor, labels: Tensor) -> dict[str, Any]:
    """acc, nll, ece, brier of the ensemble's mean probabilities (tested equal to
    compute_metrics, which also works out votes and member figures the shifted sets do not
    need), plus the per-image scores."""
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
    out: dict[str, Any] = {"acc": float(correct.float().mean()), "nll": float(nll), "ece": ece}
    out |= {"brier": float(brier), "entropy": predictive, "expected_entropy": expected}
    return out | {"mutual_info": mi, "confidence": conf, "correct": correct}


def _ece(conf: Tensor, correct: Tensor, bins: int = ECE_BINS) -> float:
    """bedash.method.metrics' ECE (equal-width bins (lo, hi]) without its per-bin loop."""
    edges = torch.linspace(0, 1, bins + 1)
    idx = torch.bucketize(conf.float(), edges[1:-1], right=False)
    gap = torch.zeros(bins, dtype=torch.float64)
    gap.index_add_(0, idx, correct.double() - conf.double())
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
        row["temperature"] = temperature
        row |= {f"{k}_ts": mt[k] for k in ("acc", "nll", "ece", "brier")}
    scores = {k: m[k] for k in ("entropy", "mutual_info", "confidence", "correct")}
    return row, scores


def evaluate_model(
    model: nn.Module,
    kind: str,
    data: UncertaintyData,
    batch_size: int,
    *,
    clean_logits: Tensor | None = None,
    cancel: threading.Event | None = None,
) -> ModelUncertainty:
    """Every table of one model. clean_logits: the test logits when already computed. A set
    cancel event stops it between two sets (the rows so far are returned)."""

    def stopped() -> bool:
        return cancel is not None and cancel.is_set()

    out = ModelUncertainty()
    t0 = time.perf_counter()
    if data.val is not None:
        val_logits = logits_of(model, data.val.x, batch_size)
        out.temperature = fit_temperature(val_logits, data.val.y)
    out.seconds["temperature"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    labels = data.test.y
    if clean_logits is None:
        clean_logits = logits_of(model, data.test.x, batch_size)
    clean, clean_scores = set_metrics(clean_logits, labels, out.temperature)
    out.shift.append({"model": kind, "corruption": "clean", "severity": 0, **clean})
    correct = clean_scores["correct"]
    out.selective = [
        {"model": kind, **r}
        for r in selective_curve(clean_scores["confidence"], correct, COVERAGE_POINTS)
    ]
    out.seconds["clean"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rows: dict[tuple[str, int], dict[str, float]] = {}
    for name in data.corruptions:
        for sev in data.severities:
            if stopped():
                return out
            logits = logits_of(model, data.shifted.get(name, sev), batch_size)
            rows[name, sev], _ = set_metrics(logits, labels, out.temperature)
            out.shift.append(
                {"model": kind, "corruption": name, "severity": sev, **rows[name, sev]}
            )
    out.shift += mean_rows(kind, rows, data.severities)  # every set was evaluated: not stopped
    out.seconds["shift"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores = {IN_DISTRIBUTION: (clean_scores["entropy"], clean_scores["mutual_info"])}
    for label, images in data.ood.items():
        if stopped():
            return out
        logits = logits_of(model, images, batch_size)
        predictive, _, mi = logit_entropy_terms(logits)  # OOD images have no labels
        scores[label] = (predictive, mi)
        for score, s_in, s_out in (
            ("entropy", clean_scores["entropy"], predictive),
            ("mutual_info", clean_scores["mutual_info"], mi),
        ):
            out.ood.append(
                {"model": kind, "ood_set": label, "score": score, **ood_metrics(s_in, s_out)}
            )
    out.histogram = _histograms(kind, scores, num_classes=clean_logits.shape[-1])
    out.seconds["ood"] = time.perf_counter() - t0
    return out


def mean_rows(
    kind: str, rows: dict[tuple[str, int], dict[str, float]], severities: tuple[int, ...]
) -> list[dict[str, Any]]:
    """Per severity, the mean row over the benchmark's corruptions evaluated (MEAN_ROW; the
    extras are not counted) and one over each category's (CATEGORY_ROWS), where any was."""
    out: list[dict[str, Any]] = []
    groups = {MEAN_ROW: BENCHMARK_CORRUPTIONS}
    groups |= {row: CORRUPTION_CATEGORIES[c] for row, c in CATEGORY_ROWS.items()}
    for label, members in groups.items():
        for sev in severities:
            got = [r for (name, s), r in rows.items() if s == sev and name in members]
            if got:
                mean = {k: sum(r[k] for r in got) / len(got) for k in got[0]}
                out.append({"model": kind, "corruption": label, "severity": sev, **mean})
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


class UncertaintyTables:
    """Evaluates each model of a run and rewrites the run's uncertainty tables after each one:
    a later failure keeps what the earlier models wrote."""

    def __init__(self, writer: Any, data: UncertaintyData) -> None:
        self.writer, self.data = writer, data
        self.shift: list[dict[str, Any]] = []
        self.ood: list[dict[str, Any]] = []
        self.selective: list[dict[str, Any]] = []

    def add(
        self,
        kind: str,
        model: nn.Module,
        batch_size: int,
        *,
        clean_logits: Tensor | None = None,
        cancel: threading.Event | None = None,
    ) -> ModelUncertainty:
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

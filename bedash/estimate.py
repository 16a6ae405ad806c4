"""How long a run takes: the one estimator behind every ETA (the CLI's bar, a sweep's bar, the
Experiment page's live view) and every "about how long" shown before Start.

Work is counted in member-images (images x members, per model kind) times a model's cost per
image (multiply-adds of one member's forward pass); evaluation counts its forward passes at a
third of a training step's cost (forward only, no backward). Seconds come from a measured
speed: while a run trains, each kind's own (a kind still to come: the last kind measured);
before Start, the speed an earlier run on this machine measured (`speed_of`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

FULL_SPLITS = (50_000, 10_000)  # a dataset's (train, test) images when the size is "all"
EVAL_PASSES = 4  # the evaluation's passes over the test split: a warm-up and three timed
EVAL_SHARE = 1 / 3  # a forward pass costs about a third of a training step (forward, backward)


def cost(cfg: Any) -> float:
    """Multiply-adds of one member's forward pass on one 32 x 32 RGB image: its convolutions and
    linear layers (bedash.method.models; tests/test_estimate.py counts the built models with
    torch's FlopCounterMode). A formula, not a count, so an estimate before Start imports no
    torch."""
    h = cfg.hidden
    if cfg.arch == "resnet":
        w = cfg.width
        # a 3x3 conv of c channels on n pixels costs 9 c^2 n; c doubles as n quarters, so each
        # stage's c -> c conv costs 9 U, and its 2c -> c or c -> 2c conv 4.5 U (U = w^2 1024)
        # depth 9: five layers of 18 U (a c -> 2c conv, or a residual pair of c -> c convs);
        # depth 18: 4 convs of 9 U, then per stage 3 of 9 U, one of 4.5 U and a 1x1 of 0.5 U
        units = 90 if str(cfg.depth) == "9" else 36 + 3 * 32
        return 27 * w * 1024 + units * w * w * 1024 + 8 * w * 10  # stem, body, linear head
    if cfg.arch == "cnn":
        c = cfg.channels
        convs = 9 * (3 * c * 1024 + c * 2 * c * 256 + 2 * c * 4 * c * 64)
        return convs + 4 * c * 16 * h + 10 * h
    return 3072 * h + (cfg.layers - 1) * h * h + 10 * h


@dataclass(frozen=True)
class Plan:
    """A run's work per model kind, in member-images of training (evaluation as training's)."""

    kinds: tuple[str, ...]
    train: tuple[float, ...]
    evals: tuple[float, ...]

    @classmethod
    def of(cls, cfg: Any) -> Plan:
        n_train = cfg.train_size or FULL_SPLITS[0]
        n_test = cfg.test_size or FULL_SPLITS[1]
        e = [1 if k == "single" else cfg.members for k in cfg.models]  # models trained
        return cls(
            tuple(cfg.models),
            tuple(m * n_train * cfg.epochs for m in e),
            tuple(m * n_test * EVAL_PASSES * EVAL_SHARE for m in e),
        )


@dataclass(frozen=True)
class Speed:
    """Work per second per kind (member-images x cost per image), and where it was measured."""

    rates: Mapping[str, float]
    source: str

    def seconds(self, cfg: Any) -> float:
        """The whole run's seconds at this speed (a kind it did not measure: their mean)."""
        plan, unit = Plan.of(cfg), cost(cfg)
        mean = sum(self.rates.values()) / len(self.rates)
        return sum(
            (t + v) * unit / self.rates.get(k, mean)
            for k, t, v in zip(plan.kinds, plan.train, plan.evals, strict=True)
        )


# Measured on two busy CPU cores by the run recorded in tests/fixtures/eta_trace.json (the
# parallel ensemble: as the sequential one); used until a run on this machine measured its own.
ASSUMED = Speed(
    {"batchensemble": 5.0e9, "ensemble": 4.0e9, "ensemble_parallel": 4.0e9, "single": 4.2e9},
    "a reference run on two busy CPU cores, none having finished here yet",
)


def speed_of(config: Mapping[str, Any], results: list[Mapping[str, Any]], source: str) -> Speed:
    """The speed a finished run measured (config.json and results.csv's rows): its training
    samples per second per kind times its cost per image. ASSUMED where it measured none."""
    from types import SimpleNamespace

    try:
        unit = cost(SimpleNamespace(**config))
    except (TypeError, AttributeError):  # an older or damaged config
        return ASSUMED
    rates = {
        str(r["model"]): float(r["member_samples_per_s"]) * unit
        for r in results
        if r.get("status") == "finished" and (r.get("member_samples_per_s") or 0) > 0
    }
    return Speed(rates, source) if rates else ASSUMED


class RunEta:
    """The seconds left of a run, from its training events (Callback's methods, duck-typed):
    each kind's measured speed, the evaluation's share scaled by what the first evaluation took.
    It never rises: a new estimate above the last one shown is not shown."""

    def __init__(self, cfg: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.plan, self.clock = Plan.of(cfg), clock
        self.index, self.fraction, self.started = 0, 0.0, clock()
        self.trained_at: float | None = None  # when the current kind's training ended
        self.rates: dict[int, float] = {}  # kind index -> member-images trained per second
        self.eval_scale = 1.0  # measured evaluation seconds / modelled ones
        self.best = math.inf

    def on_model_start(self, model: str, info: dict) -> None:
        self.index, self.fraction = int(info.get("index", 0)), 0.0
        self.started, self.trained_at = self.clock(), None

    def on_progress(self, p: Any) -> float:
        now, self.fraction = self.clock(), min(max(p.fraction, 0.0), 1.0)
        if now > self.started and self.fraction > 0:
            trained = self.fraction * self.plan.train[self.index]
            self.rates[self.index] = trained / (now - self.started)
        if self.fraction >= 1.0 and self.trained_at is None:
            self.trained_at = now
        return self.seconds()

    def on_model_end(self, model: str, result: dict) -> None:
        rate = self.rates.get(self.index)
        modelled = self.plan.evals[self.index] / rate if rate else 0.0
        if self.trained_at is not None and modelled > 0:
            self.eval_scale = (self.clock() - self.trained_at) / modelled
        self.index, self.fraction, self.trained_at = self.index + 1, 0.0, None

    def seconds(self) -> float:
        """The estimate now: inf until a speed is measured."""
        i, plan = self.index, self.plan
        rate = self.rates.get(i) or next(reversed(self.rates.values()), None)
        if i >= len(plan.train):  # every kind trained and evaluated
            self.best = 0.0
        if not rate or i >= len(plan.train):
            return self.best
        left = plan.train[i] * (1 - self.fraction) + sum(plan.train[i + 1 :])
        left += self.eval_scale * sum(plan.evals[i:])
        self.best = min(self.best, left / rate)
        return self.best


def remaining(done: float, total: float, elapsed: float) -> float:
    """Seconds left of work done at a steady pace: `done` of `total` took `elapsed` (inf until
    some is done). A sweep's cells and a model's steps."""
    return elapsed / done * (total - done) if done > 0 else math.inf

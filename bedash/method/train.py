"""One training loop for every model kind, with callbacks and a cancel flag. Loss = mean over
members of each member's cross-entropy (the seed's; never the averaged prediction's). Losses stay
on the device, read only at log points (about twice a second) and epoch ends, so a CUDA step
never waits for the host."""

from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from bedash.data.batches import Batcher
from bedash.data.tensors import Split, normalize
from bedash.estimate import remaining
from bedash.method.layers import fast_weights
from bedash.names import EpochRecord, Progress  # the records every front end reads


class Callback:
    """Override what you need; every method is called from the training thread."""

    def on_progress(self, p: Progress) -> None: ...

    def on_epoch(self, records: list[EpochRecord]) -> None:
        """The rows of one finished epoch: the whole model first, then each member."""

    def on_model_start(self, model: str, info: dict) -> None: ...

    def on_model_end(self, model: str, result: dict) -> None: ...

    def on_status(self, message: str) -> None: ...


@dataclass
class FitResult:
    status: str  # finished | cancelled | diverged
    seconds: float
    epochs_done: int
    losses: list[float] = field(default_factory=list)  # whole-model loss per epoch
    member_losses: list[list[float]] = field(default_factory=list)  # per epoch, per member
    epoch_seconds: list[float] = field(default_factory=list)
    member_samples: int = 0  # images x members trained on, over every step taken


class Clock:
    """Shared across the members of a sequential ensemble, so ETA covers all of them."""

    def __init__(self, total_steps: int) -> None:
        self.total, self.done, self.start = total_steps, 0, time.perf_counter()

    def eta(self) -> float:
        return remaining(self.done, self.total, time.perf_counter() - self.start)


class OptimizerSettings(Protocol):
    """What the optimizer reads of a RunConfig (the method never imports the settings)."""

    lr: float
    weight_decay: float
    fast_lr_mult: float

    def chosen(self, name: str) -> str: ...  # "optimizer": adam or sgd (auto resolved)


MOMENTUM = 0.9  # SGD's Nesterov momentum (Page's ResNet-9 recipe)
PEAK = 5 / 24  # one-cycle: the rate rises linearly to its peak at 5 of 24 epochs, then falls
DIV = 1e4  # ... from lr / DIV, and back to lr / DIV**2: from and to nearly 0, as Page's


def make_optimizer(
    model: nn.Module, cfg: OptimizerSettings, capturable: bool = False
) -> torch.optim.Optimizer:
    """adam: fused Adam; weight decay on every parameter but the fast weights (the seed's).
    sgd: SGD with Nesterov momentum; weight decay only on conv and linear weights (no decay
    on biases and BatchNorm, as He et al.'s "bag of tricks", nor on fast weights). Fast weights
    get lr x fast_lr_mult. `capturable` (CUDA, Adam): the step can be recorded in a CUDA graph."""
    fast = list(fast_weights(model))
    fast_ids = {id(p) for p in fast}
    rest = [p for p in model.parameters() if id(p) not in fast_ids]
    fast_group = {"params": fast, "lr": cfg.lr * cfg.fast_lr_mult, "weight_decay": 0.0}
    if cfg.chosen("optimizer") == "sgd":
        groups = [
            {"params": [p for p in rest if p.ndim > 1], "weight_decay": cfg.weight_decay},
            {"params": [p for p in rest if p.ndim <= 1], "weight_decay": 0.0},
            fast_group,
        ]
        groups = [g for g in groups if g["params"]]
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=MOMENTUM, nesterov=True)
    groups = [{"params": rest, "weight_decay": cfg.weight_decay}] + ([fast_group] if fast else [])
    return torch.optim.Adam(groups, lr=cfg.lr, fused=True, capturable=capturable)


def make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """SGD's one-cycle learning rate over `total_steps` steps (torch's OneCycleLR, linear, each
    group peaking at its own lr); None for Adam, whose rate stays constant (the seed's)."""
    if not isinstance(optimizer, torch.optim.SGD):
        return None
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[g["lr"] for g in optimizer.param_groups],
        total_steps=max(total_steps, 1),
        pct_start=PEAK,
        anneal_strategy="linear",
        cycle_momentum=False,
        div_factor=DIV,
        final_div_factor=DIV,
    )


class Stepper:
    """One training step from a batch's indices -> the per-member losses `(E,)` on the device.
    With `graph=True` (CUDA), after three warm-up steps the whole step (gather included) is
    captured once as a CUDA graph and replayed: one launch per step instead of dozens, which is
    what small models on a fast GPU are limited by. A partial last batch runs eagerly.
    `scheduler` steps after every optimizer step (no CUDA graph then: a graph keeps its lr).
    `mixed_precision` (CUDA): the forward in bf16 autocast, inputs channels_last."""

    WARMUP = 3

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        batcher: Batcher,
        *,
        split: bool = False,
        loss_scale: float = 1.0,
        graph: bool = False,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        label_smoothing: float = 0.0,
        mixed_precision: bool = False,
    ) -> None:
        self.model, self.optimizer, self.batcher = model, optimizer, batcher
        self.split, self.loss_scale = split, loss_scale
        self.scheduler, self.label_smoothing = scheduler, label_smoothing
        cuda = batcher.split.y.device.type == "cuda"
        self.graph = graph and cuda and scheduler is None
        self.mixed_precision = mixed_precision and cuda
        self.calls = 0
        self._graph: torch.cuda.CUDAGraph | None = None
        self._idx: torch.Tensor | None = None
        self._loss: torch.Tensor | None = None

    def _compute(self, idx: torch.Tensor) -> torch.Tensor:
        xb, yb = self.batcher.batch(idx)
        if self.mixed_precision:
            xb = xb.contiguous(memory_format=torch.channels_last)
        # no autocast cache: a CUDA graph (Adam) cannot capture one
        with torch.autocast("cuda", torch.bfloat16, self.mixed_precision, cache_enabled=False):
            out = self.model(xb, split=True) if self.split else self.model(xb)  # (E, b, C)
        E, b = out.shape[0], out.shape[1]
        target = yb[: E * b].view(E, b) if self.split else yb.expand(E, b)
        ce = F.cross_entropy(
            out.float().flatten(0, 1),
            target.reshape(-1),
            reduction="none",
            label_smoothing=self.label_smoothing,
        )
        member_loss = ce.view(E, b).mean(1)  # (E,)
        loss = member_loss.mean()
        if self.loss_scale != 1.0:
            loss = loss * self.loss_scale
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return member_loss.detach()

    def _eager(self, idx: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)  # fresh grads: never add to a graph's
        return self._compute(idx)

    def __call__(self, idx: torch.Tensor) -> torch.Tensor:
        full = idx.numel() == self.batcher.batch_size
        if not (self.graph and full):
            return self._eager(idx)
        self.calls += 1
        if self._graph is not None:
            self._idx.copy_(idx)
            self._graph.replay()
            return self._loss
        if self.calls <= self.WARMUP:  # real steps, on a side stream as CUDA graphs require
            side = _side_stream(idx.device)
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loss = self._eager(idx)
            torch.cuda.current_stream().wait_stream(side)
            return loss
        self._idx = idx.clone()
        self.optimizer.zero_grad(set_to_none=True)  # captured backward writes, not adds
        graph = torch.cuda.CUDAGraph()
        # thread_local: another thread's CUDA work (a second job) must not break the capture
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self._loss = self._compute(self._idx)
        self._graph = graph
        graph.replay()  # capturing records the step; replaying runs it
        return self._loss


@functools.cache
def _side_stream(device: torch.device) -> torch.cuda.Stream:
    """One warm-up stream per device for every Stepper. A fresh stream per fit made cuBLAS
    allocate a new workspace for each (kept until the process ends): 2.3 GB after a benchmark."""
    return torch.cuda.Stream(device)


def fit(
    model: nn.Module,
    batcher: Batcher,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    name: str,
    member: int | None = None,
    split: bool = False,
    loss_scale: float = 1.0,
    graph: bool = False,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    label_smoothing: float = 0.0,
    mixed_precision: bool = False,
    callback: Callback | None = None,
    cancel: threading.Event | None = None,
    clock: Clock | None = None,
    log_interval: float = 0.5,
) -> FitResult:
    """Train a model that maps `[B, ...]` to `[E, B, C]`. `split`: member k sees only its 1/E
    slice of each batch. `loss_scale` multiplies the mean member loss (ensemble_parallel uses E,
    so every member gets exactly the gradient it would get alone). `graph`: replay the step as
    a CUDA graph (CUDA only; the optimizer must be capturable, see make_optimizer). `scheduler`
    (make_scheduler), `label_smoothing` (the loss's), `mixed_precision` (CUDA: bf16 autocast,
    channels_last model and inputs): the ResNet recipe's, see Stepper."""
    cb = callback or Callback()
    E = model.members
    steps = len(batcher)
    clock = clock or Clock(epochs * steps)
    device = batcher.split.y.device
    step_fn = Stepper(
        model,
        optimizer,
        batcher,
        split=split,
        loss_scale=loss_scale,
        graph=graph,
        scheduler=scheduler,
        label_smoothing=label_smoothing,
        mixed_precision=mixed_precision,
    )
    if step_fn.mixed_precision:
        model.to(memory_format=torch.channels_last)  # in place: the caller's model too
    result = FitResult("finished", 0.0, 0)

    def report(epoch: int, step: int, loss: float, elapsed: float, rate: float) -> None:
        eta, done = clock.eta(), clock.done / clock.total
        cb.on_progress(
            Progress(name, member, epoch, epochs, step, steps, loss, elapsed, eta, rate, done)
        )

    t_start = time.perf_counter()
    model.train()
    for epoch in range(1, epochs + 1):
        t0 = last_log = time.perf_counter()
        loss_sum = torch.zeros(E, device=device)  # per-member sum of batch losses
        images = taken = 0  # images each member trained on; steps taken
        for step, idx in enumerate(batcher.indices(epoch), 1):
            if cancel is not None and cancel.is_set():
                return _ended(result, "cancelled", t_start)
            clock.done += 1
            rows = idx.numel() // E if split else idx.numel()  # each member's share
            if rows == 0:  # split, a last batch with fewer rows than members: none gets one
                continue
            loss_sum += step_fn(idx)
            images += rows
            taken += 1
            result.member_samples += rows * E
            now = time.perf_counter()
            if now - last_log >= log_interval:
                last_log = now
                running = float(loss_sum.mean()) / taken  # the only host sync between epochs
                if not math.isfinite(running):
                    return _ended(result, "diverged", t_start)
                report(epoch, step, running, now - t_start, images * E / (now - t0))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        per_member = (loss_sum / taken).tolist()  # the mean over the batches trained on
        mean_loss = sum(per_member) / E
        if not math.isfinite(mean_loss):
            return _ended(result, "diverged", t_start)
        result.epochs_done = epoch
        result.losses.append(mean_loss)
        result.member_losses.append(per_member)
        result.epoch_seconds.append(seconds)
        rate = images * E / seconds
        records = [EpochRecord(name, member, epoch, mean_loss, seconds, rate)]
        if E > 1:
            records += [
                EpochRecord(name, k, epoch, v, seconds, rate) for k, v in enumerate(per_member)
            ]
        cb.on_epoch(records)
        report(epoch, steps, mean_loss, time.perf_counter() - t_start, rate)
    result.seconds = time.perf_counter() - t_start
    return result


def _ended(result: FitResult, status: str, t_start: float) -> FitResult:
    result.status = status
    result.seconds = time.perf_counter() - t_start
    return result


def predict(model: nn.Module, split: Split, batch_size: int) -> tuple[torch.Tensor, float]:
    """Logits `[E, N, C]` (on the CPU) of a whole split, and the forward passes' seconds (copying
    to the host excluded). Runs the model's `predict_shared` where it has one."""
    model.eval()
    shared = getattr(model, "predict_shared", None)
    device = split.y.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        batches = (normalize(split.x[i : i + batch_size]) for i in range(0, len(split), batch_size))
        chunks = list(shared(batches)) if shared else [model(x) for x in batches]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    # concatenated outside inference mode: an ordinary tensor, which autograd may use later
    return torch.cat(chunks, dim=1).float().cpu(), seconds


def predict_timed(
    model: nn.Module, split: Split, batch_size: int, repeats: int = 3
) -> tuple[torch.Tensor, list[float]]:
    """predict's logits and the seconds of `repeats` timed passes after one warm-up pass (lazy
    kernels, allocator, caches): one pass alone is at the mercy of whatever else the machine
    does; report the median. Only the warm-up's logits are kept: memory stays one pass's."""
    logits, _ = predict(model, split, batch_size)
    return logits, [predict(model, split, batch_size)[1] for _ in range(repeats)]

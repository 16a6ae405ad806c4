"""Inference shortcuts for the member-major layers: same numbers as layers.py's math, less work.

In inference every member reads the same input, so the wrapper's `[E*B, ...]` input is E copies
of one `[B, ...]` batch. A layer fed exactly that tensor can compute from the batch once:
scale the shared weight by s_i (E scaled kernels, one GEMM or one convolution) instead of
scaling E copies of x. A model that declares `feeds_input_to_first_layer` (bedash's MLP and
CNN) skips even the E copies: a third of a BatchEnsemble's evaluation time on a CPU.

Nothing here changes a result: tests/test_layers.py runs every layer kind both ways.

The scaled weights are kept only for one inference pass (`inference_pass()`, opened by
`bedash.method.train.predict` around all the batches of one call): the weights cannot change inside
it, so a cached value is never stale. A cache keyed on tensor versions was: a fused Adam step,
a `.data` edit and a CUDA graph replay change a weight without bumping its `_version`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bedash.method import intgemm

if TYPE_CHECKING:
    from bedash.method.layers import (
        BatchEnsembleConv2d,
        BatchEnsembleLinear,
        StackedConv2d,
        StackedLinear,
    )


# -- the shared input --------------------------------------------------------------------------


@dataclass
class _TiledInput:
    """The wrapper's expanded input `tiled` (E copies of `source`), so that in inference a
    layer fed exactly that tensor can use `source` once instead of E copies (same result)."""

    tiled: Tensor
    source: Tensor
    version: int
    members: int
    used: bool = False  # a layer took `source` instead of reading `tiled`

    def source_for(self, x: Tensor) -> Tensor | None:
        """`source` shaped like one member's block of x, if x is still the unmodified tiled
        input (a view of it: same storage and size, no in-place change since); else None."""
        t = self.tiled
        if (
            x.data_ptr() != t.data_ptr()
            or x.numel() != t.numel()
            or not x.is_contiguous()
            or x.is_inference()
            or x._version != self.version
            or x.shape[0] % self.members
        ):
            return None
        self.used = True
        return self.source.reshape(x.shape[0] // self.members, *x.shape[1:])


# set by infer_shared for the duration of one forward pass (per thread)
_TILED: contextvars.ContextVar[_TiledInput | None] = contextvars.ContextVar("tiled", default=None)


def applies(x: Tensor, members: int) -> bool:
    """Whether a member-major wrapper may run `x` through `infer_shared`."""
    return members > 1 and not torch.is_grad_enabled() and not x.is_inference()


def infer_shared(model: nn.Module, x: Tensor, members: int) -> Tensor:
    """`model` on E copies of x `[B, ...]` -> `[E*B, ...]` output, letting the first layer
    compute from x once. With `feeds_input_to_first_layer` the copies are not even made; should
    the first layer not take the shortcut after all, the pass is redone on real copies: never a
    wrong result."""
    E, B = members, x.shape[0]
    src = x.contiguous()
    shape = (E * B, *x.shape[1:])
    declared = getattr(model, "feeds_input_to_first_layer", False)
    for tile in (False, True) if declared else (True,):
        if tile:
            xm = x.unsqueeze(0).expand(E, *x.shape).reshape(shape)
        else:  # never read: the first layer takes src (checked by `used` below)
            xm = torch.empty(shape, dtype=x.dtype, device=x.device)
        tiled = _TiledInput(xm, src, xm._version, E)
        token = _TILED.set(tiled)
        try:
            out = model(xm)
        finally:
            _TILED.reset(token)
        if tile or tiled.used:
            return out
    raise AssertionError("unreachable")


def _shared_source(x: Tensor, E: int) -> Tensor | None:
    """The one batch x is E copies of, or None (training, or x is not the wrapper's input)."""
    if torch.is_grad_enabled():  # training: always the general path
        return None
    tiled = _TILED.get()
    if tiled is None or tiled.members != E:
        return None
    return tiled.source_for(x)


# -- the scaled weights, kept for one inference pass -----------------------------------------

_PASS: contextvars.ContextVar[dict[tuple[int, str], tuple[nn.Module, object]] | None] = (
    contextvars.ContextVar("inference_pass", default=None)
)


@contextlib.contextmanager
def inference_pass() -> Iterator[None]:
    """Keep each layer's scaled weight from its first batch to the last batch of this block;
    drop them all at its end. Open it only where the weights cannot change (one predict call,
    or the uncertainty evaluation's 40-odd sets): evaluating a test set batch by batch then
    scales each weight once, not once a batch. Inside an open pass, a nested one adds nothing."""
    if _PASS.get() is not None:
        yield
        return
    token = _PASS.set({})
    try:
        yield
    finally:
        _PASS.reset(token)


def _scaled(layer: nn.Module, make: Callable[[], Any], tag: str = "scaled") -> Any:
    """make() (the layer's weight scaled by its factors, or what `tag` names), kept for the
    open inference pass; outside one it is computed afresh on every call."""
    cache = _PASS.get()
    if cache is None:
        return make()
    key = (id(layer), tag)
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = (layer, make())  # holding the layer keeps its id unique
    return hit[1]


def _first_linear(
    layer: nn.Module, x: Tensor, weight: Callable[[], Tensor], bias: Tensor | None = None
) -> Tensor:
    """F.linear(x, weight(), bias) for x [N, K]: as intgemm's integer products when x is
    a marked normalize(uint8) batch (the uncertainty evaluation), else exactly F.linear."""
    raw = intgemm.raw_for(x)
    if raw is not None:
        digits = _scaled(layer, lambda: intgemm.decompose(weight()), tag="digits")
        if digits is not None:
            h = intgemm.linear(raw, digits)
            return h if bias is None else h.add_(bias)
    return F.linear(x, weight(), bias)


def plain_linear(layer: nn.Linear, x: Tensor) -> Tensor:
    """layer(x) for a plain nn.Linear (a single model's or a member's MLP): `_first_linear`."""
    return _first_linear(layer, x, lambda: layer.weight, layer.bias)


# -- each layer kind's shortcut: None where it does not apply ----------------------------------


def be_linear(layer: BatchEnsembleLinear, x: Tensor) -> Tensor | None:
    """(x * s_i) @ W.T for every member `(E, N, out)`, from the one shared batch."""
    E, out = layer.num_members, layer.out_features
    src = _shared_source(x, E)
    if src is None:
        return None

    # x = E copies of src: scale W by s_i instead of E copies of x
    def ws() -> Tensor:
        return _scaled(layer, lambda: (layer.weight * layer.s[:, None, :]).reshape(E * out, -1))

    h = _first_linear(layer, src.reshape(-1, layer.in_features), ws)  # (N, E*out): one GEMM
    return h.view(-1, E, out).transpose(0, 1).contiguous()  # (E, N, out)


def be_conv(layer: BatchEnsembleConv2d, x: Tensor) -> Tensor | None:
    """conv(x * s_i, W) for every member `(E, B, O, H', W')`, from the one shared batch."""
    E = layer.num_members
    src = _shared_source(x, E)
    if src is None:
        return None
    if layer.groups != 1:  # grouped: x * s_i from src, E groups of B
        xe = src.unsqueeze(0) * layer.s[:, None, :, None, None]
        h = layer._conv(xe.reshape(x.shape), layer.weight, None, layer.groups)
        return h.view(E, -1, *h.shape[1:])
    # x = E copies of src: one conv with E scaled kernels (E*O, C, k, k)
    w = _scaled(layer, lambda: (layer.weight[None] * layer.s[:, None, :, None, None]).flatten(0, 1))
    h = layer._conv(src, w, None, 1)  # (B, E*O, H', W')
    return h.unflatten(1, (E, layer.out_channels)).transpose(0, 1).contiguous()


def stacked_linear(layer: StackedLinear, x: Tensor) -> Tensor | None:
    """The layer's output for x, as one GEMM for all members over the one shared batch."""
    E = layer.num_members
    src = _shared_source(x, E)
    if src is None:
        return None
    b = None if layer.bias is None else layer.bias.flatten()
    w = layer.weight
    h = _first_linear(layer, src.reshape(-1, layer.in_features), lambda: w.flatten(0, 1), b)
    h = h.view(-1, E, layer.out_features).transpose(0, 1).contiguous()  # (E, N, out)
    return h.view(*x.shape[:-1], layer.out_features)


def stacked_conv(layer: StackedConv2d, x: Tensor) -> Tensor | None:
    """The layer's output for x, from the one shared batch: E x O kernels in one convolution."""
    E, out = layer.num_members, layer.out_channels
    src = _shared_source(x, E)
    if src is None:
        return None
    if layer.groups != 1:  # member e's group k must see group k: members as groups after all
        return layer._members_as_groups(src.unsqueeze(0).expand(E, *src.shape))
    b = None if layer.bias is None else layer.bias.flatten()
    h = layer._conv(src, layer.weight.flatten(0, 1), b, 1)  # (B, E*O, H', W')
    h = h.view(h.shape[0], E, out, *h.shape[2:]).transpose(0, 1)
    return h.reshape(-1, out, *h.shape[3:])

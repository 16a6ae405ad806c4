"""A first Linear layer on uint8 images as integer matrix products: the same numbers, faster.

The uncertainty evaluation runs 40-odd shifted and OOD sets through every model, and on a CPU
an MLP's first layer (3072 inputs) is nearly all of that time. Its inputs are uint8 pixels v, so
`normalize(v) = (2 (v - 128) + 1) / 255` and, for a weight W,

    W normalize(v) = (2/255) W (v - 128) + (1/255) W 1.

v - 128 is an int8. (2/255) W is split per output row into a scale and int8 digits in base 254:
three digits (24 significant bits, as many as a float32 has) for weights of one magnitude, a
fourth for a layer with a row whose largest weight dwarfs the rest. The product is then one int8
GEMM per digit, each summed exactly in int32 (torch._int_mm: about 5x a float32 GEMM on this
CPU's VNNI units), combined and scaled once. Measured against a float64 reference, the result is
at least as close as the float32 path's own (tests/test_intgemm.py); a 5-member BatchEnsemble's
pass over 10,000 CIFAR-sized images takes about 0.8x the float32 time on this CPU.

It is opt-in (`integer_inputs()`, opened by the evaluation around each set it streams) so
the timed inference of every model kind stays the plain float32 path. It applies only on the
CPU, without autograd, to finite float32 weights, and where the int32 sums cannot overflow;
anywhere else the caller takes the plain path.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

BASE = 254  # digits in [-127, 127]: a digit of 128 would not fit an int8
RESIDUAL = 2.0**-22  # the largest remainder left out, relative to a row's norm
MAX_DIGITS = 5
# |sum_k (v_k - 128) q_k| <= K * 128 * 127 must stay below 2**31
MAX_FEATURES = (2**31 - 1) // (128 * 127)


@dataclass(frozen=True)
class Digits:
    """A weight [O, K] as int8 digits for `linear`: q [K, n O] (n blocks of O columns, most
    significant first), scale [O] and const [O] = (1/255) sum_k W_jk."""

    q: Tensor
    scale: Tensor
    const: Tensor

    @property
    def out_features(self) -> int:
        return self.scale.numel()


def decompose(weight: Tensor) -> Digits | None:
    """weight's digits, or None where the integer path does not apply (not float32, not
    finite, or too many inputs for int32 sums): the caller then uses the float path."""
    if (
        weight.dtype != torch.float32
        or weight.device.type != "cpu"
        or weight.dim() != 2
        or weight.shape[1] > MAX_FEATURES
        or not bool(torch.isfinite(weight).all())
    ):
        return None
    w = weight.detach().double()
    wp = w * (2.0 / 255.0)
    scale = wp.abs().amax(dim=1, keepdim=True) / 127.0
    r = wp / scale.clamp(min=torch.finfo(torch.float64).tiny)  # a zero row: all digits 0
    norm = r.norm(dim=1)
    digits: list[Tensor] = []
    while True:
        d = r.round()
        digits.append(d)
        r = r - d  # what the digits so far leave out, in units of the last digit
        # enough digits once every row's remainder is below float32's own rounding (3 for
        # weights of one magnitude; a row with an outlier weight needs a 4th)
        if len(digits) >= 3 and bool(
            (r.norm(dim=1) <= RESIDUAL * norm * BASE ** (len(digits) - 1)).all()
        ):
            break
        if len(digits) == MAX_DIGITS:
            break
        r = r * BASE
    stacked = torch.cat(digits, dim=0).to(torch.int8).t()  # [K, n O]
    # a fresh row-major copy: .contiguous() keeps the strides of a [1, n O] transpose, which
    # _int_mm then misreads (garbage for a one-input layer)
    q = torch.empty(stacked.shape, dtype=torch.int8).copy_(stacked)
    return Digits(q, scale.squeeze(1).float(), (w.sum(dim=1) / 255.0).float())


def linear(raw: Tensor, digits: Digits) -> Tensor:
    """F.linear(normalize(raw), W) from uint8 raw [N, K] and W's digits -> float32 [N, O]."""
    centred = raw.reshape(raw.shape[0], -1).bitwise_xor(128).view(torch.int8)  # v - 128
    acc = torch._int_mm(centred, digits.q).float()  # [N, n O], each block exact in int32
    blocks = acc.split(digits.out_features, dim=1)
    out = blocks[-1]
    for block in reversed(blocks[:-1]):  # Horner's rule, least significant digit first
        out = out.div_(BASE).add_(block)
    return out.mul_(digits.scale).add_(digits.const)


# -- which float batch is normalize(raw) ---------------------------------------------------------

_ON: contextvars.ContextVar[bool] = contextvars.ContextVar("integer_inputs", default=False)
_SOURCE: contextvars.ContextVar[tuple[Tensor, Tensor, int] | None] = contextvars.ContextVar(
    "integer_source", default=None
)


@contextlib.contextmanager
def integer_inputs() -> Iterator[None]:
    """Let first Linear layers fed a registered normalize(uint8) batch use `linear`."""
    token = _ON.set(True)
    try:
        yield
    finally:
        _ON.reset(token)


@contextlib.contextmanager
def source(normalized: Tensor, raw: Tensor) -> Iterator[None]:
    """Mark `normalized` as normalize(raw) for one forward pass (bedash.method.train.predict); a
    no-op unless integer_inputs() is open and raw is a uint8 CPU batch."""
    if not _ON.get() or raw.dtype != torch.uint8 or raw.device.type != "cpu":
        yield
        return
    token = _SOURCE.set((normalized, raw, normalized._version))
    try:
        yield
    finally:
        _SOURCE.reset(token)


def raw_for(x: Tensor) -> Tensor | None:
    """The uint8 batch [N, K] that x [N, K] is normalize() of, if x is still that unmodified
    normalized batch (or a view of all of it) and autograd is off; else None."""
    marked = _SOURCE.get()
    if marked is None or torch.is_grad_enabled() or x.dim() != 2:
        return None
    normalized, raw, version = marked
    if (
        x.data_ptr() != normalized.data_ptr()
        or x.numel() != normalized.numel()
        or not x.is_contiguous()
        or normalized._version != version
        or x.shape[0] != raw.shape[0]
    ):
        return None
    return raw.reshape(x.shape[0], -1)

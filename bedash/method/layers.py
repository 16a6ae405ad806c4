"""BatchEnsemble and stacked-ensemble layers, and the transforms that put them into a model.

Layout (DESIGN.md §2): a wrapper expands the input once to member-major `[E*B, ...]` (rows
`k*B:(k+1)*B` belong to member k), the user's own `forward` runs unchanged, every layer here
views its input as `[E, B, ...]`, and the wrapper returns `[E, B, C]`.

Each forward here is the method's math. In inference every member reads the same batch; the
shortcuts that then compute it once (same numbers, less work) live in bedash/fastpath.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bedash.method import fastpath


def _member_view(x: Tensor, E: int, layer: str) -> Tensor:
    if x.shape[0] % E:
        raise ValueError(
            f"{layer}: the leading dimension ({x.shape[0]}) must be members x batch "
            f"(members = {E}); wrap the model with batchensemble() so inputs are expanded"
        )
    return x.view(E, x.shape[0] // E, *x.shape[1:])


def init_fast_weights(t: Tensor, mode: str, std: float) -> None:
    """Random +-1 signs (BatchEnsemble paper) or N(1, std), in place."""
    with torch.no_grad():
        if mode == "signs":
            t.copy_(torch.randint(0, 2, t.shape, device=t.device).to(t.dtype) * 2 - 1)
        elif mode == "normal":
            t.normal_(1.0, std)
        else:
            raise ValueError(f"fast_init: unknown value {mode!r}; allowed: signs, normal")


class BatchEnsembleLinear(nn.Module):
    """y_i = ((x * s_i) @ W.T) * r_i + b  (b shared, or b_i with per_member_bias)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_members: int,
        bias: bool = True,
        per_member_bias: bool = False,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.num_members = num_members
        self.per_member_bias = per_member_bias and bias
        self.weight = nn.Parameter(torch.empty(out_features, in_features))  # shared
        self.r = nn.Parameter(torch.ones(num_members, out_features))  # fast weights
        self.s = nn.Parameter(torch.ones(num_members, in_features))
        shape = (num_members, out_features) if self.per_member_bias else (out_features,)
        self.bias = nn.Parameter(torch.zeros(shape)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # nn.Linear's default

    @classmethod
    def from_linear(
        cls, layer: nn.Linear, num_members: int, per_member_bias: bool = False
    ) -> BatchEnsembleLinear:
        new = cls(
            layer.in_features, layer.out_features, num_members, layer.bias is not None,
            per_member_bias,
        )  # fmt: skip
        new.to(device=layer.weight.device, dtype=layer.weight.dtype)
        with torch.no_grad():
            new.weight.copy_(layer.weight)
            if layer.bias is not None:
                new.bias.copy_(layer.bias.expand_as(new.bias))
        return new

    def forward(self, x: Tensor) -> Tensor:
        E = self.num_members
        h = fastpath.be_linear(self, x)  # inference on E copies of one batch: the same, faster
        if h is None:
            xe = _member_view(x, E, "BatchEnsembleLinear").reshape(E, -1, self.in_features)
            h = F.linear(xe * self.s[:, None, :], self.weight)  # (E, N, out)
        r = self.r[:, None, :]
        if self.bias is None:
            h = h * r
        elif self.per_member_bias:
            h = torch.addcmul(self.bias[:, None, :], h, r)
        else:
            h = torch.addcmul(self.bias, h, r)  # one fused kernel for * r + b
        return h.view(*x.shape[:-1], self.out_features)

    def member_weight(self, i: int) -> Tensor:
        """The effective weight of member i: W * outer(r_i, s_i)."""
        return self.weight * torch.outer(self.r[i], self.s[i])

    def extra_repr(self) -> str:
        return (
            f"in={self.in_features}, out={self.out_features}, members={self.num_members}, "
            f"bias={'member' if self.per_member_bias else self.bias is not None}"
        )


class _ConvMixin:
    """Shared conv bookkeeping copied from an nn.Conv2d (stride, padding, padding mode...)."""

    def _copy_conv_args(self, conv: nn.Conv2d) -> None:
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.dilation = conv.kernel_size, conv.stride, conv.dilation
        self.padding, self.groups, self.padding_mode = conv.padding, conv.groups, conv.padding_mode
        self._pad = conv._reversed_padding_repeated_twice

    def _conv(self, x: Tensor, weight: Tensor, bias: Tensor | None, groups: int) -> Tensor:
        if self.padding_mode != "zeros":
            x = F.pad(x, self._pad, mode=self.padding_mode)
            return F.conv2d(x, weight, bias, self.stride, 0, self.dilation, groups)
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, groups)


class BatchEnsembleConv2d(_ConvMixin, nn.Module):
    """Conv2d with a shared kernel and per-member channel factors s_i (input), r_i (output)."""

    def __init__(self, conv: nn.Conv2d, num_members: int, per_member_bias: bool = False) -> None:
        super().__init__()
        self._copy_conv_args(conv)
        self.num_members = num_members
        has_bias = conv.bias is not None
        self.per_member_bias = per_member_bias and has_bias
        self.weight = nn.Parameter(conv.weight.detach().clone())
        dev, dt = conv.weight.device, conv.weight.dtype
        self.r = nn.Parameter(torch.ones(num_members, self.out_channels, device=dev, dtype=dt))
        self.s = nn.Parameter(torch.ones(num_members, self.in_channels, device=dev, dtype=dt))
        if has_bias:
            b = conv.bias.detach()
            b = b.expand(num_members, -1) if self.per_member_bias else b
            self.bias = nn.Parameter(b.clone())
        else:
            self.bias = None

    def forward(self, x: Tensor) -> Tensor:
        E = self.num_members
        he = fastpath.be_conv(self, x)  # inference on E copies of one batch: the same, faster
        if he is None:
            xe = _member_view(x, E, "BatchEnsembleConv2d")  # (E, B, C, H, W)
            xe = xe * self.s[:, None, :, None, None]
            h = self._conv(xe.reshape(x.shape), self.weight, None, self.groups)  # (E*B, O, H', W')
            he = h.view(E, -1, *h.shape[1:])  # (E, B, O, H', W')
        r = self.r[:, None, :, None, None]
        if self.bias is None:
            he = he * r
        elif self.per_member_bias:
            he = torch.addcmul(self.bias[:, None, :, None, None], he, r)
        else:
            he = torch.addcmul(self.bias[:, None, None], he, r)
        return he.flatten(0, 1)

    def member_weight(self, i: int) -> Tensor:
        """The effective kernel of member i: W * outer(r_i, s_i) over (out, in) channels."""
        if self.groups != 1:
            raise NotImplementedError("member_weight is defined for groups=1")
        return self.weight * torch.outer(self.r[i], self.s[i])[:, :, None, None]


def _stacked(mods: Sequence[nn.Module], attr: str) -> nn.Parameter | None:
    """The members' parameter `attr` stacked along a new first dim (E, ...); None if absent."""
    if getattr(mods[0], attr) is None:
        return None
    return nn.Parameter(torch.stack([getattr(m, attr).detach() for m in mods]).clone())


class StackedLinear(nn.Module):
    """E independent Linear layers as one batched matmul: weight (E, out, in), bias (E, out)."""

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.num_members = len(layers)
        self.in_features, self.out_features = layers[0].in_features, layers[0].out_features
        self.weight = _stacked(layers, "weight")
        self.bias = _stacked(layers, "bias")

    def forward(self, x: Tensor) -> Tensor:
        E = self.num_members
        out = fastpath.stacked_linear(self, x)  # inference on E copies of one batch
        if out is not None:
            return out
        xe = _member_view(x, E, "StackedLinear").reshape(E, -1, self.in_features)
        h = _BatchedLinear.apply(xe, self.weight, self.bias)  # (E, N, out)
        return h.view(*x.shape[:-1], self.out_features)


class _BatchedLinear(torch.autograd.Function):
    """y = x w^T + b per member, with the weight gradient computed directly in w's (E, out, in)
    layout. Autograd's own bmm backward yields it transposed, and AccumulateGrad then copies
    every weight gradient into w's layout: on CPU that copy took half the step at width 512."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        wt = w.transpose(1, 2)
        return torch.bmm(x, wt) if b is None else torch.baddbmm(b[:, None, :], x, wt)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = torch.bmm(g, w) if need_x else None
        gw = torch.bmm(g.transpose(1, 2), x) if need_w else None
        gb = g.sum(1) if ctx.has_bias and need_b else None
        return gx, gw, gb


class StackedConv2d(_ConvMixin, nn.Module):
    """E independent Conv2d layers as one grouped convolution (groups = E x groups)."""

    def __init__(self, convs: Sequence[nn.Conv2d]) -> None:
        super().__init__()
        self._copy_conv_args(convs[0])
        self.num_members = len(convs)
        self.weight = _stacked(convs, "weight")
        self.bias = _stacked(convs, "bias")

    def forward(self, x: Tensor) -> Tensor:
        out = fastpath.stacked_conv(self, x)  # inference on E copies of one batch
        if out is not None:
            return out
        return self._members_as_groups(_member_view(x, self.num_members, "StackedConv2d"))

    def _members_as_groups(self, xe: Tensor) -> Tensor:
        """(E, B, C, H, W) -> (E*B, O, H', W'): member e's kernels see only member e's rows."""
        E, B = xe.shape[0], xe.shape[1]
        xg = xe.transpose(0, 1).reshape(B, E * self.in_channels, *xe.shape[3:])
        w = self.weight.reshape(E * self.out_channels, *self.weight.shape[2:])
        b = None if self.bias is None else self.bias.reshape(-1)
        h = self._conv(xg, w, b, E * self.groups)  # (B, E*O, H', W')
        h = h.view(B, E, self.out_channels, *h.shape[2:]).transpose(0, 1)
        return h.reshape(E * B, self.out_channels, *h.shape[3:])


class MemberMajor(nn.Module):
    """Runs `model` for E members at once: `[B, ...]` -> `[E*B, ...]` -> model -> `[E, B, C]`."""

    def __init__(self, model: nn.Module, num_members: int) -> None:
        super().__init__()
        self.model = model
        self.num_members = num_members

    def forward(self, x: Tensor, split: bool = False) -> Tensor:
        """`split=False`: every member sees all of x. `split=True`: x is already member-major,
        member k gets rows k*b:(k+1)*b with b = len(x) // E (a remainder is dropped)."""
        E = self.num_members
        if split:
            B = x.shape[0] // E
            xm = x[: E * B]
        else:
            B = x.shape[0]
            if fastpath.applies(x, E):  # inference: the first layer may read x just once
                out = fastpath.infer_shared(self.model, x, E)  # (E*B, C)
                return out.view(E, B, *out.shape[1:])
            # one copy at the model's entry; every later layer works on views
            xm = x.unsqueeze(0).expand(E, *x.shape).reshape(E * B, *x.shape[1:])
        out = self.model(xm)  # (E*B, C)
        return out.view(E, B, *out.shape[1:])  # (E, B, C)


class BatchEnsemble(MemberMajor):
    """A model whose Linear/Conv2d layers are BatchEnsemble layers (see `batchensemble`)."""


class ParallelEnsemble(MemberMajor):
    """E independent models trained in one step with stacked weights (see `parallel_ensemble`)."""


class Single(MemberMajor):
    """One plain model presented as an ensemble of one: output `[1, B, C]`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model, 1)


def _replace_modules(
    root: nn.Module, wanted: tuple[type, ...], make: Callable[[str, nn.Module], nn.Module]
) -> int:
    """Replace every module of a wanted type, at any depth, through its parent; return count."""
    targets = [(name, m) for name, m in root.named_modules() if isinstance(m, wanted)]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = root.get_submodule(parent_name) if parent_name else root
        setattr(parent, child, make(name, module))  # setattr(root, "a.b", ...) would not work
    return len(targets)


def batchensemble(
    model: nn.Module,
    num_members: int,
    *,
    per_member_bias: bool = False,
    fast_init: str = "signs",
    fast_init_std: float = 0.5,
) -> BatchEnsemble:
    """Return a BatchEnsemble copy of `model` (left untouched): every nn.Linear and nn.Conv2d at
    any depth shares its weight across members and gets rank-1 factors r_i, s_i. Calling the
    result on `[B, ...]` returns `[E, B, C]`. Fast weights use the global RNG (seed it)."""
    if not isinstance(num_members, int) or num_members < 1:
        raise ValueError(f"num_members must be a whole number >= 1 (got {num_members!r})")
    net = copy.deepcopy(model)

    def make(name: str, m: nn.Module) -> nn.Module:
        if isinstance(m, nn.Linear):
            layer = BatchEnsembleLinear.from_linear(m, num_members, per_member_bias)
        else:
            layer = BatchEnsembleConv2d(m, num_members, per_member_bias)
        init_fast_weights(layer.r, fast_init, fast_init_std)
        init_fast_weights(layer.s, fast_init, fast_init_std)
        return layer

    if isinstance(net, (nn.Linear, nn.Conv2d)):
        net = make("", net)
    elif _replace_modules(net, (nn.Linear, nn.Conv2d), make) == 0:
        raise ValueError("batchensemble: the model has no nn.Linear or nn.Conv2d layer to convert")
    return BatchEnsemble(net, num_members)


def parallel_ensemble(members: Sequence[nn.Module]) -> ParallelEnsemble:
    """Stack E models of one architecture into a single model with batched layers. Member k of
    the result computes exactly what `members[k]` computes; the inputs are left untouched."""
    if not members:
        raise ValueError("parallel_ensemble needs at least one member")
    net = copy.deepcopy(members[0])
    lookup = [dict(m.named_modules()) for m in members]

    def make(name: str, m: nn.Module) -> nn.Module:
        same = [mods[name] for mods in lookup]
        return StackedLinear(same) if isinstance(m, nn.Linear) else StackedConv2d(same)

    if _replace_modules(net, (nn.Linear, nn.Conv2d), make) == 0:
        raise ValueError("parallel_ensemble: the model has no nn.Linear or nn.Conv2d layer")
    return ParallelEnsemble(net, len(members))


def fast_weights(model: nn.Module) -> Iterator[nn.Parameter]:
    """The per-member rank-1 factors (r, s) of every BatchEnsemble layer in `model`."""
    for m in model.modules():
        if isinstance(m, (BatchEnsembleLinear, BatchEnsembleConv2d)):
            yield m.r
            yield m.s

"""BatchEnsemble and stacked-ensemble layers, and the transforms that put them into a model.

Layout (DESIGN.md §2): a wrapper expands the input once to member-major `[E*B, ...]` (rows
`k*B:(k+1)*B` are member k's), the user's `forward` runs unchanged, every layer here views its
input as `[E, B, ...]`, and the wrapper returns `[E, B, C]`. In inference every member reads the
same batch: `forward_shared` and `MemberMajor.predict_shared` compute the first layer from it
once instead of from E copies (the same numbers to float rounding, tests/test_layers.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _member_view(x: Tensor, E: int, layer: str) -> Tensor:
    if x.shape[0] % E:
        raise ValueError(
            f"{layer}: the leading dimension ({x.shape[0]}) must be members x batch "
            f"(members = {E}); wrap the model with batchensemble() so inputs are expanded"
        )
    return x.view(E, x.shape[0] // E, *x.shape[1:])


def tile(x: Tensor, E: int) -> Tensor:
    """E copies of x `[B, ...]`, member-major: `[E*B, ...]` (rows k*B:(k+1)*B are member k's)."""
    return x.unsqueeze(0).expand(E, *x.shape).reshape(E * x.shape[0], *x.shape[1:])


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
        members: int,
        bias: bool = True,
        per_member_bias: bool = False,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.members = members
        self.per_member_bias = per_member_bias and bias
        self.weight = nn.Parameter(torch.empty(out_features, in_features))  # shared
        self.r = nn.Parameter(torch.ones(members, out_features))  # fast weights
        self.s = nn.Parameter(torch.ones(members, in_features))
        shape = (members, out_features) if self.per_member_bias else (out_features,)
        self.bias = nn.Parameter(torch.zeros(shape)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # nn.Linear's default

    @classmethod
    def from_linear(
        cls, layer: nn.Linear, members: int, per_member_bias: bool = False
    ) -> BatchEnsembleLinear:
        has_bias = layer.bias is not None
        new = cls(layer.in_features, layer.out_features, members, has_bias, per_member_bias)
        new.to(device=layer.weight.device, dtype=layer.weight.dtype)
        with torch.no_grad():
            new.weight.copy_(layer.weight)
            if has_bias:
                new.bias.copy_(layer.bias.expand_as(new.bias))
        return new

    def forward(self, x: Tensor) -> Tensor:
        E = self.members
        xe = _member_view(x, E, "BatchEnsembleLinear").reshape(E, -1, self.in_features)
        h = F.linear(xe * self.s[:, None, :], self.weight)  # (E, N, out)
        return self._times_r_plus_b(h).view(*x.shape[:-1], self.out_features)

    def shared_weight(self) -> Tensor:
        """The E scaled weights W * s_i as one `(E*out, in)` matrix, for forward_shared."""
        return (self.weight * self.s[:, None, :]).reshape(-1, self.in_features)

    def forward_shared(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """forward(tile(x, E)) for x `[B, ..., in]` from x once: one GEMM with the E scaled
        weights (`weight`: shared_weight() computed beforehand) instead of E copies of x."""
        E, out = self.members, self.out_features
        w = self.shared_weight() if weight is None else weight
        h = F.linear(x.reshape(-1, self.in_features), w)  # (N, E*out)
        h = self._times_r_plus_b(h.view(-1, E, out).transpose(0, 1))  # (E, N, out)
        return h.reshape(E * x.shape[0], *x.shape[1:-1], out)

    def _times_r_plus_b(self, h: Tensor) -> Tensor:
        """h `(E, N, out)` * r_i + b (one fused kernel)."""
        r = self.r[:, None, :]
        if self.bias is None:
            return h * r
        return torch.addcmul(self.bias[:, None, :] if self.per_member_bias else self.bias, h, r)

    def member_weight(self, i: int) -> Tensor:
        """The effective weight of member i: W * outer(r_i, s_i)."""
        return self.weight * torch.outer(self.r[i], self.s[i])

    def extra_repr(self) -> str:
        return (
            f"in={self.in_features}, out={self.out_features}, members={self.members}, "
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

    def __init__(self, conv: nn.Conv2d, members: int, per_member_bias: bool = False) -> None:
        super().__init__()
        self._copy_conv_args(conv)
        self.members = members
        has_bias = conv.bias is not None
        self.per_member_bias = per_member_bias and has_bias
        self.weight = nn.Parameter(conv.weight.detach().clone())
        dev, dt = conv.weight.device, conv.weight.dtype
        self.r = nn.Parameter(torch.ones(members, self.out_channels, device=dev, dtype=dt))
        self.s = nn.Parameter(torch.ones(members, self.in_channels, device=dev, dtype=dt))
        bias = conv.bias.detach() if has_bias else None
        if self.per_member_bias:  # only with a bias
            bias = bias.expand(members, -1)
        self.bias = None if bias is None else nn.Parameter(bias.clone())

    def forward(self, x: Tensor) -> Tensor:
        E = self.members
        xe = _member_view(x, E, "BatchEnsembleConv2d")  # (E, B, C, H, W)
        xe = xe * self.s[:, None, :, None, None]
        h = self._conv(xe.reshape(x.shape), self.weight, None, self.groups)  # (E*B, O, H', W')
        return self._times_r_plus_b(h.view(E, -1, *h.shape[1:])).flatten(0, 1)

    def shared_weight(self) -> Tensor | None:
        """The E scaled kernels W * s_i as one `(E*O, C, k, k)` kernel, for forward_shared
        (None for a grouped convolution: member e's group k must see group k of x)."""
        if self.groups != 1:
            return None
        return (self.weight[None] * self.s[:, None, :, None, None]).flatten(0, 1)

    def forward_shared(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """forward(tile(x, E)) for x `[B, C, H, W]` from x once: one convolution with the E
        scaled kernels (`weight`: shared_weight() computed beforehand) instead of E copies."""
        E = self.members
        w = self.shared_weight() if weight is None else weight
        if w is None:  # grouped: no shared form
            return self(tile(x, E))
        h = self._conv(x, w, None, 1)  # (B, E*O, H', W')
        h = h.unflatten(1, (E, self.out_channels)).transpose(0, 1)  # (E, B, O, H', W')
        return self._times_r_plus_b(h).flatten(0, 1)

    def _times_r_plus_b(self, h: Tensor) -> Tensor:
        """h `(E, B, O, H', W')` * r_i + b, per output channel."""
        r = self.r[:, None, :, None, None]
        if self.bias is None:
            return h * r
        b = self.bias[:, None, :, None, None] if self.per_member_bias else self.bias[:, None, None]
        return torch.addcmul(b, h, r)

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
        self.members = len(layers)
        self.in_features, self.out_features = layers[0].in_features, layers[0].out_features
        self.weight = _stacked(layers, "weight")
        self.bias = _stacked(layers, "bias")

    def forward(self, x: Tensor) -> Tensor:
        E = self.members
        xe = _member_view(x, E, "StackedLinear").reshape(E, -1, self.in_features)
        h = _BatchedLinear.apply(xe, self.weight, self.bias)  # (E, N, out)
        return h.view(*x.shape[:-1], self.out_features)

    def shared_weight(self) -> Tensor:
        """The members' weights as one `(E*out, in)` matrix (a view), for forward_shared."""
        return self.weight.flatten(0, 1)

    def forward_shared(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """forward(tile(x, E)) for x `[B, ..., in]`, from x once: one GEMM for all members."""
        E, out = self.members, self.out_features
        w = self.shared_weight() if weight is None else weight
        b = None if self.bias is None else self.bias.flatten()
        h = F.linear(x.reshape(-1, self.in_features), w, b)  # (N, E*out)
        return h.view(-1, E, out).transpose(0, 1).reshape(E * x.shape[0], *x.shape[1:-1], out)


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
        self.members = len(convs)
        self.weight = _stacked(convs, "weight")
        self.bias = _stacked(convs, "bias")

    def forward(self, x: Tensor) -> Tensor:
        return self._members_as_groups(_member_view(x, self.members, "StackedConv2d"))

    def shared_weight(self) -> Tensor | None:
        """The members' kernels as one `(E*O, C, k, k)` kernel (a view), for forward_shared
        (None for a grouped convolution: member e's group k must see group k of x)."""
        return self.weight.flatten(0, 1) if self.groups == 1 else None

    def forward_shared(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """forward(tile(x, E)) for x `[B, C, H, W]` from x once: E x O kernels, one convolution."""
        E, out = self.members, self.out_channels
        w = self.shared_weight() if weight is None else weight
        if w is None:  # grouped: no shared form
            return self(tile(x, E))
        b = None if self.bias is None else self.bias.flatten()
        h = self._conv(x, w, b, 1)  # (B, E*O, H', W')
        return h.unflatten(1, (E, out)).transpose(0, 1).flatten(0, 1)  # (E*B, O, H', W')

    def _members_as_groups(self, xe: Tensor) -> Tensor:
        """(E, B, C, H, W) -> (E*B, O, H', W'): member e's kernels see only member e's rows."""
        E, B = xe.shape[0], xe.shape[1]
        xg = xe.transpose(0, 1).reshape(B, E * self.in_channels, *xe.shape[3:])
        w = self.weight.reshape(E * self.out_channels, *self.weight.shape[2:])
        b = None if self.bias is None else self.bias.reshape(-1)
        h = self._conv(xg, w, b, E * self.groups)  # (B, E*O, H', W')
        h = h.view(B, E, self.out_channels, *h.shape[2:]).transpose(0, 1)
        return h.reshape(E * B, self.out_channels, *h.shape[3:])


class StackedBatchNorm2d(nn.Module):
    """E independent BatchNorm2d layers as one over E x C channels: member e normalises its own
    rows `[e*B:(e+1)*B]` with its own statistics, exactly as its model alone would."""

    def __init__(self, bns: Sequence[nn.BatchNorm2d]) -> None:
        super().__init__()
        self.members, self.num_features = len(bns), bns[0].num_features
        first = bns[0]
        self.bn = nn.BatchNorm2d(
            self.members * self.num_features, first.eps, first.momentum, first.affine
        ).to(first.running_mean.device)
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var"):
                if getattr(first, name) is not None:
                    getattr(self.bn, name).copy_(torch.cat([getattr(b, name) for b in bns]))
            self.bn.num_batches_tracked.copy_(first.num_batches_tracked)

    def forward(self, x: Tensor) -> Tensor:
        xe = _member_view(x, self.members, "StackedBatchNorm2d")  # (E, B, C, H, W)
        E, B = xe.shape[:2]
        xg = xe.transpose(0, 1).flatten(1, 2)  # (B, E*C, H, W): member e's channels in a block
        return self.bn(xg).view(B, E, *xe.shape[2:]).transpose(0, 1).reshape(x.shape)


class MemberMajor(nn.Module):
    """Runs `model` for E members at once: `[B, ...]` -> `[E*B, ...]` -> model -> `[E, B, C]`."""

    def __init__(self, model: nn.Module, members: int) -> None:
        super().__init__()
        self.model = model
        self.members = members

    def forward(self, x: Tensor, split: bool = False) -> Tensor:
        """`split=False`: every member sees all of x. `split=True`: x is already member-major,
        member k gets rows k*b:(k+1)*b with b = len(x) // E (a remainder is dropped)."""
        E = self.members
        if split:
            B = x.shape[0] // E
            xm = x[: E * B]
        else:
            B = x.shape[0]
            xm = tile(x, E)  # one copy at the model's entry; every later layer works on views
        out = self.model(xm)  # (E*B, C)
        return out.view(E, B, *out.shape[1:])  # (E, B, C)

    def predict_shared(self, batches: Iterable[Tensor]) -> Iterator[Tensor]:
        """forward(x) for each batch, the first layer computed from x once rather than from E
        copies, its weight scaled per member once for all batches (inference: the weights must
        not change meanwhile). Needs a model that names its first layer (`stages()`, as
        bedash's MLP and CNN do); any other model runs forward."""
        stages = getattr(self.model, "stages", None)
        before, first, rest = stages() if stages is not None else (None, None, None)
        if not hasattr(first, "forward_shared"):  # a plain layer (E = 1): nothing to share
            yield from map(self, batches)
            return
        weight = first.shared_weight()
        for x in batches:
            out = rest(first.forward_shared(before(x), weight))  # (E*B, C)
            yield out.view(self.members, x.shape[0], *out.shape[1:])


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
    result on `[B, ...]` returns `[E, B, C]`. Fast weights use the global RNG (seed it).
    BatchNorm stays one shared layer, its statistics taken over all members' rows, as
    uncertainty-baselines' wide_resnet_batchensemble (a plain Keras BatchNormalization between
    Conv2DBatchEnsemble layers) and torch-uncertainty's batched ResNets (nn.BatchNorm2d between
    BatchConv2d layers) do: the paper's memory claim counts no per-member statistics."""
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


def parallel_ensemble(nets: Sequence[nn.Module]) -> ParallelEnsemble:
    """Stack E models of one architecture into one model with batched layers; member k computes
    exactly what `nets[k]` computes (the inputs are left untouched)."""
    if not nets:
        raise ValueError("parallel_ensemble needs at least one member")
    net = copy.deepcopy(nets[0])
    lookup = [dict(m.named_modules()) for m in nets]

    def make(name: str, m: nn.Module) -> nn.Module:
        same = [mods[name] for mods in lookup]
        if isinstance(m, nn.BatchNorm2d):
            return StackedBatchNorm2d(same)
        return StackedLinear(same) if isinstance(m, nn.Linear) else StackedConv2d(same)

    _replace_modules(net, (nn.BatchNorm2d,), make)
    if _replace_modules(net, (nn.Linear, nn.Conv2d), make) == 0:
        raise ValueError("parallel_ensemble: the model has no nn.Linear or nn.Conv2d layer")
    return ParallelEnsemble(net, len(nets))


def fast_weights(model: nn.Module) -> Iterator[nn.Parameter]:
    """The per-member rank-1 factors (r, s) of every BatchEnsemble layer in `model`."""
    for m in model.modules():
        if isinstance(m, (BatchEnsembleLinear, BatchEnsembleConv2d)):
            yield m.r
            yield m.s

"""Inference-time folding of BatchNorm into the preceding convolution.

For ``y = BN(conv(x))`` with running statistics (eval mode):
``W' = W * g / sqrt(var + eps)`` per output channel and
``b' = (b - mean) * g / sqrt(var + eps) + beta`` (Ioffe & Szegedy 2015; the
usual deployment transform, e.g. ``torch.nn.utils.fusion.fuse_conv_bn_eval``).
Folding is exact up to float32 rounding (~1e-6 relative).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["fuse_conv_bn", "fold_batchnorm", "affine_1x1", "PointwiseLinear", "pointwise_as_linear", "pointwise_conv",
           "drop_identities"]


@torch.no_grad()
def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Return a new Conv2d equal to ``bn(conv(x))`` in eval mode (computed in float64)."""
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    w = conv.weight.double() * scale.reshape(-1, 1, 1, 1)
    b = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    fused.weight.copy_(w.to(conv.weight.dtype))
    fused.bias.copy_(((b - bn.running_mean.double()) * scale + bn.bias.double()).to(conv.weight.dtype))
    return fused.to(conv.weight.device)


def fold_batchnorm(module: nn.Module) -> int:
    """Fold every ``Conv2d`` directly followed by ``BatchNorm2d`` inside an ``nn.Sequential``.

    The conv is replaced by the fused conv and the BN by ``nn.Identity`` (so the
    Sequential's indices are unchanged). Modules that apply attribute pairs in
    their ``forward`` (e.g. ResNet's ``conv1`` / ``bn1``) list them in a
    ``conv_bn_pairs`` class attribute, ``(("conv1", "bn1"), ...)``, and get
    those pairs folded the same way. Works in place; returns the number of
    folded pairs. Call it only after loading weights and in eval mode.
    """

    def foldable(conv, bn) -> bool:
        return isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats

    count = 0
    for mod in list(module.modules()):
        if isinstance(mod, nn.Sequential):
            names = list(mod._modules)
            pairs = zip(names, names[1:])
        else:
            pairs = getattr(mod, "conv_bn_pairs", ())
        for a, b in pairs:
            conv, bn = mod._modules.get(a), mod._modules.get(b)
            if foldable(conv, bn):
                mod._modules[a] = fuse_conv_bn(conv, bn)
                mod._modules[b] = nn.Identity()
                count += 1
    return count


class PointwiseLinear(nn.Module):
    """A 1x1 convolution (stride 1, no padding, groups 1) computed as one matrix product.

    On a channels-last ``(B, Cin, H, W)`` input, ``x.permute(0, 2, 3, 1)`` is a
    contiguous ``(B, H, W, Cin)`` view, so the convolution is a single
    ``addmm`` with no im2col copy, and the result is again channels-last
    ``(B, Cout, H, W)``. Other layouts fall back to ``conv2d``. Same numbers
    as the convolution up to float32 summation order.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.weight = nn.Parameter(conv.weight.detach().reshape(conv.out_channels, conv.in_channels).clone(),
                                   requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone(), requires_grad=False)

    def forward(self, x):
        return pointwise_conv(x, self.weight, self.bias)


def pointwise_conv(x: torch.Tensor, weight: torch.Tensor, bias=None) -> torch.Tensor:
    """1x1 convolution of ``x`` ``(B, Cin, H, W)`` with ``weight`` ``(Cout, Cin)`` and ``bias`` ``(Cout,)`` or None.

    A channels-last ``x`` goes through one ``linear`` on its ``(B, H, W, Cin)``
    view (result channels-last, no copies); any other layout through ``conv2d``.
    """
    if x.is_contiguous(memory_format=torch.channels_last):
        return torch.nn.functional.linear(x.permute(0, 2, 3, 1), weight, bias).permute(0, 3, 1, 2)
    return torch.nn.functional.conv2d(x, weight[:, :, None, None], bias)


def pointwise_as_linear(module: nn.Module) -> int:
    """Replace every 1x1 / stride-1 / unpadded / ungrouped ``Conv2d`` by :class:`PointwiseLinear`, in place.

    Returns the number replaced. Call after :func:`fold_batchnorm`.
    """
    count = 0
    for parent in list(module.modules()):
        for name, child in list(parent._modules.items()):
            if (isinstance(child, nn.Conv2d) and child.kernel_size == (1, 1) and child.stride == (1, 1)
                    and child.padding == (0, 0) and child.groups == 1 and child.dilation == (1, 1)):
                parent._modules[name] = PointwiseLinear(child)
                count += 1
    return count


@torch.no_grad()
def affine_1x1(seq: nn.Module):
    """Effective ``(W, b)`` of a 1x1 conv optionally followed by BatchNorm (folded or not).

    Returns ``W`` ``(Cout, Cin)`` and ``b`` ``(Cout,)`` in float64 so callers can
    compose linear maps exactly before casting back to float32.
    Raises ``TypeError`` for anything but [Conv2d 1x1, (BatchNorm2d | Identity)?].
    """
    mods = [m for m in (seq if isinstance(seq, nn.Sequential) else [seq]) if not isinstance(m, nn.Identity)]
    conv = mods[0]
    is_1x1 = isinstance(conv, PointwiseLinear) or (
        isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.groups == 1)
    if not is_1x1 or len(mods) > 2:
        raise TypeError(f"affine_1x1: expected a 1x1 conv (+ BN), got {seq}")
    w = conv.weight.double().reshape(conv.out_channels, conv.in_channels)
    b = conv.bias.double() if conv.bias is not None else torch.zeros(conv.out_channels, dtype=torch.float64,
                                                                      device=w.device)
    if len(mods) == 2:
        bn = mods[1]
        if not isinstance(bn, nn.BatchNorm2d):
            raise TypeError(f"affine_1x1: expected BatchNorm2d after the conv, got {bn}")
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        w = w * scale[:, None]
        b = (b - bn.running_mean.double()) * scale + bn.bias.double()
    return w, b


def drop_identities(module: nn.Module) -> int:
    """Remove ``nn.Identity`` entries (folded BatchNorms, fused activations) from every ``nn.Sequential``.

    The remaining modules keep their names, so state-dict keys are unchanged;
    positional indexing of those Sequentials is no longer meaningful. Saves a
    module call per removed entry. In place; returns the number removed.
    """
    count = 0
    for mod in list(module.modules()):
        if isinstance(mod, nn.Sequential):
            for name in [n for n, m in mod._modules.items() if isinstance(m, nn.Identity)]:
                del mod._modules[name]
                count += 1
    return count

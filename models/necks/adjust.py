"""AdjustLayer necks (pysot ``pysot/models/neck/neck.py``).

``AdjustLayer``: 1x1 conv (no bias) + BatchNorm that maps backbone channels to
the head's, then, for template-sized maps (width < 20), a centre crop to
``center_size`` x ``center_size`` (7 in pysot: the 15x15 template map of a
stride-8 backbone loses its zero-padding-polluted border).
``AdjustAllLayer``: one AdjustLayer per used backbone level.

Input / output: ``(B, C, H, W)`` float tensors (a list of them for
AdjustAllLayer).
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from siamtrack.models.registry import NECKS


class AdjustLayer(nn.Module):
    """1x1 conv + BN, then centre crop of small (template) maps; key layout ``downsample.{0,1}``."""

    def __init__(self, in_channels: int, out_channels: int, center_size: int = 7):
        super().__init__()
        self.downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False), nn.BatchNorm2d(out_channels)
        )
        self.center_size = center_size

    def forward(self, x):
        x = self.downsample(x)
        if x.size(3) < 20:
            left = (x.size(3) - self.center_size) // 2
            x = x[:, :, left : left + self.center_size, left : left + self.center_size]
        return x


class AdjustAllLayer(nn.Module):
    """One :class:`AdjustLayer` per level; keys ``downsample{i+2}`` when several levels, as pysot."""

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int], center_size: int = 7):
        super().__init__()
        self.num = len(out_channels)
        if self.num == 1:
            self.downsample = AdjustLayer(in_channels[0], out_channels[0], center_size)
        else:
            for i in range(self.num):
                self.add_module(f"downsample{i + 2}", AdjustLayer(in_channels[i], out_channels[i], center_size))

    def forward(self, features):
        if self.num == 1:
            return self.downsample(features)
        return [getattr(self, f"downsample{i + 2}")(f) for i, f in enumerate(features)]


@NECKS.register("adjust_layer")
def adjust_layer(in_channels: int, out_channels: int, center_size: int = 7) -> AdjustLayer:
    """Single-level neck (NanoTrack, SiamRPN++ AlexNet / single level)."""
    return AdjustLayer(in_channels, out_channels, center_size)


@NECKS.register("adjust_all_layer")
def adjust_all_layer(in_channels, out_channels, center_size: int = 7) -> AdjustAllLayer:
    """Multi-level neck (SiamRPN++ ResNet-50 / MobileNetV2 l234, SiamMask)."""
    return AdjustAllLayer(list(in_channels), list(out_channels), center_size)

"""Truncated MobileNetV3-Small backbones of NanoTrack.

Architecture: Howard et al., "Searching for MobileNetV3", ICCV 2019, cut after
the last stride-16 stage (no final 1x1 conv, pooling or classifier), as in
HonglinChu/SiamTrackers ``NanoTrack/nanotrack/models/backbone/mobile_v3.py``
(``mobilenetv3_small`` for v1/v2, ``mobilenetv3_small_v3`` for v3). The module
tree reproduces that file's state-dict layout (``features.<i>.conv.<j>``) so
the published checkpoints load strictly.

Input: ``(B, 3, H, W)`` float32 raw pixel values 0..255 in BGR order (NanoTrack
feeds ``cv2.imread`` crops without normalisation). Output: ``(B, C, H/16,
W/16)`` features (rounded as the strided convolutions do: 127 -> 8, 255 -> 16),
``C = 48`` (v1/v2) or ``96`` (v3).
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from siamtrack.models.registry import BACKBONES

# (kernel, expansion t, out channels, squeeze-excite, hard-swish, stride)
# from mobile_v3.py ``mobilenetv3_small`` cfgs, truncated after stage 8.
SMALL_STAGES = (
    (3, 1, 16, 1, 0, 2),
    (3, 4.5, 24, 0, 0, 2),
    (3, 3.67, 24, 0, 0, 1),
    (5, 4, 40, 1, 1, 2),
    (5, 6, 40, 1, 1, 1),
    (5, 6, 40, 1, 1, 1),
    (5, 3, 48, 1, 1, 1),
    (5, 3, 48, 1, 1, 1),
)
# ``mobilenetv3_small_v3``: one more stride-1 stage to 96 channels.
SMALL_V3_STAGES = SMALL_STAGES + ((5, 6, 96, 1, 1, 1),)


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round channel counts to a multiple of ``divisor`` (never more than 10% down).

    Source: the TF-slim MobileNet ``_make_divisible`` used by mobile_v3.py.
    """
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class SqueezeExcite(nn.Module):
    """Channel gate: global average pool, Linear-ReLU-Linear-Hardsigmoid, scale.

    Layout ``fc.0`` / ``fc.2`` as in mobile_v3.py ``SELayer`` (reduction 4).
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = make_divisible(channels // reduction, 8)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels), nn.Hardsigmoid()
        )

    def gate_weights(self, x):
        """Per-channel factors ``(B, C)`` of ``x`` ``(B, C, H, W)`` (hard-sigmoid of the pooled MLP)."""
        return self.fc(x.mean((2, 3)))

    def gate_params(self) -> tuple:
        """``(w1 (Hd, C), b1, w2 (C, Hd), b2, 0)``: the MLP for the fused C gate (kind 0: ReLU, hard-sigmoid)."""
        return self.fc[0].weight, self.fc[0].bias, self.fc[2].weight, self.fc[2].bias, 0

    def forward(self, x):
        return x * self.gate_weights(x)[:, :, None, None]


def _act(hard_swish: bool) -> nn.Module:
    return nn.Hardswish() if hard_swish else nn.ReLU(inplace=True)


class InvertedResidual(nn.Module):
    """MobileNetV3 bottleneck; ``conv`` indices match mobile_v3.py.

    Without expansion: dw-BN-act-SE-pw-BN. With expansion:
    pw-BN-act-dw-BN-SE-act-pw-BN. Residual when stride 1 and in == out.
    """

    def __init__(self, inp: int, hidden: int, oup: int, k: int, stride: int, se: bool, hs: bool):
        super().__init__()
        self.identity = stride == 1 and inp == oup
        dw = nn.Conv2d(hidden, hidden, k, stride, (k - 1) // 2, groups=hidden, bias=False)
        gate = SqueezeExcite(hidden) if se else nn.Identity()
        if inp == hidden:
            layers = [dw, nn.BatchNorm2d(hidden), _act(hs), gate]
        else:
            layers = [nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), _act(hs),
                      dw, nn.BatchNorm2d(hidden), gate, _act(hs)]
        layers += [nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if not self.identity:
            return self.conv(x)
        return x + self.conv(x)


class MobileNetV3Features(nn.Module):
    """Stem (3x3 s2 conv-BN-Hardswish) followed by the inverted-residual stages."""

    def __init__(self, stages: Sequence[tuple], width_mult: float = 1.0):
        super().__init__()
        cin = make_divisible(16 * width_mult, 8)
        layers = [nn.Sequential(nn.Conv2d(3, cin, 3, 2, 1, bias=False), nn.BatchNorm2d(cin), nn.Hardswish())]
        for k, t, c, se, hs, s in stages:
            cout = make_divisible(c * width_mult, 8)
            layers.append(InvertedResidual(cin, make_divisible(cin * t, 8), cout, k, s, bool(se), bool(hs)))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x):
        return self.features(x)


@BACKBONES.register("mobilenetv3_small")
def mobilenetv3_small(width_mult: float = 1.0) -> MobileNetV3Features:
    """NanoTrack v1/v2 backbone: 48 output channels at stride 16."""
    return MobileNetV3Features(SMALL_STAGES, width_mult)


@BACKBONES.register("mobilenetv3_small_v3")
def mobilenetv3_small_v3(width_mult: float = 1.0) -> MobileNetV3Features:
    """NanoTrack v3 backbone: 96 output channels at stride 16."""
    return MobileNetV3Features(SMALL_V3_STAGES, width_mult)

"""Dilated MobileNetV2 backbone of pysot SiamRPN++ (``siamrpn_mobilev2_l234_dwxcorr``).

Architecture: Sandler et al., "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018, as modified in STVIR/pysot
``pysot/models/backbone/mobile_v2.py`` (SiamRPN++, Li et al. CVPR 2019): total
stride 8 - the last four stages keep stride 1 and dilate their depthwise
convolutions 2, 2, 4, 4 instead - and several levels are returned for the
multi-level head. Module tree ``layer0`` (stem) .. ``layer7`` with
``layer<i>.<j>.conv.<k>`` as in pysot, so official checkpoints load strictly.

Details that matter for parity (pysot, not torchvision):

* channels are ``int(c * width_mult)`` (truncated, no rounding to 8);
* the stem is a 3x3 stride-2 conv with NO padding (127 -> 63, 255 -> 127);
* every inverted residual has the expansion 1x1 conv, even with ratio 1;
* the depthwise conv pads ``2 - stride`` (so stride-2 blocks pad 0) or
  ``dilation`` when dilated; the first block of a stage whose dilation grows
  uses half of it (``max(d // 2, 1)``).

Input: ``(B, 3, H, W)`` float32 raw BGR pixel values 0..255. Output: the list
of outputs of the ``used_layers`` (a single tensor when only one), e.g. for
``width_mult=1.4, used_layers=[3, 5, 7]``: channels 44, 134, 448, all at
stride 8 (127 -> 15x15, 255 -> 31x31).
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from siamtrack.models.registry import BACKBONES

# (expansion t, channels c, blocks n, stride s, dilation d) of layer1 .. layer7 (pysot's second table).
DILATED_SETTINGS = (
    (1, 16, 1, 1, 1),
    (6, 24, 2, 2, 1),
    (6, 32, 3, 2, 1),
    (6, 64, 4, 1, 2),
    (6, 96, 3, 1, 2),
    (6, 160, 3, 1, 4),
    (6, 320, 1, 1, 4),
)


class InvertedResidual(nn.Module):
    """pw 1x1 - BN - ReLU6 - dw 3x3 - BN - ReLU6 - pw-linear 1x1 - BN (``conv.0`` .. ``conv.7``), + x when shapes match."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, dilation: int = 1):
        super().__init__()
        self.use_res_connect = stride == 1 and inp == oup
        hidden = inp * expand_ratio
        padding = dilation if dilation > 1 else 2 - stride
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, padding, dilation=dilation, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup),
        )

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """Stem ``layer0`` + seven inverted-residual stages; returns the outputs of ``used_layers`` (0..7)."""

    def __init__(self, width_mult: float = 1.0, used_layers: Sequence[int] = (3, 5, 7)):
        super().__init__()
        self.used_layers = [int(i) for i in used_layers]
        if not self.used_layers or min(self.used_layers) < 0 or max(self.used_layers) > 7:
            raise ValueError(f"mobilenetv2: used_layers must be in 0..7, got {list(used_layers)}")
        cin = int(32 * width_mult)
        self.layer0 = nn.Sequential(nn.Conv2d(3, cin, 3, 2, 0, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(inplace=True))
        channels = [cin]
        last_dilation = 1
        for idx, (t, c, n, s, d) in enumerate(DILATED_SETTINGS, start=1):
            cout = int(c * width_mult)
            first_dilation = d if d == last_dilation else max(d // 2, 1)
            blocks = [InvertedResidual(cin, cout, s, t, first_dilation)]
            blocks += [InvertedResidual(cout, cout, 1, t, d) for _ in range(n - 1)]
            self.add_module(f"layer{idx}", nn.Sequential(*blocks))
            cin, last_dilation = cout, d
            channels.append(cout)
        self.out_channels = [channels[i] for i in self.used_layers]

    def forward(self, x):
        outputs = []
        for idx in range(max(self.used_layers) + 1):  # later layers do not change the returned ones
            x = getattr(self, f"layer{idx}")(x)
            outputs.append(x)
        out = [outputs[i] for i in self.used_layers]
        return out[0] if len(out) == 1 else out


@BACKBONES.register("mobilenetv2")
def mobilenetv2(width_mult: float = 1.0, used_layers: Sequence[int] = (3, 5, 7)) -> MobileNetV2:
    """pysot ``mobilenetv2`` (SiamRPN++ uses ``width_mult=1.4, used_layers=[3, 5, 7]``)."""
    return MobileNetV2(width_mult, used_layers)

"""AlexNet feature extractor of DaSiamRPN (Zhu et al., "Distractor-aware Siamese Networks", ECCV 2018).

Module tree of foolwood/DaSiamRPN ``code/net.py`` ``SiamRPN.featureExtract``
so the official ``SiamRPNBIG.model`` / ``SiamRPNVOT.model`` /
``SiamRPNOTB.model`` load strictly: one ``featureExtract`` Sequential (keys
``featureExtract.<i>``, convolutions at 0, 4, 8, 11, 14 and their BatchNorms
at 1, 5, 9, 12, 15) - the network of :mod:`.alexnet` (conv -> BN -> max-pool
-> ReLU, no ReLU after the last BN) with the channels
``[3, 96, 256, 384, 384, 256]`` times an integer ``size``: 2 for SiamRPNBIG
(output 512 channels), 1 for SiamRPNvot / SiamRPNotb (256).

Input: ``(B, 3, H, W)`` float32 raw BGR pixel values 0..255 (no
normalisation). Output: ``(B, 256 * size, h, w)`` at stride 8, no padding:
127 -> 6x6, 271 -> 24x24, 287 -> 26x26.
"""

from __future__ import annotations

from torch import nn

from siamtrack.models.backbones.alexnet import _channels, _stages
from siamtrack.models.registry import BACKBONES


class DaSiamRPNAlexNet(nn.Module):
    """``featureExtract`` Sequential of DaSiamRPN's ``SiamRPN`` (``size`` = channel multiplier)."""

    def __init__(self, size: int = 1):
        super().__init__()
        if int(size) != size or size < 1:
            raise ValueError(f"dasiamrpn_alexnet: size must be a positive integer, got {size!r}")
        self.featureExtract = nn.Sequential(*[m for stage in _stages(int(size)) for m in stage])
        self.out_channels = _channels(int(size))[-1]

    def forward(self, x):
        return self.featureExtract(x)


@BACKBONES.register("dasiamrpn_alexnet")
def dasiamrpn_alexnet(size: int = 1) -> DaSiamRPNAlexNet:
    """DaSiamRPN AlexNet: ``size=2`` SiamRPNBIG, ``size=1`` SiamRPNvot / SiamRPNotb."""
    return DaSiamRPNAlexNet(size)

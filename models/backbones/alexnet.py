"""AlexNet backbones of pysot (SiamRPN, SiamRPN++ AlexNet experiments).

Architecture: Krizhevsky et al. 2012 as adapted for Siamese tracking (SiamFC,
Bertinetto et al. 2016; SiamRPN, Li et al. CVPR 2018): five unpadded
convolutions, BatchNorm after each, two 3x3 stride-2 max-pools, no fully
connected layers. Module trees follow STVIR/pysot
``pysot/models/backbone/alexnet.py`` so official checkpoints load strictly:

* ``alexnetlegacy`` - one ``features`` Sequential (keys ``features.<i>``,
  convolutions at indices 0, 4, 8, 11, 14 and their BatchNorms at 1, 5, 9,
  12, 15), as in the SiamRPN / DaSiamRPN checkpoints.
* ``alexnet`` - the same network split into ``layer1`` .. ``layer5``.

Channels ``[3, 96, 256, 384, 384, 256]`` times ``width_mult`` (``int()``
truncation; the 3 input channels are never scaled). Order inside a block is
conv -> BN -> max-pool -> ReLU (pooling before the activation, as pysot; the
two commute). The last conv has BN but no ReLU.

Input: ``(B, 3, H, W)`` float32 raw BGR pixel values 0..255 (pysot does not
normalise). Output: ``(B, int(256 * width_mult), h, w)`` at stride 8 with no
padding: 127 -> 6x6, 255 -> 22x22, 287 -> 26x26.
"""

from __future__ import annotations

from typing import List

from torch import nn

from siamtrack.models.registry import BACKBONES

ALEXNET_CHANNELS = (3, 96, 256, 384, 384, 256)


def _channels(width_mult: float) -> List[int]:
    # pysot: ``3 if x == 3 else int(x * width_mult)``
    return [c if c == 3 else int(c * width_mult) for c in ALEXNET_CHANNELS]


def _stages(width_mult: float) -> List[List[nn.Module]]:
    """The five conv blocks as module lists (conv, BN[, max-pool][, ReLU])."""
    c = _channels(width_mult)
    return [
        [nn.Conv2d(c[0], c[1], 11, stride=2), nn.BatchNorm2d(c[1]), nn.MaxPool2d(3, 2), nn.ReLU(inplace=True)],
        [nn.Conv2d(c[1], c[2], 5), nn.BatchNorm2d(c[2]), nn.MaxPool2d(3, 2), nn.ReLU(inplace=True)],
        [nn.Conv2d(c[2], c[3], 3), nn.BatchNorm2d(c[3]), nn.ReLU(inplace=True)],
        [nn.Conv2d(c[3], c[4], 3), nn.BatchNorm2d(c[4]), nn.ReLU(inplace=True)],
        [nn.Conv2d(c[4], c[5], 3), nn.BatchNorm2d(c[5])],
    ]


class AlexNetLegacy(nn.Module):
    """All layers in one ``features`` Sequential (pysot ``AlexNetLegacy``)."""

    def __init__(self, width_mult: float = 1.0):
        super().__init__()
        self.features = nn.Sequential(*[m for stage in _stages(width_mult) for m in stage])
        self.out_channels = _channels(width_mult)[-1]

    def forward(self, x):
        return self.features(x)


class AlexNet(nn.Module):
    """The same network as ``layer1`` .. ``layer5`` Sequentials (pysot ``AlexNet``)."""

    def __init__(self, width_mult: float = 1.0):
        super().__init__()
        for i, stage in enumerate(_stages(width_mult), start=1):
            self.add_module(f"layer{i}", nn.Sequential(*stage))
        self.out_channels = _channels(width_mult)[-1]

    def forward(self, x):
        for i in range(1, 6):
            x = getattr(self, f"layer{i}")(x)
        return x


@BACKBONES.register("alexnetlegacy")
def alexnetlegacy(width_mult: float = 1.0) -> AlexNetLegacy:
    """SiamRPN AlexNet with ``features.<i>`` keys (pysot ``siamrpn_alex_dwxcorr``)."""
    return AlexNetLegacy(width_mult)


@BACKBONES.register("alexnet")
def alexnet(width_mult: float = 1.0) -> AlexNet:
    """SiamRPN AlexNet with ``layer<i>`` keys."""
    return AlexNet(width_mult)

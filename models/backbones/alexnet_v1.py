"""SiamFC's AlexNet with BatchNorm (huanglianghua/siamfc-pytorch ``siamfc/backbones.py`` ``AlexNetV1``).

Architecture (Bertinetto et al., "Fully-Convolutional Siamese Networks for
Object Tracking", ECCV-W 2016, Table 1, with BatchNorm after every conv but
the last): five unpadded convolutions ``conv1`` .. ``conv5``, each an
``nn.Sequential`` so that the official checkpoint ``siamfc_alexnet_e50.pth``
(keys ``backbone.convN.<i>.*``, see
``../shared/fixtures/siamfc_alexnet/manifest.json``) loads strictly:

* ``conv1``: Conv 3->96, 11x11 stride 2, BN, ReLU, max-pool 3x3 stride 2
* ``conv2``: Conv 96->256, 5x5, groups 2, BN, ReLU, max-pool 3x3 stride 2
* ``conv3``: Conv 256->384, 3x3, BN, ReLU
* ``conv4``: Conv 384->384, 3x3, groups 2, BN, ReLU
* ``conv5``: Conv 384->256, 3x3, groups 2 (no BN, no ReLU)

BatchNorm uses ``eps=1e-6`` (siamfc-pytorch ``_BatchNorm2d``; momentum 0.05
only matters for training). Order inside a block is conv -> BN -> ReLU ->
pool, as the reference.

Input: ``(B, 3, H, W)`` float32 raw **RGB** pixel values 0..255 (the
reference reads frames with ``cv2.cvtColor(BGR2RGB)`` and does not
normalise). Output: ``(B, 256, h, w)`` at total stride 8: 127 -> 6x6,
255 -> 22x22.
"""

from __future__ import annotations

from torch import nn

from siamtrack.models.registry import BACKBONES

BN_EPS = 1e-6  # siamfc-pytorch siamfc/backbones.py _BatchNorm2d


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.05)


class AlexNetV1(nn.Module):
    """siamfc-pytorch ``AlexNetV1`` (module tree and key names identical); total stride 8."""

    output_stride = 8

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 96, 11, 2), _bn(96), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
        self.conv2 = nn.Sequential(nn.Conv2d(96, 256, 5, 1, groups=2), _bn(256), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(3, 2))
        self.conv3 = nn.Sequential(nn.Conv2d(256, 384, 3, 1), _bn(384), nn.ReLU(inplace=True))
        self.conv4 = nn.Sequential(nn.Conv2d(384, 384, 3, 1, groups=2), _bn(384), nn.ReLU(inplace=True))
        self.conv5 = nn.Sequential(nn.Conv2d(384, 256, 3, 1, groups=2))
        self.out_channels = 256

    def forward(self, x):
        x = self.conv1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.conv4(x)
        return self.conv5(x)


@BACKBONES.register("alexnet_v1")
def alexnet_v1() -> AlexNetV1:
    """SiamFC AlexNet (siamfc-pytorch ``AlexNetV1``), keys ``convN.<i>.*``."""
    return AlexNetV1()

"""Dilated (atrous) ResNet-50 backbone of pysot SiamRPN++ and SiamMask.

Architecture: He et al., "Deep Residual Learning", CVPR 2016, with the
changes of STVIR/pysot ``pysot/models/backbone/resnet_atrous.py`` (SiamRPN++,
Li et al. CVPR 2019): layer3 and layer4 keep stride 1 and dilate their 3x3
convolutions 2 and 4 instead, so the total stride stays 8. Module tree and
key names (``conv1``, ``bn1``, ``layer<i>.<j>.{conv,bn}{1,2,3}``,
``layer<i>.0.downsample.{0,1}``) follow pysot so official checkpoints load
strictly.

Details that matter for parity (pysot, not torchvision):

* the 7x7 stride-2 stem conv has NO padding (127 -> 61 -> max-pool -> 31);
* the stride-2 block of layer2 pads its 3x3 conv by ``2 - stride`` = 0, and
  its shortcut is a 3x3 stride-2 unpadded conv (not 1x1);
* the first block of layer3 / layer4 uses half the stage's dilation
  (1 and 2) in its 3x3 conv, and its shortcut is a 3x3 conv with that
  dilation and padding (shapes ``(1024, 512, 3, 3)``, ``(2048, 1024, 3, 3)``);
  later blocks use dilation = padding = 2 (layer3) or 4 (layer4);
* layer1's shortcut is the usual 1x1 conv.

``used_layers`` picks the returned levels among ``[relu(bn1(conv1)), layer1,
layer2, layer3, layer4]`` (indices 0..4): SiamRPN++ uses ``[2, 3, 4]``
(512, 1024, 2048 channels), SiamMask ``[0, 1, 2, 3]`` (64, 256, 512, 1024).
As in pysot, layer3 / layer4 are only built (and only have checkpoint keys)
when 3 / 4 is used; a single used layer is returned as a tensor, several as a
list.

Input: ``(B, 3, H, W)`` float32 raw BGR pixel values 0..255. Layers 2-4 are at
stride 8: 127 -> 15x15, 255 -> 31x31.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from siamtrack.models.registry import BACKBONES


class Bottleneck(nn.Module):
    """1x1 - 3x3 (strided or dilated) - 1x1 (x4 channels) with BN after each and a shortcut.

    ``conv_bn_pairs`` tells :func:`~siamtrack.models.fuse.fold_batchnorm` which
    attribute pairs to fold.
    """

    expansion = 4
    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 dilation: int = 1):
        super().__init__()
        if downsample is not None and dilation > 1:
            dilation //= 2  # first block of a dilated stage
        if stride != 1 and dilation != 1:
            raise ValueError("Bottleneck: stride and dilation cannot both differ from 1")
        padding = dilation if dilation > 1 else 2 - stride
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class ResNetAtrous(nn.Module):
    """Stem + layer1 .. layer4 of a bottleneck ResNet with dilated layer3 / layer4."""

    conv_bn_pairs = (("conv1", "bn1"),)

    def __init__(self, layers: Sequence[int], used_layers: Sequence[int]):
        super().__init__()
        self.used_layers = [int(i) for i in used_layers]
        if not self.used_layers or min(self.used_layers) < 0 or max(self.used_layers) > 4:
            raise ValueError(f"resnet50: used_layers must be in 0..4, got {list(used_layers)}")
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        channels = [64, 256, 512]
        if 3 in self.used_layers:
            self.layer3 = self._make_layer(256, layers[2], stride=1, dilation=2)
        channels.append(self.inplanes)
        if 4 in self.used_layers:
            self.layer4 = self._make_layer(512, layers[3], stride=1, dilation=4)
        channels.append(self.inplanes)
        self.out_channels = [channels[i] for i in self.used_layers]

    def _make_layer(self, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        outplanes = planes * Bottleneck.expansion
        downsample = None
        if stride != 1 or self.inplanes != outplanes:
            if stride == 1 and dilation == 1:
                conv = nn.Conv2d(self.inplanes, outplanes, 1, stride, bias=False)
            else:  # 3x3 shortcut: unpadded when strided, half the stage's dilation when dilated
                dd = dilation // 2 if dilation > 1 else 1
                pad = dd if dilation > 1 else 0
                conv = nn.Conv2d(self.inplanes, outplanes, 3, stride, pad, dilation=dd, bias=False)
            downsample = nn.Sequential(conv, nn.BatchNorm2d(outplanes))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample, dilation)]
        self.inplanes = outplanes
        layers += [Bottleneck(outplanes, planes, dilation=dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x0 = self.relu(self.bn1(self.conv1(x)))
        outputs = [x0]
        x = self.maxpool(x0)
        last = max(self.used_layers)
        for i in range(1, last + 1):
            layer = getattr(self, f"layer{i}", None)
            if layer is not None:  # pysot: an unused layer3 / layer4 is the identity
                x = layer(x)
            outputs.append(x)
        out = [outputs[i] for i in self.used_layers]
        return out[0] if len(out) == 1 else out


@BACKBONES.register("resnet50")
def resnet50(used_layers: Sequence[int] = (2, 3, 4)) -> ResNetAtrous:
    """pysot ``resnet50`` (3, 4, 6, 3 bottlenecks; SiamRPN++ ``used_layers=[2, 3, 4]``, SiamMask ``[0, 1, 2, 3]``)."""
    return ResNetAtrous((3, 4, 6, 3), used_layers)

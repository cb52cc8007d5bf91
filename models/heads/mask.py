"""Mask heads of SiamMask (Wang et al., "Fast Online Object Tracking and Segmentation: A Unifying Approach", CVPR 2019).

Module trees follow STVIR/pysot ``pysot/models/head/mask.py`` (``MaskCorr``,
``Refine``), which are those of foolwood/SiamMask
``experiments/siammask_sharp/custom.py`` (``MaskCorr.mask`` = ``DepthCorr``,
``Refine``) under other prefixes, so both families of checkpoints load
strictly (see :mod:`siamtrack.models.siammask` for the key layouts).

* :class:`MaskCorr` - a :class:`~siamtrack.models.heads.rpn.DepthwiseXCorr`
  with ``63 * 63 = 3969`` outputs: 3x3 conv + BN + ReLU on both branches,
  depthwise correlation, 1x1 conv + BN + ReLU, 1x1 conv. The correlation
  feature ``(B, 256, 25, 25)`` is what the refinement uses; the head's output
  ``(B, 3969, 25, 25)`` is a raw (pre-sigmoid) 63x63 mask per score-map cell.
* :class:`Refine` - the "sharp" refinement: the correlation feature of one
  cell is deconvolved to 15x15 and merged, coarse to fine, with the search
  image's backbone features around that cell (layer2 15x15, layer1 31x31,
  stem 61x61): each merge ``h(out) + v(feature)`` is upsampled to 31, 61 and
  finally 127 (nearest neighbour, the references' ``F.upsample`` default) and
  followed by a 3x3 conv (``post0..2``); the output is ``(B, 127*127)`` raw
  logits of the 127x127 mask.

Refine crop offsets (pysot / foolwood ``Refine.forward`` at test time): for
the cell ``pos = (row, col)`` of the 25x25 map the stem feature (125x125, zero
padded by 16) is cropped 61x61 at ``4 * pos``, layer1 (63x63, padded by 8)
31x31 at ``2 * pos``, layer2 (31x31, padded by 4) 15x15 at ``pos``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from siamtrack.models.heads.rpn import DepthwiseXCorr
from siamtrack.models.registry import HEADS
from siamtrack.models.xcorr import xcorr_depthwise

__all__ = ["MaskCorr", "Refine", "crop_padded"]


class MaskCorr(DepthwiseXCorr):
    """SiamMask's mask branch (keys ``conv_kernel``, ``conv_search``, ``head``; ``head.3`` has 3969 outputs).

    ``forward(kernel, search)`` -> ``(mask, corr_feature)`` as pysot's
    ``MaskCorr.forward``; ``template(zf)`` once, then ``correlate(state, xf)``
    gives the correlation feature alone (all the tracker needs with the
    refinement) and ``head(feature)`` the raw masks.
    """

    def forward(self, kernel, search):
        feature = xcorr_depthwise(self.conv_search(search), self.conv_kernel(kernel))
        return self.head(feature), feature


def crop_padded(f, pad: int, top: int, left: int, size: int):
    """``F.pad(f, [pad] * 4)[:, :, top:top + size, left:left + size]`` without padding the whole map.

    ``f`` ``(B, C, H, W)``, a torch tensor or a numpy array (the graph backends' outputs; the result is of
    the same kind); ``top`` / ``left`` index the padded map. Only the crop is zero-padded, so the cost does
    not grow with ``H * W``. Same values as the reference expression (exactly: zeros and copies).
    """
    _, _, h, w = f.shape
    y0, x0 = top - pad, left - pad  # crop origin in unpadded coordinates
    y1, x1 = y0 + size, x0 + size
    iy0, ix0, iy1, ix1 = max(y0, 0), max(x0, 0), min(y1, h), min(x1, w)
    array = isinstance(f, np.ndarray)
    if iy1 <= iy0 or ix1 <= ix0:
        shape = (f.shape[0], f.shape[1], size, size)
        return np.zeros(shape, f.dtype) if array else f.new_zeros(shape)
    crop = f[:, :, iy0:iy1, ix0:ix1]
    border = (ix0 - x0, x1 - ix1, iy0 - y0, y1 - iy1)  # left, right, top, bottom
    if not any(border):
        return np.ascontiguousarray(crop) if array else crop
    if array:
        return np.pad(crop, ((0, 0), (0, 0), border[2:], border[:2]))
    return F.pad(crop, border)


def _conv_relu_x2(cin: int, mid: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, mid, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(mid, cout, 3, padding=1), nn.ReLU(inplace=True))


class Refine(nn.Module):
    """SiamMask "sharp" refinement module (keys ``v0..v2``, ``h0..h2``, ``deconv``, ``post0..post2``).

    ``forward(f, corr_feature, pos)``: ``f`` = ``[stem (B, 64, 125, 125),
    layer1 (B, 256, 63, 63), layer2 (B, 512, 31, 31)]`` of the 255x255 search
    crop, ``corr_feature`` ``(B, 256, 25, 25)`` from :class:`MaskCorr`, ``pos``
    = ``(row, col)`` of the chosen cell (ints, 0..24). Returns ``(B, 127*127)``
    raw logits (row-major 127x127 mask over the exemplar-sized window centred
    on that cell). Source: pysot ``Refine.forward`` / foolwood
    ``Refine.forward(test=True)``.
    """

    def __init__(self):
        super().__init__()
        self.v0 = _conv_relu_x2(64, 16, 4)
        self.v1 = _conv_relu_x2(256, 64, 16)
        self.v2 = _conv_relu_x2(512, 128, 32)
        self.h2 = _conv_relu_x2(32, 32, 32)
        self.h1 = _conv_relu_x2(16, 16, 16)
        self.h0 = _conv_relu_x2(4, 4, 4)
        self.deconv = nn.ConvTranspose2d(256, 32, 15, 15)
        self.post0 = nn.Conv2d(32, 16, 3, padding=1)
        self.post1 = nn.Conv2d(16, 4, 3, padding=1)
        self.post2 = nn.Conv2d(4, 1, 3, padding=1)

    @staticmethod
    def patches(f, corr_feature, pos) -> tuple:
        """The inputs of :meth:`head` at the chosen cells: ``(p0 (B, 64, 61, 61), p1 (B, 256, 31, 31),
        p2 (B, 512, 15, 15), p3 (B, 256, 1, 1))``, torch tensors or numpy arrays as ``f`` and ``corr_feature``
        (pysot ``Refine.forward``: the levels zero-padded by 16 / 8 / 4, crops at ``4 pos`` / ``2 pos`` /
        ``pos``). ``pos``: one ``(row, col)`` for the whole batch, or one per batch element (a ``(B, 2)``
        sequence: B targets, each at its own cell).

        Raises:
            ValueError: a position outside the correlation map, or not one per batch element.
        """
        b = corr_feature.shape[0]
        cells = np.asarray(pos, dtype=np.int64).reshape(-1, 2)
        if len(cells) == 1 and b > 1:
            cells = np.repeat(cells, b, axis=0)
        if len(cells) != b:
            raise ValueError(f"Refine: {len(cells)} positions for a batch of {b}")
        parts = []
        for i, (row, col) in enumerate(cells.tolist()):
            if not (0 <= row < corr_feature.shape[2] and 0 <= col < corr_feature.shape[3]):
                raise ValueError(f"Refine: position {(row, col)} outside the {tuple(corr_feature.shape[2:])} map")
            one = slice(i, i + 1) if len(cells) > 1 else slice(None)
            parts.append((crop_padded(f[0][one], 16, 4 * row, 4 * col, 61),
                          crop_padded(f[1][one], 8, 2 * row, 2 * col, 31),
                          crop_padded(f[2][one], 4, row, col, 15),
                          corr_feature[one, :, row : row + 1, col : col + 1]))
        if len(parts) == 1:
            return parts[0]
        join = np.concatenate if isinstance(corr_feature, np.ndarray) else torch.cat
        return tuple(join([p[k] for p in parts]) for k in range(4))

    def head(self, p0, p1, p2, p3) -> torch.Tensor:
        """Refined logits ``(B, 127*127)`` from the :meth:`patches` (the part the graph backends export)."""
        out = self.deconv(p3)
        out = self.post0(F.interpolate(self.h2(out) + self.v2(p2), size=(31, 31), mode="nearest"))
        out = self.post1(F.interpolate(self.h1(out) + self.v1(p1), size=(61, 61), mode="nearest"))
        out = self.post2(F.interpolate(self.h0(out) + self.v0(p0), size=(127, 127), mode="nearest"))
        return out.reshape(out.shape[0], 127 * 127)

    def forward(self, f, corr_feature, pos):
        return self.head(*self.patches(f, corr_feature, pos))


@HEADS.register("mask_corr")
def mask_corr(in_channels: int = 256, hidden: int = 256, out_channels: int = 63 * 63) -> MaskCorr:
    """SiamMask mask branch (pysot ``MaskCorr``; foolwood ``MaskCorr.mask`` = ``DepthCorr(256, 256, 63**2)``)."""
    return MaskCorr(in_channels, hidden, out_channels)


@HEADS.register("refine")
def refine() -> Refine:
    """SiamMask refinement module (pysot / foolwood ``Refine``)."""
    return Refine()

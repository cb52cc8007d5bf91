"""DaSiamRPN region proposal head (foolwood/DaSiamRPN ``code/net.py`` ``SiamRPN``).

The up-channel head of SiamRPN (Li et al., CVPR 2018) as DaSiamRPN (Zhu et
al., ECCV 2018) names it, so the official checkpoints load strictly (keys
``conv_r1``, ``conv_r2``, ``conv_cls1``, ``conv_cls2``, ``regress_adjust``
at the top level; see :mod:`siamtrack.models.siamese` ``flat_keys``):

* template side (``SiamRPN.temple``): ``conv_r1`` / ``conv_cls1`` (3x3) turn
  the exemplar features ``(1, C, 6, 6)`` into ``4k`` / ``2k`` kernels of
  ``feature_out`` channels and 4x4 (``r1_kernel``, ``cls1_kernel``);
* search side (``SiamRPN.forward``): ``conv_r2`` / ``conv_cls2`` (3x3, to
  ``feature_out`` channels), full correlation with those kernels
  (:func:`~siamtrack.models.xcorr.xcorr_fast`), then the 1x1
  ``regress_adjust`` on the box branch.

The same computation as pysot's :class:`~siamtrack.models.heads.rpn.UPChannelRPN`
(which has ``feature_out = C``); DaSiamRPN's ``C`` = 512 / ``feature_out``
= 512 for SiamRPNBIG, 256 / 256 for SiamRPNvot and SiamRPNotb.

Outputs (the project's order; the reference returns ``delta, score``):
``cls`` ``(B, 2k, S, S)`` logits, channel ``a`` / ``k + a`` = background /
foreground of anchor ``a``, and ``loc`` ``(B, 4k, S, S)`` offsets dx, dy,
dw, dh (blocks of ``k`` channels); ``S`` = 19 for a 271 search crop, 21 for
287.

``forward(zf, xf)`` is the reference computation for any batch size;
``template(zf)`` once, then ``track(state, xf)`` per frame (the template's
batch size) compose the search-side convs, the correlations and
``regress_adjust`` into one 6x6 convolution (as UPChannelRPN does); equal to
``forward`` up to float32 rounding (parity tests).
"""

from __future__ import annotations

import torch
from torch import nn

from siamtrack.models.heads.rpn import _grouped_conv, _single, compose_upchannel
from siamtrack.models.registry import HEADS
from siamtrack.models.xcorr import xcorr_fast


class DaSiamRPNHead(nn.Module):
    """Up-channel RPN head with DaSiamRPN's module names (``feature_in`` = backbone channels)."""

    def __init__(self, anchor_num: int = 5, feature_in: int = 256, feature_out: int = 256):
        super().__init__()
        self.anchor_num = anchor_num
        self.feature_out = feature_out
        self.cls_out, self.loc_out = 2 * anchor_num, 4 * anchor_num
        self.conv_r1 = nn.Conv2d(feature_in, feature_out * self.loc_out, 3)
        self.conv_r2 = nn.Conv2d(feature_in, feature_out, 3)
        self.conv_cls1 = nn.Conv2d(feature_in, feature_out * self.cls_out, 3)
        self.conv_cls2 = nn.Conv2d(feature_in, feature_out, 3)
        self.regress_adjust = nn.Conv2d(self.loc_out, self.loc_out, 1)

    def kernels(self, zf) -> tuple:
        """``(r1_kernel, cls1_kernel)`` of the reference's ``temple``: ``(B, 4k*F, 4, 4)``, ``(B, 2k*F, 4, 4)``
        (for ``B = 1`` viewed as ``(4k, F, 4, 4)`` / ``(2k, F, 4, 4)`` they are ``net.r1_kernel`` /
        ``net.cls1_kernel``)."""
        zf = _single(zf, "DaSiamRPNHead")
        return self.conv_r1(zf), self.conv_cls1(zf)

    def forward(self, zf, xf):
        r1_kernel, cls1_kernel = self.kernels(zf)
        xf = _single(xf, "DaSiamRPNHead")
        cls = xcorr_fast(self.conv_cls2(xf), cls1_kernel)
        loc = self.regress_adjust(xcorr_fast(self.conv_r2(xf), r1_kernel))
        return cls, loc

    @torch.no_grad()
    def template(self, zf):
        """One conv per sample: weight ``(B*6k, C, 6, 6)``, bias, batch size ``B``."""
        r1_kernel, cls1_kernel = self.kernels(zf)
        return compose_upchannel(cls1_kernel, r1_kernel, self.conv_cls2, self.conv_r2, self.regress_adjust,
                                 self.cls_out, self.loc_out)

    def track(self, state, xf):
        weight, bias, b = state
        out = _grouped_conv(_single(xf, "DaSiamRPNHead"), weight, bias, b)
        return out[:, : self.cls_out], out[:, self.cls_out :]


@HEADS.register("dasiamrpn_rpn")
def dasiamrpn_rpn(anchor_num: int = 5, feature_in: int = 256, feature_out: int = 256) -> DaSiamRPNHead:
    """DaSiamRPN head: ``feature_in=512, feature_out=512`` (SiamRPNBIG), ``256, 256`` (SiamRPNvot / otb)."""
    return DaSiamRPNHead(anchor_num, feature_in, feature_out)

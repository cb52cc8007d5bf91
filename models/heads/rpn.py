"""Region proposal heads of SiamRPN and SiamRPN++ (pysot ``rpn_head``).

Module trees follow STVIR/pysot ``pysot/models/head/rpn.py`` so official
checkpoints load strictly:

* :class:`UPChannelRPN` - SiamRPN (Li et al., CVPR 2018): the template
  features are "up-channelled" by 3x3 convs into ``2k`` and ``4k`` kernels of
  ``C`` channels (``k`` anchors) that are correlated with the 3x3-conv'd
  search features (:func:`~siamtrack.models.xcorr.xcorr_fast`); a 1x1
  ``loc_adjust`` follows the box branch.
* :class:`DepthwiseXCorr` / :class:`DepthwiseRPN` - SiamRPN++ (Li et al.,
  CVPR 2019): 3x3 conv + BN + ReLU on both branches, depthwise correlation
  (:func:`~siamtrack.models.xcorr.xcorr_depthwise`), then a head 1x1 conv +
  BN + ReLU + 1x1 conv with bias; one for cls, one for loc.
* :class:`MultiRPN` - one DepthwiseRPN per backbone level (``rpn2``, ``rpn3``,
  ``rpn4``), outputs averaged, or with ``weighted`` mixed by the softmax of
  the learnt ``cls_weight`` / ``loc_weight``.

Outputs: ``cls`` ``(B, 2k, S, S)`` (logits; pysot's layout: channel
``a`` / ``k + a`` = background / foreground of anchor ``a``) and ``loc``
``(B, 4k, S, S)`` (anchor offsets dx, dy, dw, dh, each a block of ``k``
channels), ``S`` = 21 (AlexNet, 287 search) or 25 (ResNet-50 / MobileNetV2,
255 search) for ``k = 5`` anchors.

Every head offers two equivalent paths:

* ``forward(zf, xf)`` - the reference computation, any batch size.
* ``template(zf)`` once, then ``track(state, xf)`` per frame (with the
  template's batch size, 1 for tracking). Everything that depends only on
  the template is computed once. For UPChannelRPN the search-side 3x3 conv,
  the correlation with the template kernels and ``loc_adjust`` - all linear
  in ``xf`` - are composed into one 6x6 convolution giving ``cls`` and
  ``loc`` at once. Results equal ``forward`` up to float32 rounding (checked
  by the parity tests).

``zf`` / ``xf`` are tensors ``(B, C, H, W)``, lists of them for MultiRPN.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from siamtrack.models.fuse import affine_1x1
from siamtrack.models.registry import HEADS
from siamtrack.models.xcorr import xcorr_depthwise, xcorr_fast


def _single(f, name: str) -> torch.Tensor:
    """A single-level head accepts a tensor or a one-element list (a backbone with one used layer)."""
    if isinstance(f, (list, tuple)):
        if len(f) != 1:
            raise ValueError(f"{name}: expected one feature map, got a list of {len(f)}")
        return f[0]
    return f


def _grouped_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int) -> torch.Tensor:
    """Per-sample convolution: sample ``b`` of ``x`` with the ``b``-th of ``groups`` blocks of ``weight``."""
    b, c, h, w = x.shape
    if b != groups:
        raise ValueError(f"track: search batch {b} differs from the template batch {groups}")
    if b == 1:
        return F.conv2d(x, weight, bias)
    out = F.conv2d(x.reshape(1, b * c, h, w), weight, bias, groups=b)
    return out.reshape(b, -1, out.shape[2], out.shape[3])


@torch.no_grad()
def _compose_conv_xcorr(kernels: torch.Tensor, conv: nn.Conv2d) -> tuple:
    """Weights of ``xcorr(conv(x), kernels)`` as one convolution of ``x`` (float64).

    ``kernels`` ``(N, M, kh, kw)`` (each correlated over the ``M`` output
    channels of ``conv``), ``conv`` an unpadded, unstrided, undilated
    ``Conv2d(Cin, M, r)``. Returns weight ``(N, Cin, kh + r - 1, kw + r - 1)``
    and bias ``(N,)``:
    ``W[n, c, u, v] = sum_{m, p, q} K[n, m, p, q] w[m, c, u - p, v - q]``,
    i.e. a transposed convolution of the kernels with the conv's weights.
    """
    if conv.stride != (1, 1) or conv.padding != (0, 0) or conv.dilation != (1, 1) or conv.groups != 1:
        raise TypeError(f"cannot compose {conv} with a correlation")
    k = kernels.double()
    weight = F.conv_transpose2d(k, conv.weight.double())
    bias = k.sum((2, 3)) @ conv.bias.double() if conv.bias is not None else k.new_zeros(k.shape[0])
    return weight, bias


class UPChannelRPN(nn.Module):
    """SiamRPN up-channel head (keys ``template_{cls,loc}_conv``, ``search_{cls,loc}_conv``, ``loc_adjust``)."""

    def __init__(self, anchor_num: int = 5, feature_in: int = 256):
        super().__init__()
        self.cls_out, self.loc_out = 2 * anchor_num, 4 * anchor_num
        self.feature_in = feature_in
        self.template_cls_conv = nn.Conv2d(feature_in, feature_in * self.cls_out, 3)
        self.template_loc_conv = nn.Conv2d(feature_in, feature_in * self.loc_out, 3)
        self.search_cls_conv = nn.Conv2d(feature_in, feature_in, 3)
        self.search_loc_conv = nn.Conv2d(feature_in, feature_in, 3)
        self.loc_adjust = nn.Conv2d(self.loc_out, self.loc_out, 1)

    def forward(self, zf, xf):
        zf, xf = _single(zf, "UPChannelRPN"), _single(xf, "UPChannelRPN")
        cls = xcorr_fast(self.search_cls_conv(xf), self.template_cls_conv(zf))
        loc = self.loc_adjust(xcorr_fast(self.search_loc_conv(xf), self.template_loc_conv(zf)))
        return cls, loc

    @torch.no_grad()
    def template(self, zf):
        """One conv per sample: weight ``(B*6k, C, 6, 6)``, bias, batch size ``B``."""
        zf = _single(zf, "UPChannelRPN")
        return compose_upchannel(self.template_cls_conv(zf), self.template_loc_conv(zf), self.search_cls_conv,
                                 self.search_loc_conv, self.loc_adjust, self.cls_out, self.loc_out)

    def track(self, state, xf):
        weight, bias, b = state
        out = _grouped_conv(_single(xf, "UPChannelRPN"), weight, bias, b)
        return out[:, : self.cls_out], out[:, self.cls_out :]


@torch.no_grad()
def compose_upchannel(k_cls: torch.Tensor, k_loc: torch.Tensor, search_cls: nn.Module, search_loc: nn.Module,
                      loc_adjust: nn.Module, cls_out: int, loc_out: int) -> tuple:
    """Template state of an up-channel RPN head (SiamRPN, DaSiamRPN): one conv per sample.

    ``k_cls`` ``(B, cls_out*C, h, w)`` and ``k_loc`` ``(B, loc_out*C, h, w)`` are the
    template kernels; the search convs, the correlation (``xcorr_fast``) and the
    1x1 ``loc_adjust`` are all linear in the search features, so they compose into
    one ``(B*(cls_out+loc_out), Cin, kh, kw)`` convolution (+ bias), computed in
    float64. Returns ``(weight, bias, B)`` for :func:`_grouped_conv`.
    """
    b, c = k_cls.shape[0], k_cls.shape[1] // cls_out
    w_cls, b_cls = _compose_conv_xcorr(k_cls.reshape(-1, c, *k_cls.shape[2:]), search_cls)
    w_loc, b_loc = _compose_conv_xcorr(k_loc.reshape(-1, c, *k_loc.shape[2:]), search_loc)
    a, a_bias = affine_1x1(loc_adjust)  # loc = A (xcorr) + a_bias, folded into the loc kernels
    w_loc = torch.einsum("oj,bjchw->bochw", a, w_loc.reshape(b, loc_out, *w_loc.shape[1:]))
    b_loc = b_loc.reshape(b, loc_out) @ a.t() + a_bias
    weight = torch.cat((w_cls.reshape(b, cls_out, *w_cls.shape[1:]), w_loc), 1).flatten(0, 1)
    bias = torch.cat((b_cls.reshape(b, cls_out), b_loc), 1).flatten()
    channels_last = search_cls.weight.is_contiguous(memory_format=torch.channels_last)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return weight.to(k_cls.dtype).contiguous(memory_format=memory_format), bias.to(k_cls.dtype), b


def _conv_bn_relu(cin: int, cout: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DepthwiseXCorr(nn.Module):
    """conv_kernel / conv_search (3x3 conv + BN + ReLU), depthwise correlation, head (1x1 + BN + ReLU + 1x1)."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv_kernel = _conv_bn_relu(in_channels, hidden, kernel_size)
        self.conv_search = _conv_bn_relu(in_channels, hidden, kernel_size)
        self.head = nn.Sequential(
            nn.Conv2d(hidden, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, 1),
        )

    def forward(self, kernel, search):
        return self.head(xcorr_depthwise(self.conv_search(search), self.conv_kernel(kernel)))

    def template(self, zf):
        """Depthwise kernels ``(B*C, 1, kh, kw)`` ready for a grouped convolution, and ``B``."""
        k = self.conv_kernel(zf)
        return k.reshape(-1, 1, k.shape[2], k.shape[3]).contiguous(), k.shape[0]

    def correlate(self, state, xf):
        """Correlation feature ``(B, C, S, S)`` of search features ``xf`` with a :meth:`template` state
        (the depthwise kernels ``(B*C, 1, h, w)`` and ``B``): :meth:`track` without the head.

        Raises:
            ValueError: the search batch differs from the template's.
        """
        kernel, b = state
        search = self.conv_search(xf)
        if search.shape[0] != b:
            raise ValueError(f"track: search batch {search.shape[0]} differs from the template batch {b}")
        n, c, h, w = search.shape
        feat = F.conv2d(search.reshape(1, n * c, h, w), kernel, groups=n * c)
        return feat.reshape(n, c, feat.shape[2], feat.shape[3])

    def track(self, state, xf):
        return self.head(self.correlate(state, xf))


class DepthwiseRPN(nn.Module):
    """SiamRPN++ single-level head: ``cls`` (2k outputs) and ``loc`` (4k) :class:`DepthwiseXCorr`."""

    def __init__(self, anchor_num: int = 5, in_channels: int = 256, out_channels: int = 256):
        super().__init__()
        self.cls = DepthwiseXCorr(in_channels, out_channels, 2 * anchor_num)
        self.loc = DepthwiseXCorr(in_channels, out_channels, 4 * anchor_num)

    def forward(self, zf, xf):
        zf, xf = _single(zf, "DepthwiseRPN"), _single(xf, "DepthwiseRPN")
        return self.cls(zf, xf), self.loc(zf, xf)

    def template(self, zf):
        zf = _single(zf, "DepthwiseRPN")
        return self.cls.template(zf), self.loc.template(zf)

    def track(self, state, xf):
        xf = _single(xf, "DepthwiseRPN")
        return self.cls.track(state[0], xf), self.loc.track(state[1], xf)


class MultiRPN(nn.Module):
    """SiamRPN++ multi-level head: ``rpn2``, ``rpn3``, ... one :class:`DepthwiseRPN` per level, then mixed.

    Plain: ``sum(outputs) / n``. ``weighted``: ``sum(softmax(w)[i] * outputs[i])``
    with learnt ``cls_weight`` / ``loc_weight`` (in that order of summation, as pysot).
    """

    def __init__(self, anchor_num: int, in_channels: Sequence[int], weighted: bool = False):
        super().__init__()
        self.weighted = weighted
        self.num = len(in_channels)
        for i, c in enumerate(in_channels):
            self.add_module(f"rpn{i + 2}", DepthwiseRPN(anchor_num, c, c))
        if weighted:
            self.cls_weight = nn.Parameter(torch.ones(self.num))
            self.loc_weight = nn.Parameter(torch.ones(self.num))

    def _levels(self, feats, name: str) -> list:
        if not isinstance(feats, (list, tuple)) or len(feats) != self.num:
            got = f"a list of {len(feats)}" if isinstance(feats, (list, tuple)) else "a tensor"
            raise ValueError(f"MultiRPN: {name} must be a list of {self.num} feature maps, got {got}")
        return list(feats)

    def _mix_weights(self):
        if not self.weighted:
            return None
        return F.softmax(self.cls_weight.detach(), 0), F.softmax(self.loc_weight.detach(), 0)

    @staticmethod
    def _mix(outs: list, weight) -> torch.Tensor:
        if weight is None:
            return sum(outs) / len(outs)
        s = outs[0] * weight[0]
        for i in range(1, len(outs)):
            s = s + outs[i] * weight[i]
        return s

    def _combine(self, pairs: list, weights) -> tuple:
        wc, wl = weights if weights is not None else (None, None)
        return self._mix([p[0] for p in pairs], wc), self._mix([p[1] for p in pairs], wl)

    def forward(self, zf, xf):
        zf, xf = self._levels(zf, "zf"), self._levels(xf, "xf")
        pairs = [getattr(self, f"rpn{i + 2}")(z, x) for i, (z, x) in enumerate(zip(zf, xf))]
        weights = None
        if self.weighted:
            weights = F.softmax(self.cls_weight, 0), F.softmax(self.loc_weight, 0)
        return self._combine(pairs, weights)

    def template(self, zf):
        zf = self._levels(zf, "zf")
        return [getattr(self, f"rpn{i + 2}").template(z) for i, z in enumerate(zf)], self._mix_weights()

    def track(self, state, xf):
        states, weights = state
        xf = self._levels(xf, "xf")
        pairs = [getattr(self, f"rpn{i + 2}").track(s, x) for i, (s, x) in enumerate(zip(states, xf))]
        return self._combine(pairs, weights)


@HEADS.register("upchannel_rpn")
def upchannel_rpn(anchor_num: int = 5, feature_in: int = 256) -> UPChannelRPN:
    """SiamRPN up-channel head (pysot ``UPChannelRPN``)."""
    return UPChannelRPN(anchor_num, feature_in)


@HEADS.register("depthwise_rpn")
def depthwise_rpn(anchor_num: int = 5, in_channels: int = 256, out_channels: int = 256) -> DepthwiseRPN:
    """SiamRPN++ depthwise-correlation head (pysot ``DepthwiseRPN``; ``out_channels`` = hidden width)."""
    return DepthwiseRPN(anchor_num, in_channels, out_channels)


@HEADS.register("multi_rpn")
def multi_rpn(anchor_num: int = 5, in_channels: Sequence[int] = (256, 256, 256), weighted: bool = False) -> MultiRPN:
    """SiamRPN++ multi-level head (pysot ``MultiRPN``)."""
    return MultiRPN(anchor_num, list(in_channels), weighted)

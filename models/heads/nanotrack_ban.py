"""NanoTrack box-adaptive heads (``ban_head``), versions 1, 2 and 3.

Module trees follow HonglinChu/SiamTrackers ``NanoTrack/nanotrack/models/head/
ban_v1.py``, ``ban_v2.py`` and ``ban_v3.py`` (``DepthwiseBAN``) so the published
checkpoints load strictly; the structure of each is recorded in
``../shared/fixtures/nanotrack_v*/manifest.json`` (``model.head``).

Every head offers two equivalent paths:

* ``forward(zf, xf)`` - the reference computation for any batch size:
  template features ``zf`` ``(B, Cb, 8, 8)`` and search features ``xf``
  ``(B, Cb, 16, 16)`` (``Cb`` = 48 for v1/v2, 96 for v3) give ``cls``
  ``(B, 2, S, S)`` (logits, background / foreground) and ``loc`` ``(B, 4, S, S)``
  (exp-activated distances left, top, right, bottom in search-crop pixels),
  ``S`` = 16 (v1/v2) or 15 (v3).
* ``template(zf)`` once at init, then ``track(state, xf)`` per frame. For one
  target (B = 1) everything that depends only on the template is computed once, and the
  search-side 1x1 convolution (+ BatchNorm) followed by the point-wise
  correlation :func:`~siamtrack.models.xcorr.xcorr_pixelwise` - both linear in
  ``xf`` - is composed into one 1x1 convolution whose weights are the
  template-position kernels times the search conv; the cls and reg branches
  share that single convolution. Results equal ``forward`` up to float32
  rounding (checked by the parity tests). For N > 1 targets the state is the
  features themselves (:class:`BatchedTemplate`) and ``track`` runs ``forward``
  on the whole batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from siamtrack.models.fuse import affine_1x1
from siamtrack.models.registry import HEADS
from siamtrack.models.xcorr import xcorr_depthwise, xcorr_pixelwise


class BatchedTemplate(NamedTuple):
    """Template state of N > 1 targets: the template features ``zf`` ``(N, C, 8, 8)`` themselves, tracked by
    the reference computation ``forward(zf, xf)`` (one batched call); a single target gets the composed
    per-target 1x1 form instead."""

    zf: torch.Tensor


class ChannelAttention(nn.Module):
    """CAModule: global average pool, 1x1 conv, ReLU, 1x1 conv, sigmoid gate (keys ``fc1``, ``fc2``)."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels, 1)
        self.fc2 = nn.Conv2d(channels, channels, 1)

    def gate_weights(self, x):
        """Per-channel factors ``(B, C)`` of ``x`` ``(B, C, H, W)``: sigmoid(fc2(relu(fc1(mean))))."""
        y = x.mean((2, 3), keepdim=True)
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(y))))[:, :, 0, 0]

    def forward(self, x):
        return x * self.gate_weights(x)[:, :, None, None]


def _pw_bn(cin: int, cout: int) -> nn.Sequential:
    """1x1 conv with bias + BatchNorm (``conv_kernel`` / ``conv_search`` of the correlation modules)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout))


def _sep_tower(channels, kernels, bn_after_dw: bool, act_after_pw: bool) -> nn.Sequential:
    """Depthwise-separable tower: per layer dw kxk (no bias) [BN ReLU6] pw 1x1 (no bias) BN [ReLU6]."""
    layers = []
    for (cin, cout), k in zip(zip(channels[:-1], channels[1:]), kernels):
        layers.append(nn.Conv2d(cin, cin, k, 1, k // 2, groups=cin, bias=False))
        if bn_after_dw:
            layers += [nn.BatchNorm2d(cin), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        if act_after_pw:
            layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


def _compose_pixelwise(kernel: torch.Tensor, search_affine) -> tuple:
    """1x1-conv weights of ``xcorr_pixelwise(W x + b, kernel)`` for a fixed template ``kernel``.

    ``kernel`` ``(1, C, Hz, Wz)``; ``search_affine`` = ``(W (C, Cin), b (C,))`` in
    float64 or None for the identity. Returns ``(Hz*Wz, Cin)`` weight and
    ``(Hz*Wz,)`` bias in float64.
    """
    k = kernel.double().reshape(kernel.shape[1], -1).t()  # (Hz*Wz, C)
    if search_affine is None:
        return k, torch.zeros(k.shape[0], dtype=torch.float64, device=k.device)
    w, b = search_affine
    return k @ w, k @ b


def _as_pointwise(weight: torch.Tensor, bias: torch.Tensor, dtype) -> tuple:
    """The 1x1 convolution of ``(Cout, Cin)`` weight and ``(Cout,)`` bias as ``F.conv2d`` arguments
    ``((Cout, Cin, 1, 1), (Cout,))``, cast to ``dtype``."""
    return weight.to(dtype)[:, :, None, None].contiguous(), bias.to(dtype)


def _pointwise(xf: torch.Tensor, state: tuple) -> torch.Tensor:
    """Apply a template-composed 1x1 convolution ``(weight, bias)`` (:func:`_as_pointwise`) to ``xf``."""
    return F.conv2d(xf, state[0], state[1])


class BANv1(nn.Module):
    """NanoTrack v1 head: one point-wise correlation (48 -> 64) + channel attention, shared by both towers."""

    score_size = 16

    def __init__(self):
        super().__init__()
        self.corr_pw = nn.Module()
        self.corr_pw.CA_layer = ChannelAttention(64)
        self.cls_tower = _sep_tower([64, 128, 128, 128], [5, 5, 3], bn_after_dw=False, act_after_pw=True)
        self.bbox_tower = _sep_tower([64, 96, 96, 96, 96], [3, 3, 5, 5], bn_after_dw=False, act_after_pw=True)
        self.cls_logits = nn.Sequential(nn.Conv2d(128, 2, 1))
        self.bbox_pred = nn.Sequential(nn.Conv2d(96, 4, 1))

    def _towers(self, feat):
        cls = self.cls_logits(self.cls_tower(feat))
        loc = torch.exp(self.bbox_pred(self.bbox_tower(feat)))
        return cls, loc

    def forward(self, zf, xf):
        return self._towers(self.corr_pw.CA_layer(xcorr_pixelwise(xf, zf)))

    def template(self, zf):
        if zf.shape[0] != 1:  # N targets: the reference path, batched (the composed 1x1 form is per target)
            return BatchedTemplate(zf)
        w, b = _compose_pixelwise(zf, None)
        return _as_pointwise(w, b, zf.dtype)

    def track(self, state, xf):
        if isinstance(state, BatchedTemplate):
            return self.forward(state.zf, xf)
        return self._towers(self.corr_pw.CA_layer(_pointwise(xf, state)))


class PixelwiseCorrV2(nn.Module):
    """v2 ``PixelwiseXCorr``: 1x1 conv+BN on z and x, point-wise correlation, channel attention."""

    def __init__(self, channels: int = 48):
        super().__init__()
        self.CA_layer = ChannelAttention(64)
        self.conv_kernel = _pw_bn(channels, channels)
        self.conv_search = _pw_bn(channels, channels)

    def forward(self, zf, xf):
        return self.CA_layer(xcorr_pixelwise(self.conv_search(xf), self.conv_kernel(zf)))


class BANv2(nn.Module):
    """NanoTrack v2 head: separate point-wise correlations for reg and cls, 6-layer towers."""

    score_size = 16

    def __init__(self):
        super().__init__()
        self.corr_pw_reg = PixelwiseCorrV2(48)
        self.corr_pw_cls = PixelwiseCorrV2(48)
        chans = [64] + [96] * 6
        self.cls_pw_tower = _sep_tower(chans, [3] * 6, bn_after_dw=False, act_after_pw=True)
        self.bbox_pw_tower = _sep_tower(chans, [3] * 6, bn_after_dw=False, act_after_pw=True)
        self.cls_pred = nn.Sequential(nn.Conv2d(96, 2, 1))
        self.bbox_pred = nn.Sequential(nn.Conv2d(96, 4, 1))

    def _towers(self, reg, cls):
        logits = self.cls_pred(self.cls_pw_tower(cls))
        loc = torch.exp(self.bbox_pred(self.bbox_pw_tower(reg)))
        return logits, loc

    def forward(self, zf, xf):
        return self._towers(self.corr_pw_reg(zf, xf), self.corr_pw_cls(zf, xf))

    def template(self, zf):
        if zf.shape[0] != 1:  # N targets: the reference path, batched (the composed 1x1 form is per target)
            return BatchedTemplate(zf)
        return tuple(_as_pointwise(*_compose_pixelwise(corr.conv_kernel(zf), affine_1x1(corr.conv_search)), zf.dtype)
                     for corr in (self.corr_pw_reg, self.corr_pw_cls))

    def track(self, state, xf):
        if isinstance(state, BatchedTemplate):
            return self.forward(state.zf, xf)
        reg_map, cls_map = state
        reg = self.corr_pw_reg.CA_layer(_pointwise(xf, reg_map))
        cls = self.corr_pw_cls.CA_layer(_pointwise(xf, cls_map))
        return self._towers(reg, cls)


class DepthwiseCorrV3(nn.Module):
    """v3 ``DepthwiseXCorr``: 1x1 conv+BN on z (centre 4x4) and x, depthwise correlation with padding 1."""

    def __init__(self, channels: int = 96):
        super().__init__()
        self.conv_kernel = _pw_bn(channels, channels)
        self.conv_search = _pw_bn(channels, channels)

    def forward(self, zf_crop, xf):
        return xcorr_depthwise(self.conv_search(xf), self.conv_kernel(zf_crop), padding=1)


class PixelwiseCorrV3(PixelwiseCorrV2):
    """v3 ``PixelwiseXCorr``: as v2 plus ``conv`` = dw 2x2 (no pad) + BN + ReLU6 + pw 1x1 + BN (16 -> 15)."""

    def __init__(self, channels: int = 96):
        super().__init__(channels)
        self.conv = nn.Sequential(
            nn.Conv2d(64, 64, 2, groups=64, bias=False), nn.BatchNorm2d(64), nn.ReLU6(inplace=True),
            nn.Conv2d(64, 64, 1), nn.BatchNorm2d(64),
        )

    def forward(self, zf, xf):
        return self.conv(super().forward(zf, xf))


class BANv3(nn.Module):
    """NanoTrack v3 head: point-wise and depthwise correlations per branch, fused by a 1x1 conv."""

    score_size = 15

    def __init__(self, channels: int = 96):
        super().__init__()
        self.corr_dw_reg = DepthwiseCorrV3(channels)
        self.corr_pw_reg = PixelwiseCorrV3(channels)
        self.corr_dw_cls = DepthwiseCorrV3(channels)
        self.corr_pw_cls = PixelwiseCorrV3(channels)
        chans = [channels] * 7
        self.cls_tower = _sep_tower(chans, [3] * 6, bn_after_dw=True, act_after_pw=False)
        self.bbox_tower = _sep_tower(chans, [3] * 6, bn_after_dw=True, act_after_pw=False)
        self.cls_logits = nn.Sequential(nn.Conv2d(channels, 2, 1))
        self.bbox_pred = nn.Sequential(nn.Conv2d(channels, 4, 1))
        self.down_reg = nn.Sequential(nn.Conv2d(channels + 64, channels, 1))
        self.down_cls = nn.Sequential(nn.Conv2d(channels + 64, channels, 1))

    @staticmethod
    def _crop(zf):
        # ban_v3.py DepthwiseBAN.crop: centre 4x4 of the 8x8 template map.
        return zf[:, :, 2:6, 2:6] if zf.size(3) > 4 else zf

    def _towers(self, reg, cls):
        logits = self.cls_logits(self.cls_tower(self.down_cls(cls)))
        loc = torch.exp(self.bbox_pred(self.bbox_tower(self.down_reg(reg))))
        return logits, loc

    def forward(self, zf, xf):
        zc = self._crop(zf)
        reg = torch.cat((self.corr_pw_reg(zf, xf), self.corr_dw_reg(zc, xf)), 1)
        cls = torch.cat((self.corr_pw_cls(zf, xf), self.corr_dw_cls(zc, xf)), 1)
        return self._towers(reg, cls)

    def template(self, zf):
        if zf.shape[0] != 1:  # N targets: the reference path, batched (the composed 1x1 form is per target)
            return BatchedTemplate(zf)
        zc = self._crop(zf)
        ws, bs = [], []
        for corr in (self.corr_pw_reg, self.corr_pw_cls):
            w, b = _compose_pixelwise(corr.conv_kernel(zf), affine_1x1(corr.conv_search))
            ws.append(w)
            bs.append(b)
        dw_kernels = []
        for corr in (self.corr_dw_reg, self.corr_dw_cls):
            w, b = affine_1x1(corr.conv_search)
            ws.append(w)
            bs.append(b)
            dw_kernels.append(corr.conv_kernel(zc)[0])  # (C, 4, 4)
        dw = torch.cat(dw_kernels)[:, None].contiguous()  # (2C, 1, 4, 4)
        return _as_pointwise(torch.cat(ws), torch.cat(bs), zf.dtype), dw

    def track(self, state, xf):
        if isinstance(state, BatchedTemplate):
            return self.forward(state.zf, xf)
        pw, dw = state
        feat = _pointwise(xf, pw)
        pw_reg, pw_cls, dw_in = feat[:, :64], feat[:, 64:128], feat[:, 128:]
        dw_out = F.conv2d(dw_in, dw, padding=1, groups=dw.shape[0])
        c = dw_out.shape[1] // 2
        pw_reg = self.corr_pw_reg.conv(self.corr_pw_reg.CA_layer(pw_reg))
        pw_cls = self.corr_pw_cls.conv(self.corr_pw_cls.CA_layer(pw_cls))
        return self._towers(torch.cat((pw_reg, dw_out[:, :c]), 1), torch.cat((pw_cls, dw_out[:, c:]), 1))


@HEADS.register("nanotrack_ban_v1")
def nanotrack_ban_v1() -> BANv1:
    """NanoTrack v1 head (``ban_v1.DepthwiseBAN``), score map 16x16."""
    return BANv1()


@HEADS.register("nanotrack_ban_v2")
def nanotrack_ban_v2() -> BANv2:
    """NanoTrack v2 head (``ban_v2.DepthwiseBAN``), score map 16x16."""
    return BANv2()


@HEADS.register("nanotrack_ban_v3")
def nanotrack_ban_v3(channels: int = 96) -> BANv3:
    """NanoTrack v3 head (``ban_v3.DepthwiseBAN(96, 96)``), score map 15x15."""
    return BANv3(channels)

"""Cross-correlation core shared by every Siamese tracker.

All functions correlate a batch of search features ``x`` with a batch of
template (exemplar) features ``z``; sample ``b`` of ``x`` is only ever
correlated with sample ``b`` of ``z``. Tensors are float (float32 or float16),
NCHW, on any device; the result is on the same device and dtype.

Like every deep-learning "correlation", these are cross-correlations (no
kernel flip), i.e. exactly what ``torch.nn.functional.conv2d`` computes.

* :func:`xcorr_naive` - one ``conv2d`` per sample: the reference semantics
  (SiamFC, Bertinetto et al. 2016; pysot ``pysot/core/xcorr.py``
  ``xcorr_slow``).
* :func:`xcorr_fast` - the same result as one grouped convolution with
  ``groups=B`` (pysot ``xcorr_fast``, used by SiamRPN's up-channel head).
* :func:`xcorr_depthwise` - channel-by-channel correlation as one grouped
  convolution with ``groups=B*C`` (SiamRPN++, Li et al. CVPR 2019; pysot
  ``xcorr_depthwise``; SiamMask).
* :func:`xcorr_pixelwise` - point-wise correlation: every template position is
  a 1x1 kernel, giving ``Hz*Wz`` output channels (NanoTrack's heads,
  HonglinChu/SiamTrackers ``NanoTrack/nanotrack/core/xcorr.py``; Yan et al.
  "Alpha-Refine" pixel-wise correlation).
* :func:`xcorr_fft` - full correlation with one kernel through the 2-D DFT,
  for large kernels (CFNet's 25x25 / 30x30 correlation filters).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["xcorr_naive", "xcorr_fast", "xcorr_depthwise", "xcorr_pixelwise", "xcorr_fft"]


def _check(x: torch.Tensor, z: torch.Tensor, name: str) -> None:
    if x.dim() != 4 or z.dim() != 4:
        raise ValueError(f"{name}: expected 4-D NCHW tensors, got x {tuple(x.shape)} and z {tuple(z.shape)}")
    if x.shape[0] != z.shape[0] or x.shape[0] < 1:
        raise ValueError(f"{name}: batch sizes differ or are empty: x {tuple(x.shape)}, z {tuple(z.shape)}")


def xcorr_naive(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Full cross-correlation, one convolution per sample (reference semantics).

    Args:
        x: search features, ``(B, C, Hx, Wx)``.
        z: template kernels, ``(B, K*C, Hz, Wz)``; the template's channels are
            split into ``K`` kernels of ``C`` channels each (``K = 1`` for
            SiamFC, ``K = 2k`` / ``4k`` for SiamRPN's up-channel head).

    Returns:
        ``(B, K, Hx-Hz+1, Wx-Wz+1)``: ``out[b, k] = sum_c x[b, c] (*) z[b, k*C + c]``.

    Raises:
        ValueError: wrong ranks, different batch sizes, or ``z`` channels not
            a multiple of ``x`` channels.
    """
    _check(x, z, "xcorr_naive")
    c = x.shape[1]
    if z.shape[1] % c:
        raise ValueError(f"xcorr_naive: z channels {z.shape[1]} are not a multiple of x channels {c}")
    out = []
    for b in range(x.shape[0]):
        kernel = z[b].reshape(-1, c, z.shape[2], z.shape[3])
        out.append(F.conv2d(x[b : b + 1], kernel))
    return torch.cat(out, 0)


def xcorr_fast(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Full cross-correlation of a batch as one grouped convolution (``groups=B``).

    Same arguments, result and errors as :func:`xcorr_naive`; the batch is
    folded into the channel axis so that the whole batch is one kernel launch
    (pysot ``pysot/core/xcorr.py`` ``xcorr_fast``).
    """
    _check(x, z, "xcorr_fast")
    b, c, hx, wx = x.shape
    if z.shape[1] % c:
        raise ValueError(f"xcorr_fast: z channels {z.shape[1]} are not a multiple of x channels {c}")
    kernel = z.reshape(-1, c, z.shape[2], z.shape[3])  # (B*K, C, Hz, Wz)
    out = F.conv2d(x.reshape(1, b * c, hx, wx), kernel, groups=b)
    return out.reshape(b, -1, out.shape[2], out.shape[3])


def xcorr_depthwise(x: torch.Tensor, z: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """Depthwise (channel-by-channel) cross-correlation, one grouped convolution.

    Args:
        x: search features ``(B, C, Hx, Wx)``.
        z: template features ``(B, C, Hz, Wz)``.
        padding: zero padding of ``x`` on each side (0 in pysot; NanoTrack v3's
            ``DepthwiseXCorr`` uses 1).

    Returns:
        ``(B, C, Hx-Hz+1+2p, Wx-Wz+1+2p)``: ``out[b, c] = x[b, c] (*) z[b, c]``.

    Raises:
        ValueError: wrong ranks, or batch / channel counts differ.

    Source: pysot ``pysot/core/xcorr.py`` ``xcorr_depthwise`` (groups = B*C).
    """
    _check(x, z, "xcorr_depthwise")
    b, c, hx, wx = x.shape
    if z.shape[1] != c:
        raise ValueError(f"xcorr_depthwise: channel counts differ: x {c}, z {z.shape[1]}")
    kernel = z.reshape(b * c, 1, z.shape[2], z.shape[3])
    out = F.conv2d(x.reshape(1, b * c, hx, wx), kernel, groups=b * c, padding=padding)
    return out.reshape(b, c, out.shape[2], out.shape[3])


def xcorr_pixelwise(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Point-wise correlation: each template position acts as a 1x1 kernel.

    Args:
        x: search features ``(B, C, Hx, Wx)``.
        z: template features ``(B, C, Hz, Wz)``.

    Returns:
        ``(B, Hz*Wz, Hx, Wx)`` with ``out[b, i*Wz + j, y, x'] =
        sum_c z[b, c, i, j] * x[b, c, y, x']`` (template positions in row-major
        order), computed as one batched matrix product.

    Raises:
        ValueError: wrong ranks, or batch / channel counts differ.

    Source: NanoTrack ``nanotrack/core/xcorr.py`` ``xcorr_pixelwise``
    (HonglinChu/SiamTrackers).
    """
    _check(x, z, "xcorr_pixelwise")
    b, c, hx, wx = x.shape
    if z.shape[1] != c:
        raise ValueError(f"xcorr_pixelwise: channel counts differ: x {c}, z {z.shape[1]}")
    kernel = z.reshape(b, c, -1).transpose(1, 2)  # (B, Hz*Wz, C)
    out = torch.bmm(kernel, x.reshape(b, c, hx * wx))  # (B, Hz*Wz, Hx*Wx)
    return out.reshape(b, -1, hx, wx)


def xcorr_fft(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Full cross-correlation (``K = 1``) through the 2-D DFT, for large kernels.

    Args:
        x: search features ``(B, C, Hx, Wx)``.
        z: template ``(B, C, Hz, Wz)`` or ``(1, C, Hz, Wz)`` (one template for
            every sample, e.g. a scale pyramid).

    Returns:
        ``(B, 1, Hx-Hz+1, Wx-Wz+1)`` in ``x``'s dtype, equal to
        :func:`xcorr_naive` up to rounding: ``sum_c irfft2(conj(Z_c) X_c)`` with
        ``z`` zero-padded to the size of ``x`` (the circular wrap-around only
        touches the discarded positions), computed in float64. A 25x25 or
        30x30 kernel (CFNet's correlation filter, Valmadre et al. CVPR 2017) is
        several times faster this way than as a convolution on CPU.

    Raises:
        ValueError: wrong ranks, batch sizes, channel counts, or a kernel larger than ``x``.
    """
    if x.dim() != 4 or z.dim() != 4:
        raise ValueError(f"xcorr_fft: expected 4-D NCHW tensors, got x {tuple(x.shape)} and z {tuple(z.shape)}")
    b, c, hx, wx = x.shape
    if z.shape[0] not in (1, b) or z.shape[1] != c or z.shape[2] > hx or z.shape[3] > wx:
        raise ValueError(f"xcorr_fft: x {tuple(x.shape)} and z {tuple(z.shape)} do not match")
    size = (_fft_size(hx), _fft_size(wx))  # zero padding beyond x changes no valid position
    f64 = {"dtype": torch.float64, "memory_format": torch.contiguous_format}  # FFTs are slow on channels-last
    xf = torch.fft.rfft2(x.to(**f64), s=size)
    zf = torch.fft.rfft2(z.to(**f64), s=size)
    out = torch.fft.irfft2((zf.conj() * xf).sum(1, keepdim=True), s=size)
    return out[..., : hx - z.shape[2] + 1, : wx - z.shape[3] + 1].to(x.dtype)


def _fft_size(n: int) -> int:
    """Smallest ``2^a 3^b 5^c >= n`` (fast DFT lengths)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1

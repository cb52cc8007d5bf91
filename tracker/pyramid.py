"""Scale pyramid, window and peak search shared by the SiamFC-style trackers (SiamFC, CFNet).

Both trackers search the target at ``n`` (odd) scales around the previous
size, upsample each score map, pick the scale with the highest penalised
peak, then the peak of that map after normalisation and a cosine (Hann)
window blend, and move the target by the peak's displacement from the map
centre, back-projected through the network stride and the crop scale:

* scale factors ``step ** k``, ``k = -(n//2) .. n//2`` (siamfc-pytorch
  ``siamfc/siamfc.py`` ``init``; bertinetto/cfnet ``src/tracking/tracker.m``
  ``scales``);
* Hann window ``outer(hann(U), hann(U)) / sum`` over the upsampled map of side
  ``U = response_up * response_sz`` (same sources);
* :func:`select_peak` - scale penalty on every scale but the middle one, first
  maximum wins; ``r - min(r)``, ``/ sum``, blend ``(1 - w) r + w window``
  (siamfc-pytorch ``update``; cfnet ``src/tracking/tracker_step.m``);
* :func:`peak_displacement` - ``(loc - (U - 1) / 2) * total_stride /
  response_up * crop_side / instance_size`` in frame pixels (same sources;
  cfnet's 1-based ``p - (U + 1) / 2`` is the same offset).

Upsampling: siamfc-pytorch uses OpenCV's bicubic (``cv2.INTER_CUBIC``,
Keys ``a = -0.75``; :func:`upsample_cv2`); CFNet runs in MATLAB, whose
``imresize(..., 'bicubic')`` uses ``a = -0.5``, symmetric border handling and,
when shrinking, an antialiasing kernel widened by ``1 / scale``:
:func:`imresize_matrix` builds that resampling as a matrix (MATLAB
``imresize.m`` ``contributions`` / ``cubic``), used both for the score maps and
for the CFNet crops (:mod:`siamtrack.tracker.cfnet`).
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
import torch

__all__ = ["scale_factors", "hann_window", "upsample_cv2", "imresize_matrix", "select_peak", "peak_displacement",
           "round_half_away"]


def scale_factors(step: float, num: int) -> np.ndarray:
    """``(num,)`` float64 ``step ** k`` for ``k = -(num//2) .. num//2`` (``num`` odd, e.g. 3 -> 1/step, 1, step).

    Raises:
        ValueError: ``num`` is even or < 1 (the references assume a middle scale).
    """
    if num < 1 or num % 2 == 0:
        raise ValueError(f"scale_num must be odd and >= 1, got {num}")
    return step ** np.linspace(-(num // 2), num // 2, num)


def hann_window(size: int, dtype=np.float64) -> np.ndarray:
    """``(size, size)`` ``outer(hanning, hanning)`` normalised to sum 1, in ``dtype`` (float64 for siamfc-pytorch,
    float32 for CFNet's MATLAB ``single``); ``np.hanning`` equals MATLAB's symmetric ``hann``."""
    h = np.hanning(size)
    w = np.outer(h, h).astype(dtype)
    return w / w.sum()


def upsample_cv2(responses: np.ndarray, size: int) -> np.ndarray:
    """``(N, S, S)`` float32 score maps -> ``(N, size, size)`` float32 with ``cv2.resize`` INTER_CUBIC
    (siamfc-pytorch ``update``)."""
    return np.stack([cv2.resize(r, (size, size), interpolation=cv2.INTER_CUBIC) for r in responses])


def round_half_away(v):
    """MATLAB ``round``: halves away from zero (Python's ``round`` and ``np.round`` round halves to even)."""
    if isinstance(v, np.ndarray):
        return np.sign(v) * np.floor(np.abs(v) + 0.5)
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def _cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys cubic kernel with ``a = -0.5`` (MATLAB ``imresize.m`` ``cubic``)."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def imresize_matrix(in_len: int, out_len: int, antialias: bool = True, device="cpu",
                    dtype=torch.float32) -> torch.Tensor:
    """``(out_len, in_len)`` matrix ``M`` with ``M @ v`` = MATLAB ``imresize(v, [out_len 1], 'bicubic')``.

    Cached (the trackers ask for the same few sizes frame after frame): do not modify the result in place.

    Follows MATLAB ``imresize.m`` ``contributions``: scale ``s = out_len /
    in_len``; output pixel ``x`` (1-based) maps to ``u = x / s + (1 - 1 / s) /
    2``; taps ``floor(u - width / 2) + (0 .. ceil(width) + 1)`` weighted by the
    cubic kernel (when shrinking with ``antialias``: ``s * cubic(s * d)``,
    ``width = 4 / s``), normalised to sum 1; indices outside ``1..in_len``
    are mirrored (``[1..n, n..1]`` repeated). A 2-D resize is
    ``M_rows @ img @ M_cols.T`` per channel. Weights are computed in float64
    and returned in ``dtype`` on ``device``.
    """
    return _imresize_matrix(int(in_len), int(out_len), bool(antialias), str(torch.device(device)), dtype)


@functools.lru_cache(maxsize=256)
def _imresize_matrix(in_len: int, out_len: int, antialias: bool, device: str, dtype) -> torch.Tensor:
    scale = out_len / in_len
    width = 4.0
    shrink = antialias and scale < 1
    if shrink:
        width = 4.0 / scale
    x = torch.arange(1, out_len + 1, dtype=torch.float64, device=device)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64, device=device)[None, :]
    d = u[:, None] - idx
    w = scale * _cubic(scale * d) if shrink else _cubic(d)
    w = w / w.sum(1, keepdim=True)
    # mirror: 1-based index i -> aux[(i - 1) mod 2n], aux = [1..n, n..1]
    period = 2 * in_len
    k = torch.remainder(idx.long() - 1, period)
    k = torch.where(k < in_len, k, period - 1 - k)  # 0-based source index
    m = torch.zeros(out_len, in_len, dtype=torch.float64, device=device)
    rows = torch.arange(out_len, device=device)[:, None].expand_as(k)
    m.index_put_((rows.reshape(-1), k.reshape(-1)), w.reshape(-1), accumulate=True)
    return m.to(dtype)


def select_peak(responses: np.ndarray, scale_penalty: float, window: np.ndarray, window_influence: float,
                column_major: bool = False):
    """Best scale and peak location in upsampled score maps.

    Args:
        responses: ``(N, U, U)`` float32 upsampled score maps, scales in the
            order of :func:`scale_factors`; scaled in place by the penalty.
        scale_penalty: factor applied to every scale but the middle one.
        window: ``(U, U)`` Hann window (:func:`hann_window`); its dtype sets the
            blend's precision (float64 siamfc-pytorch, float32 CFNet).
        window_influence: blend weight of the window.
        column_major: ties resolved in column-major order (MATLAB ``find(...,
            1)``) instead of row-major (``np.argmax``).

    Returns:
        ``(scale_id, (row, col), peak)``: index of the chosen scale (first
        maximum of the penalised peaks), 0-based location of the maximum of
        the normalised, window-blended map of that scale, and that scale's
        penalised peak value before normalisation (siamfc-pytorch's score).
    """
    n = responses.shape[0]
    responses[: n // 2] *= scale_penalty
    responses[n // 2 + 1 :] *= scale_penalty
    peaks = np.amax(responses, axis=(1, 2))
    scale_id = int(np.argmax(peaks))
    response = responses[scale_id]
    response = response - response.min()
    response = response / (response.sum() + 1e-16)
    response = (1 - window_influence) * response + window_influence * window
    if column_major:
        col, row = np.unravel_index(int(np.argmax(response.T)), response.T.shape)
    else:
        row, col = np.unravel_index(int(np.argmax(response)), response.shape)
    return scale_id, (int(row), int(col)), float(peaks[scale_id])


def peak_displacement(loc, upscale_size: int, total_stride: int, response_up: int, crop_side, instance_size: int,
                      scale=1.0) -> np.ndarray:
    """Displacement ``[dy, dx]`` (float64, frame pixels) of the target centre for a peak at ``loc`` ``(row, col)``.

    ``(loc - (U - 1) / 2) * total_stride / response_up * crop_side * scale /
    instance_size``: from the upsampled map to the network input, then to the
    frame, where ``crop_side * scale`` is the side (frame pixels) of the crop
    that was resized to ``instance_size``. Operations in the reference's
    order (siamfc-pytorch ``update``; cfnet ``tracker_step.m``).
    """
    disp = np.array(loc) - (upscale_size - 1) / 2
    disp = disp * total_stride / response_up
    return disp * crop_side * scale / instance_size

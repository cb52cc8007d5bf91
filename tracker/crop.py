"""Context crops: the square image region around the target, padded with the mean colour.

Follows pysot ``pysot/tracker/base_tracker.py`` ``SiameseTracker.get_subwindow``
(also NanoTrack's and DaSiamRPN's): a ``crop_size`` x ``crop_size`` region
centred on ``center`` (origin ``floor(c - (crop_size + 1) / 2 + 0.5)``), the parts
outside the image filled with ``pad_value`` truncated to uint8, resized with
bilinear interpolation (``cv2.resize`` INTER_LINEAR) to ``out_size`` when the
sizes differ. Unlike the reference, only the crop (not the whole frame) is
padded, which gives the same pixels with far less copying. DaSiamRPN
(``code/utils.py`` ``get_subwindow_tracking``) takes the origin as
``round(c - (crop_size + 1) / 2)`` with Python 2's ``round`` (halves away from
zero): pass its rounding as ``origin_round``.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np

__all__ = ["context_crop", "crop_square", "pad_colour"]


def pad_colour(mean_bgr) -> tuple:
    """The per-channel padding value as the reference stores it: the mean truncated to uint8."""
    return tuple(float(int(v)) for v in np.asarray(mean_bgr, dtype=np.float64).ravel())


def context_crop(img: np.ndarray, center, out_size: int, crop_size: float, pad,
                 origin_round: Callable[[float], float] | None = None) -> np.ndarray:
    """Crop, pad and resize the region around ``center``.

    Args:
        img: frame ``(H, W, 3)`` uint8 (BGR as read by OpenCV).
        center: ``(cx, cy)`` in 0-based pixels (floats).
        out_size: side of the returned patch in pixels (e.g. 127 or 255).
        crop_size: side of the region in frame pixels; rounded by the caller as
            the reference does (an integer value).
        pad: per-channel fill value, see :func:`pad_colour`.
        origin_round: how ``center - (crop_size + 1) / 2`` is rounded to the
            region's first pixel; default pysot's ``floor(v + 0.5)``.

    Returns:
        ``(out_size, out_size, 3)`` uint8 patch (C-contiguous).
    """
    sz = int(crop_size)
    c = (sz + 1) / 2
    if origin_round is None:
        x0 = int(math.floor(center[0] - c + 0.5))
        y0 = int(math.floor(center[1] - c + 0.5))
    else:
        x0, y0 = int(origin_round(center[0] - c)), int(origin_round(center[1] - c))
    return crop_square(img, x0, y0, sz, out_size, pad)


def crop_square(img: np.ndarray, x0: int, y0: int, crop_size: int, out_size: int, pad) -> np.ndarray:
    """The ``crop_size`` x ``crop_size`` region whose top-left pixel is ``(x0, y0)`` (0-based, may lie outside
    the frame), the outside filled with ``pad`` as ``cv2.copyMakeBorder`` does (values rounded to uint8),
    resized with ``cv2.resize`` INTER_LINEAR to ``out_size`` when the sizes differ.

    Returns ``(out_size, out_size, C)`` uint8 (C-contiguous), channels in the order of ``img``.
    """
    sz = int(crop_size)
    h, w = img.shape[:2]
    x1, y1 = x0 + sz, y0 + sz  # exclusive
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if ix1 <= ix0 or iy1 <= iy0:  # region entirely outside the frame: every pixel is padding
        patch = np.empty((sz, sz, img.shape[2]), np.uint8)
        patch[:] = np.clip(np.rint(np.asarray(pad, dtype=np.float64)), 0, 255).astype(np.uint8)
    else:
        patch = img[iy0:iy1, ix0:ix1]
        top, left, bottom, right = iy0 - y0, ix0 - x0, y1 - iy1, x1 - ix1
        if top or left or bottom or right:
            patch = cv2.copyMakeBorder(patch, top, bottom, left, right, cv2.BORDER_CONSTANT, value=pad)
    if sz != out_size:
        patch = cv2.resize(patch, (out_size, out_size))
    return np.ascontiguousarray(patch)

"""DAVIS video-object-segmentation measures: region similarity J and contour accuracy F.

Definitions of davisvideochallenge/davis2017-evaluation (``davis2017/metrics.py``,
``davis2017/utils.py``), used for DAVIS-2016 as for 2017:

* J: intersection over union of the binary masks; 1 when both are empty
  (``db_eval_iou``).
* F: boundary F-measure (``f_measure``): 1-pixel boundary maps
  (``_seg2bmap``), each dilated by a disk of radius ``ceil(0.008 * image
  diagonal)`` pixels; precision = share of the predicted boundary within
  that distance of the true one, recall the converse; F = 2PR / (P + R).
* statistics per sequence (``db_statistics``): mean, recall (share of frames
  with value > 0.5) and decay (mean of the first quarter of the frames minus
  that of the last quarter). The first and the last frames are not scored
  (semi-supervised protocol, ``evaluation.py``: ``[:, 1:-1]``).
"""

from __future__ import annotations

import math
import warnings

import cv2
import numpy as np

__all__ = ["jaccard", "boundary_map", "f_measure", "statistics", "BOUND_TH"]

#: davis2017 ``db_eval_boundary(..., bound_th=0.008)``: tolerance as a fraction of the image diagonal.
BOUND_TH = 0.008


def jaccard(gt: np.ndarray, pred: np.ndarray) -> float:
    """J of two ``(H, W)`` masks (any dtype, nonzero = object); 1 when both are empty."""
    g, p = np.asarray(gt).astype(bool), np.asarray(pred).astype(bool)
    if g.shape != p.shape:
        raise ValueError(f"mask shapes differ: {g.shape} vs {p.shape}")
    union = np.count_nonzero(g | p)
    return 1.0 if union == 0 else np.count_nonzero(g & p) / union


def boundary_map(seg: np.ndarray) -> np.ndarray:
    """1-pixel boundary of a ``(H, W)`` mask, offset half a pixel towards the origin (davis2017 ``_seg2bmap``)."""
    seg = np.asarray(seg).astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _disk(radius: int) -> np.ndarray:
    """``skimage.morphology.disk(radius)``: pixels with ``x^2 + y^2 <= r^2``, uint8."""
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2 <= radius * radius).astype(np.uint8)


def f_measure(gt: np.ndarray, pred: np.ndarray, bound_th: float = BOUND_TH) -> float:
    """Boundary F-measure of a predicted ``(H, W)`` mask against the ground truth (davis2017 ``f_measure``)."""
    pred = np.asarray(pred).astype(bool)
    gt = np.asarray(gt).astype(bool)
    if gt.shape != pred.shape:
        raise ValueError(f"mask shapes differ: {gt.shape} vs {pred.shape}")
    bound_pix = bound_th if bound_th >= 1 else math.ceil(bound_th * np.linalg.norm(pred.shape))
    fg_b = boundary_map(pred)
    gt_b = boundary_map(gt)
    disk = _disk(int(bound_pix))
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), disk)
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), disk)
    n_fg = int(np.count_nonzero(fg_b))
    n_gt = int(np.count_nonzero(gt_b))
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = np.count_nonzero(fg_b & (gt_dil > 0)) / n_fg
        recall = np.count_nonzero(gt_b & (fg_dil > 0)) / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def statistics(per_frame: np.ndarray) -> dict:
    """``{"mean", "recall", "decay"}`` of per-frame values (davis2017 ``db_statistics``, 4 bins for the decay)."""
    v = np.asarray(per_frame, dtype=np.float64)
    if v.size == 0:
        return {"mean": float("nan"), "recall": float("nan"), "decay": float("nan")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(v)
        recall = np.nanmean(v > 0.5)
        ids = (np.round(np.linspace(1, len(v), 5) + 1e-10) - 1).astype(int)  # the reference's uint8 wraps past 256
        bins = [v[ids[i]:ids[i + 1] + 1] for i in range(4)]
        decay = np.nanmean(bins[0]) - np.nanmean(bins[3])
    return {"mean": float(mean), "recall": float(recall), "decay": float(decay)}

"""One-pass evaluation (OPE) measures of the OTB benchmark: success, precision, normalised precision.

Boxes are ``(N, 4)`` ``[x, y, w, h]`` in the ground truth's own pixel
convention (the tracker is initialised and scored in that convention, as
got10k and pysot do). Frame 0 counts: its prediction is the ground truth
itself (got10k ``ExperimentOTB.report`` sets ``boxes[0] = anno[0]``).

* IoU: continuous box IoU ``inter / (union + eps)`` clipped to ``[0, 1]``
  (got10k ``utils/metrics.py`` ``rect_iou``), ``nan`` ground truth -> 0.
* Success curve: fraction of frames with IoU ``>`` each of the 21 thresholds
  ``linspace(0, 1, 21)``; its mean is the success AUC (got10k
  ``ExperimentOTB``: ``nbins_iou = 21``, ``success_score = mean(curve)``).
* Precision curve: fraction of frames whose centre error (centres at
  ``x + (w - 1) / 2``, got10k ``center_error``) is ``<=`` each threshold
  ``0, 1, ..., 50`` pixels; the precision score is its value at 20 px.
* Normalised precision: centre error with both centres divided by the ground
  truth's ``(w, h)`` (pysot ``toolkit/evaluation/ope_benchmark.py``
  ``eval_norm_precision``, after TrackingNet), thresholds ``0, 0.01, ...,
  0.5``; the score is the curve at 0.2 (pysot ``show_result``).

Sequences are averaged with equal weight (curves first, then the scores),
as got10k and pysot do.
"""

from __future__ import annotations

import numpy as np

__all__ = ["IOU_THRESHOLDS", "CE_THRESHOLDS", "NORM_THRESHOLDS", "rect_iou", "center_error",
           "sequence_curves", "summarise"]

#: got10k ``ExperimentOTB``: ``np.linspace(0, 1, nbins_iou=21)``.
IOU_THRESHOLDS = np.linspace(0, 1, 21)
#: got10k ``ExperimentOTB``: ``np.arange(0, nbins_ce=51)`` pixels.
CE_THRESHOLDS = np.arange(0, 51)
#: pysot ``eval_norm_precision``: ``np.arange(0, 51) / 100``.
NORM_THRESHOLDS = np.arange(0, 51) / 100


def rect_iou(boxes: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Row-wise IoU of ``(N, 4)`` boxes, got10k's ``rect_iou`` (``+ eps`` in the union, clipped to [0, 1])."""
    b = np.asarray(boxes, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    x1 = np.maximum(b[:, 0], g[:, 0])
    y1 = np.maximum(b[:, 1], g[:, 1])
    x2 = np.minimum(b[:, 0] + b[:, 2], g[:, 0] + g[:, 2])
    y2 = np.minimum(b[:, 1] + b[:, 3], g[:, 1] + g[:, 3])
    inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = b[:, 2] * b[:, 3] + g[:, 2] * g[:, 3] - inter
    with np.errstate(invalid="ignore"):
        iou = np.clip(inter / (union + np.finfo(float).eps), 0.0, 1.0)
    return np.nan_to_num(iou, nan=0.0)


def _centers(b: np.ndarray) -> np.ndarray:
    return b[:, :2] + (b[:, 2:4] - 1) / 2


def center_error(boxes: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Row-wise distance (pixels) between centres ``x + (w - 1) / 2`` (got10k ``center_error``); ``nan`` GT -> inf."""
    d = np.linalg.norm(_centers(np.asarray(boxes, float)) - _centers(np.asarray(gt, float)), axis=1)
    return np.where(np.isnan(d), np.inf, d)


def sequence_curves(boxes: np.ndarray, gt: np.ndarray) -> dict:
    """Success, precision and normalised-precision curves of one sequence.

    Args:
        boxes: ``(N, 4)`` predictions; row 0 is replaced by ``gt[0]``.
        gt: ``(N, 4)`` ground truth (rows may be ``nan``: target absent, counts as a miss).

    Returns:
        dict with ``success_curve`` (21,), ``precision_curve`` (51,),
        ``norm_precision_curve`` (51,) (float64 arrays), ``success_score``
        (AUC), ``precision_score`` (at 20 px), ``norm_precision_score`` (at 0.2),
        ``success_rate`` (IoU > 0.5), ``frames``.
    """
    boxes = np.array(boxes, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if boxes.shape != gt.shape:
        raise ValueError(f"{boxes.shape[0]} boxes for {gt.shape[0]} ground-truth rows")
    boxes[0] = gt[0]
    iou = rect_iou(boxes, gt)
    ce = center_error(boxes, gt)
    with np.errstate(invalid="ignore", divide="ignore"):
        nd = np.linalg.norm((_centers(boxes) - _centers(gt)) / (gt[:, 2:4] + 1e-16), axis=1)
    nd = np.where(np.isnan(nd), np.inf, nd)
    succ = np.mean(iou[:, None] > IOU_THRESHOLDS[None, :], axis=0)
    prec = np.mean(ce[:, None] <= CE_THRESHOLDS[None, :], axis=0)
    norm = np.mean(nd[:, None] <= NORM_THRESHOLDS[None, :], axis=0)
    return _scores(succ, prec, norm, len(gt))


def _scores(succ, prec, norm, frames) -> dict:
    return {
        "success_curve": succ, "precision_curve": prec, "norm_precision_curve": norm,
        "success_score": float(np.mean(succ)), "precision_score": float(prec[20]),
        "norm_precision_score": float(norm[20]), "success_rate": float(succ[len(succ) // 2]),
        "frames": int(frames),
    }


def summarise(per_sequence: list[dict]) -> dict:
    """Overall scores: the per-sequence curves averaged with equal weight, then scored as one sequence."""
    succ = np.mean([s["success_curve"] for s in per_sequence], axis=0)
    prec = np.mean([s["precision_curve"] for s in per_sequence], axis=0)
    norm = np.mean([s["norm_precision_curve"] for s in per_sequence], axis=0)
    return _scores(succ, prec, norm, sum(s["frames"] for s in per_sequence))

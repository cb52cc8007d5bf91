"""GOT-10k measures: average overlap (AO) and success rates SR0.5 / SR0.75.

Definitions of got10k ``experiments/got10k.py`` ``ExperimentGOT10k.report``
(the toolkit that scores the GOT-10k server submissions): per repetition
the IoU of frames 1.. (frame 0 is the initialisation and is skipped) with the
boxes bounded by the image as ``utils/metrics.py`` ``rect_iou(..., bound)``
does it (corner clipped into ``[0, W] x [0, H]``, then the size clipped to
what is left of the image), only frames whose ``cover.label`` is > 0 (the
target visible); the IoUs of all repetitions of all sequences are pooled
(frame-weighted): AO is their mean, SR_t the fraction above ``t``; the
success curve uses 101 thresholds ``linspace(0, 1, 101)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["THRESHOLDS", "bounded_rect_iou", "sequence_ious", "summarise"]

#: got10k ``ExperimentGOT10k.nbins_iou = 101``.
THRESHOLDS = np.linspace(0, 1, 101)


def _clip(r: np.ndarray, bound) -> np.ndarray:
    r = np.array(r, dtype=np.float64)
    r[:, 0] = np.clip(r[:, 0], 0, bound[0])
    r[:, 1] = np.clip(r[:, 1], 0, bound[1])
    r[:, 2] = np.clip(r[:, 2], 0, bound[0] - r[:, 0])
    r[:, 3] = np.clip(r[:, 3], 0, bound[1] - r[:, 1])
    return r


def bounded_rect_iou(boxes: np.ndarray, gt: np.ndarray, bound) -> np.ndarray:
    """Row-wise IoU of ``(N, 4)`` ``[x, y, w, h]`` boxes bounded by ``bound = (W, H)`` (got10k ``rect_iou``)."""
    a, b = _clip(boxes, bound), _clip(gt, bound)
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.clip(inter / (union + np.finfo(float).eps), 0.0, 1.0)


def sequence_ious(runs: list, gt: np.ndarray, cover: np.ndarray, size_wh) -> np.ndarray:
    """IoUs of one sequence, all repetitions concatenated: frames 1.. with ``cover > 0``.

    Args:
        runs: repetitions, each ``(N, 4)`` boxes.
        gt: ``(N, 4)`` ground truth.
        cover: ``(N,)`` visible ratio label (0 = absent / fully occluded).
        size_wh: image ``(W, H)`` in pixels.
    """
    keep = np.asarray(cover)[1:] > 0
    return np.concatenate([bounded_rect_iou(np.asarray(b)[1:], np.asarray(gt)[1:], size_wh)[keep] for b in runs])


def summarise(ious: np.ndarray) -> dict:
    """``{"ao", "sr50", "sr75", "success_curve" (101,), "frames"}`` of pooled IoUs (``nan`` scores when empty)."""
    ious = np.asarray(ious, dtype=np.float64)
    if ious.size == 0:
        return {"ao": float("nan"), "sr50": float("nan"), "sr75": float("nan"),
                "success_curve": np.full(len(THRESHOLDS), np.nan), "frames": 0}
    return {"ao": float(np.mean(ious)), "sr50": float(np.mean(ious > 0.5)), "sr75": float(np.mean(ious > 0.75)),
            "success_curve": np.mean(ious[:, None] > THRESHOLDS[None, :], axis=0), "frames": int(ious.size)}

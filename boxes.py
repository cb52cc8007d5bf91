"""Box and polygon conventions of the tracking benchmarks.

Boxes are ``[x, y, w, h]`` in 0-based pixels unless a function says otherwise;
VOT regions are 8-number polygons ``x1, y1, ..., x4, y4``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["axis_aligned_init_box", "polygon_bounds", "iou_xywh", "read_boxes"]


def axis_aligned_init_box(region) -> np.ndarray:
    """Initial ``[x, y, w, h]`` box from a VOT region, as pysot's test scripts make it.

    For a polygon: centre = mean of the four corners; the polygon's bounding
    box is scaled so that its area equals the polygon's (area from two edge
    lengths, i.e. assuming a rectangle), plus one pixel; then
    ``[cx - (w - 1) / 2, cy - (h - 1) / 2, w, h]``. For a 4-number box the
    centre is ``x + w / 2`` and the size is kept. Source: pysot
    ``pysot/utils/bbox.py`` ``get_axis_aligned_bbox`` and ``tools/test.py``.
    """
    r = np.asarray(region, dtype=np.float64).ravel()
    if r.size == 8:
        xs, ys = r[0::2], r[1::2]
        cx, cy = xs.mean(), ys.mean()
        x1, x2, y1, y2 = xs.min(), xs.max(), ys.min(), ys.max()
        a1 = np.linalg.norm(r[0:2] - r[2:4]) * np.linalg.norm(r[2:4] - r[4:6])
        a2 = (x2 - x1) * (y2 - y1)
        s = np.sqrt(a1 / a2)
        w, h = s * (x2 - x1) + 1, s * (y2 - y1) + 1
    elif r.size == 4:
        x, y, w, h = r
        cx, cy = x + w / 2, y + h / 2
    else:
        raise ValueError(f"region must have 4 or 8 numbers, got {r.size}")
    return np.array([cx - (w - 1) / 2, cy - (h - 1) / 2, w, h])


def polygon_bounds(region) -> np.ndarray:
    """``[min x, min y, max x - min x, max y - min y]`` of a polygon (or a 4-number box, returned as is)."""
    r = np.asarray(region, dtype=np.float64).ravel()
    if r.size == 4:
        return r.copy()
    xs, ys = r[0::2], r[1::2]
    return np.array([xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()])


def iou_xywh(a, b) -> np.ndarray:
    """Intersection over union of ``(N, 4)`` ``[x, y, w, h]`` boxes row by row (continuous, no +1)."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def read_boxes(path) -> np.ndarray:
    """Rows of numbers from a ground-truth or results file (comma, tab or space separated) as ``(N, K)``."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append([float(v) for v in line.replace(",", " ").replace("\t", " ").split()])
    return np.array(rows, dtype=np.float64)

"""The VOT toolkit's pixel-raster overlap: the overlap of every VOT score in siamtrack.

vot-toolkit-python 0.9.0 (votchallenge/vot-toolkit-python) scores regions on
a pixel raster, not with exact areas (``vot/region/raster.py``
``calculate_overlap``); :func:`raster_overlap` follows that definition, so
that siamtrack reproduces ``vot analysis`` numbers from the same result files:

* coordinates are first rounded to integers, half to even (``np.round`` in
  ``_infer_meta``);
* a rectangle ``x, y, w, h`` covers the pixels ``x .. x + w - 1`` and
  ``y .. y + h - 1`` (inclusive);
* a polygon covers the pixels its scan-line fill marks: for each pixel row
  ``py``, the crossings of the polygon's edges with the row (an edge counts
  when ``py`` lies between its end points' rows, ends included; a horizontal
  edge on the row counts with its first vertex) are truncated to integers,
  sorted, and the pixels between consecutive pairs are set, both ends
  included; when two consecutive crossings are equal and more than one pair
  is left, the first is dropped (``rasterize_polygon``);
* both regions are rasterised in the box spanning their (rounded) bounding
  boxes, clipped to the image ``[0, W - 1] x [0, H - 1]``; IoU = common pixels /
  pixels of either; 1 when both bounding boxes are degenerate (zero width or
  height), 0 when the clipped box is, or when no pixel is set.

The VOT measures built on it (accuracy, robustness, EAO, the baseline
protocol's failure test) are in :mod:`siamtrack.benchmarks.measures.vot`.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["raster_overlap", "raster_overlaps"]


@numba.njit(cache=True)
def _fill_rectangle(mask, r, b0, b1, b2, b3):
    # The right / bottom ends are clipped to the raster box's absolute right / bottom (b2, b3), as the
    # toolkit's rasterize_rectangle does; the same as the box's own size unless it starts left of / above 0.
    x, y, w, h = r[0], r[1], r[2], r[3]
    height, width = mask.shape
    left = max(0, int(x) - b0)
    top = max(0, int(y) - b1)
    right = min(width - 1, b2, int(x + w - 1) - b0)
    bottom = min(height - 1, b3, int(y + h - 1) - b1)
    for yy in range(top, bottom + 1):
        for xx in range(left, right + 1):
            mask[yy, xx] = 1


@numba.njit(cache=True)
def _fill_polygon(mask, px, py, b0, b1):
    height, width = mask.shape
    n = px.shape[0]
    xs = px - b0
    ys = py - b1
    cross = np.zeros(n, dtype=np.int64)
    for row in range(height):
        count = 0
        prev = n - 1
        for cur in range(n):
            ya, yb = ys[cur], ys[prev]
            if (ya <= row < yb) or (yb <= row < ya) or (ya < row <= yb) or (yb < row <= ya) or (ya == yb == row):
                dy = yb - ya
                if dy != 0:
                    cross[count] = np.int64(xs[cur] + (row - ya) / dy * (xs[prev] - xs[cur]))
                else:
                    cross[count] = np.int64(xs[cur])
                count += 1
            prev = cur
        cross[:count] = np.sort(cross[:count])
        k = 0
        while k < count - 1:
            if cross[k] >= width:
                break
            if cross[k] == cross[k + 1] and k < count - 2:
                k += 1
                continue
            if cross[k + 1] >= 0:
                lo = max(cross[k], 0)
                hi = min(cross[k + 1], width - 1)
                for xx in range(lo, hi + 1):
                    mask[row, xx] = 1
            k += 2


@numba.njit(cache=True)
def _bounds(r, is_poly):
    if is_poly:
        n = r.shape[0] // 2
        l, t, rr, bb = r[0], r[1], r[0], r[1]
        for i in range(n):
            l = min(l, r[2 * i])
            rr = max(rr, r[2 * i])
            t = min(t, r[2 * i + 1])
            bb = max(bb, r[2 * i + 1])
        return int(l), int(t), int(rr), int(bb)
    return int(r[0]), int(r[1]), int(r[0] + r[2] - 1), int(r[1] + r[3] - 1)


@numba.njit(cache=True)
def _raster_overlap(a, a_poly, b, b_poly, width, height):
    la, ta, ra, ba = _bounds(a, a_poly)
    lb, tb, rb, bb = _bounds(b, b_poly)
    u0, u1, u2, u3 = min(la, lb), min(ta, tb), max(ra, rb), max(ba, bb)
    if u0 >= u2 or u1 >= u3:
        return 1.0
    u0, u1, u2, u3 = max(0, u0), max(0, u1), min(width - 1, u2), min(height - 1, u3)
    if u0 >= u2 or u1 >= u3:
        return 0.0
    ma = np.zeros((u3 - u1 + 1, u2 - u0 + 1), dtype=np.uint8)
    mb = np.zeros((u3 - u1 + 1, u2 - u0 + 1), dtype=np.uint8)
    for m, r, poly in ((ma, a, a_poly), (mb, b, b_poly)):
        if poly:
            _fill_polygon(m, r[0::2].copy(), r[1::2].copy(), u0, u1)
        else:
            x, y, w, h = r[0], r[1], r[2], r[3]
            if not (x > u2 or x + w - 1 < u0 or y > u3 or y + h - 1 < u1):
                _fill_rectangle(m, r, u0, u1, u2, u3)
    inter = 0
    union = 0
    for i in range(ma.shape[0]):
        for j in range(ma.shape[1]):
            if ma[i, j] or mb[i, j]:
                union += 1
                if ma[i, j] and mb[i, j]:
                    inter += 1
    return inter / union if union > 0 else 0.0


def raster_overlap(a, b, size) -> float:
    """The VOT toolkit's bounded overlap of two regions (see the module docstring).

    Args:
        a, b: ``[x, y, w, h]`` boxes or ``x1, y1, ..., xN, yN`` polygons (0-based pixels);
            a single number (a special VOT region) gives ``nan``.
        size: ``(W, H)`` image size in pixels (the toolkit's ``sequence.size``). The toolkit's
            unbounded variant (never used by its analyses) is not reproduced: with regions left of
            or above the image it slices its raster with negative indices.

    Returns:
        The IoU of the two pixel sets, in ``[0, 1]`` (checked equal to vot-toolkit 0.9.0
        ``calculate_overlap(..., bounds=size)`` on 3000 random box / polygon pairs).
    """
    ra = np.round(np.asarray(a, dtype=np.float64).ravel())
    rb = np.round(np.asarray(b, dtype=np.float64).ravel())
    if ra.size < 4 or rb.size < 4 or not (np.all(np.isfinite(ra)) and np.all(np.isfinite(rb))):
        return float("nan")
    return float(_raster_overlap(ra, ra.size != 4, rb, rb.size != 4, int(size[0]), int(size[1])))


def raster_overlaps(trajectory, groundtruth, size) -> np.ndarray:
    """:func:`raster_overlap` frame by frame: ``(N,)`` float64, ``nan`` on special frames."""
    if len(trajectory) != len(groundtruth):
        raise ValueError(f"trajectory of {len(trajectory)} frames for {len(groundtruth)} ground-truth frames")
    return np.array([raster_overlap(r, g, size) for r, g in zip(trajectory, groundtruth)], dtype=np.float64)


"""Region overlap (intersection over union) of boxes and polygons, optionally bounded by the image.

Regions are ``[x, y, w, h]`` boxes (continuous: corners ``(x, y)`` and
``(x + w, y + h)``) or polygons ``x1, y1, x2, y2, ...`` (any number of
vertices >= 3, either orientation, convex or not, but simple). Coordinates are
pixels in whatever convention the two regions share.

The areas are exact (up to floating point): the area of an intersection of
simple polygons is the line integral ``1/2 \u222e (x dy - y dx)`` over its
boundary (Green's theorem), and that boundary is made of the pieces of each
polygon's edges that lie inside all the other polygons. Each edge is split
where it meets the other polygons' edges, and each piece is kept or dropped
by testing its midpoint; a piece running along another polygon's edge in the
same direction is kept once (by the polygon listed first), one running in the
opposite direction never. No rasterisation, no C extension: the loops are
compiled with numba.

*Bounded* overlap is the VOT definition: both regions are first intersected
with the image rectangle ``[0, W - 1] x [0, H - 1]`` (votchallenge
toolkit-legacy ``analysis/estimate_accuracy.m``: ``bounds = [sequence.width,
sequence.height] - 1`` passed to ``calculate_overlap``; the trax
``region_compute_overlap`` clips both regions to those bounds). The VOT
toolkit computes the areas on a pixel raster; here they are exact, which is
what that raster approximates. siamtrack's VOT scores use the toolkit's raster
(:mod:`siamtrack.benchmarks.measures.vot_raster`), not this. Special VOT regions (a single number:
initialisation ``1``, failure ``2``, skipped ``0``) have no overlap: ``nan``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["to_polygon", "polygon_area", "intersection_area", "region_overlap", "region_overlaps", "vot_bounds"]


@numba.njit(cache=True)
def _signed_area(px, py, s, e):
    a = 0.0
    for i in range(s, e):
        j = i + 1 if i + 1 < e else s
        a += px[i] * py[j] - px[j] * py[i]
    return 0.5 * a


@numba.njit(cache=True)
def _classify(x, y, dx, dy, px, py, s, e, sg, eps):
    """Point ``(x, y)`` of a piece running in direction ``(dx, dy)`` against polygon ``[s, e)``.

    Returns 1 strictly inside, -1 strictly outside, 2 on an edge running the
    same way (after orienting the polygon counter-clockwise with ``sg``), -2 on
    an edge running the opposite way.
    """
    for i in range(s, e):
        j = i + 1 if i + 1 < e else s
        ex = px[j] - px[i]
        ey = py[j] - py[i]
        l2 = ex * ex + ey * ey
        if l2 == 0.0:
            continue
        wx = x - px[i]
        wy = y - py[i]
        cr = ex * wy - ey * wx
        if cr * cr <= eps * eps * l2:  # within eps of the edge's line
            t = (wx * ex + wy * ey) / l2
            tol = eps / math.sqrt(l2)
            if -tol <= t <= 1.0 + tol:  # ... and of the edge itself
                dot = (ex * dx + ey * dy) * sg
                if dot > 0.0:
                    return 2
                if dot < 0.0:
                    return -2
    inside = False
    for i in range(s, e):
        j = i + 1 if i + 1 < e else s
        if (py[i] > y) != (py[j] > y):
            xi = px[i] + (y - py[i]) * (px[j] - px[i]) / (py[j] - py[i])
            if x < xi:
                inside = not inside
    return 1 if inside else -1


@numba.njit(cache=True)
def _intersection_area(px, py, offs):
    """Area of the intersection of the simple polygons ``[offs[k], offs[k+1])`` of ``px, py`` (float64)."""
    k = offs.shape[0] - 1
    n = px.shape[0]
    scale = 1.0
    for i in range(n):
        scale = max(scale, abs(px[i]), abs(py[i]))
    eps = 1e-10 * scale
    sg = np.empty(k)
    for a in range(k):
        ar = _signed_area(px, py, offs[a], offs[a + 1])
        if ar == 0.0:
            return 0.0  # a degenerate polygon has no interior
        sg[a] = 1.0 if ar > 0.0 else -1.0
    ts = np.empty(2 * n + 2)
    total = 0.0
    for a in range(k):
        s, e = offs[a], offs[a + 1]
        for i in range(s, e):
            j = i + 1 if i + 1 < e else s
            x0 = px[i]
            y0 = py[i]
            dx = px[j] - x0
            dy = py[j] - y0
            l2 = dx * dx + dy * dy
            if l2 == 0.0:
                continue
            nt = 0
            ts[nt] = 0.0
            nt += 1
            ts[nt] = 1.0
            nt += 1
            for b in range(k):
                if b == a:
                    continue
                for p in range(offs[b], offs[b + 1]):
                    q = p + 1 if p + 1 < offs[b + 1] else offs[b]
                    fx = px[q] - px[p]
                    fy = py[q] - py[p]
                    lf2 = fx * fx + fy * fy
                    if lf2 == 0.0:
                        continue
                    wx = px[p] - x0
                    wy = py[p] - y0
                    den = dx * fy - dy * fx
                    if abs(den) > 1e-12 * math.sqrt(l2 * lf2):
                        t = (wx * fy - wy * fx) / den
                        u = (wx * dy - wy * dx) / den
                        if -1e-12 <= u <= 1.0 + 1e-12 and 0.0 < t < 1.0:
                            ts[nt] = t
                            nt += 1
                    elif abs(dx * wy - dy * wx) <= eps * math.sqrt(l2):  # collinear edges
                        t1 = (wx * dx + wy * dy) / l2
                        t2 = ((px[q] - x0) * dx + (py[q] - y0) * dy) / l2
                        if 0.0 < t1 < 1.0:
                            ts[nt] = t1
                            nt += 1
                        if 0.0 < t2 < 1.0:
                            ts[nt] = t2
                            nt += 1
            tt = np.sort(ts[:nt])
            for m in range(nt - 1):
                ta = tt[m]
                tb = tt[m + 1]
                if (tb - ta) * math.sqrt(l2) <= eps:
                    continue
                tm = 0.5 * (ta + tb)
                mx = x0 + dx * tm
                my = y0 + dy * tm
                keep = True
                for b in range(k):
                    if b == a:
                        continue
                    c = _classify(mx, my, dx * sg[a], dy * sg[a], px, py, offs[b], offs[b + 1], sg[b], eps)
                    if c == 1 or (c == 2 and a < b):
                        continue
                    keep = False
                    break
                if keep:
                    ax = x0 + dx * ta
                    ay = y0 + dy * ta
                    bx = x0 + dx * tb
                    by = y0 + dy * tb
                    total += sg[a] * (ax * by - bx * ay)
    return max(0.0, 0.5 * total)


def to_polygon(region) -> np.ndarray:
    """A region as an ``(N, 2)`` float64 vertex array.

    ``[x, y, w, h]`` becomes the corners ``(x, y), (x + w, y), (x + w, y + h),
    (x, y + h)`` (trax ``region_convert`` RECTANGLE -> POLYGON, legacy
    continuous convention); ``2N`` numbers (N >= 3) are taken as vertices.

    Raises:
        ValueError: not 4 numbers nor an even count >= 6.
    """
    r = np.asarray(region, dtype=np.float64).ravel()
    if r.size == 4:
        x, y, w, h = r
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    if r.size >= 6 and r.size % 2 == 0:
        return r.reshape(-1, 2)
    raise ValueError(f"a region is 4 numbers x,y,w,h or >= 3 polygon vertices, got {r.size} numbers")


def _pack(polys):
    px = np.concatenate([p[:, 0] for p in polys])
    py = np.concatenate([p[:, 1] for p in polys])
    offs = np.zeros(len(polys) + 1, dtype=np.int64)
    offs[1:] = np.cumsum([len(p) for p in polys])
    return px, py, offs


@numba.njit(cache=True)
def _overlap(ax, ay, bx, by, bw, bh):
    """IoU of polygons ``a`` and ``b``; bounded by ``[0, bw] x [0, bh]`` when ``bw >= 0``."""
    na = ax.shape[0]
    nb = bx.shape[0]
    if bw < 0.0:
        px = np.concatenate((ax, bx))
        py = np.concatenate((ay, by))
        offs = np.array([0, na, na + nb], dtype=np.int64)
        inter = _intersection_area(px, py, offs)
        area_a = abs(_signed_area(ax, ay, 0, na))
        area_b = abs(_signed_area(bx, by, 0, nb))
    else:
        rx = np.array([0.0, bw, bw, 0.0])
        ry = np.array([0.0, 0.0, bh, bh])
        px = np.concatenate((ax, bx, rx))
        py = np.concatenate((ay, by, ry))
        inter = _intersection_area(px, py, np.array([0, na, na + nb, na + nb + 4], dtype=np.int64))
        area_a = _intersection_area(np.concatenate((ax, rx)), np.concatenate((ay, ry)),
                                    np.array([0, na, na + 4], dtype=np.int64))
        area_b = _intersection_area(np.concatenate((bx, rx)), np.concatenate((by, ry)),
                                    np.array([0, nb, nb + 4], dtype=np.int64))
    union = area_a + area_b - inter
    if union <= 0.0:
        return 0.0
    return min(1.0, max(0.0, inter / union))


def polygon_area(region) -> float:
    """Area (pixels squared, >= 0) of a box or simple polygon (shoelace formula)."""
    p = to_polygon(region)
    return abs(float(_signed_area(p[:, 0].copy(), p[:, 1].copy(), 0, len(p))))


def intersection_area(*regions) -> float:
    """Area of the intersection of two or more boxes / simple polygons (exact, see the module docstring)."""
    polys = [to_polygon(r) for r in regions]
    if any(not np.all(np.isfinite(p)) for p in polys):
        return 0.0
    return float(_intersection_area(*_pack(polys)))


def vot_bounds(width: int, height: int) -> tuple[float, float]:
    """The VOT bounding rectangle of a ``width`` x ``height`` image: ``(W - 1, H - 1)``
    (toolkit-legacy ``estimate_accuracy.m``: ``[sequence.width, sequence.height] - 1``)."""
    return float(width - 1), float(height - 1)


def region_overlap(a, b, bounds=None) -> float:
    """Intersection over union of regions ``a`` and ``b`` (boxes ``[x, y, w, h]`` or polygons).

    Args:
        a, b: 4 numbers (box) or ``2N`` numbers (polygon); a single number
            (a VOT special region: 0 / 1 / 2) or non-finite values give ``nan``.
        bounds: ``(bw, bh)``: intersect both regions with the rectangle
            ``[0, bw] x [0, bh]`` first (use :func:`vot_bounds`); ``None``:
            unbounded.

    Returns:
        The overlap in ``[0, 1]``; 0 when the union has no area; ``nan`` for a
        special region.
    """
    ra = np.asarray(a, dtype=np.float64).ravel()
    rb = np.asarray(b, dtype=np.float64).ravel()
    if ra.size < 4 or rb.size < 4 or not (np.all(np.isfinite(ra)) and np.all(np.isfinite(rb))):
        return float("nan")
    pa, pb = to_polygon(ra), to_polygon(rb)
    bw, bh = (-1.0, -1.0) if bounds is None else (float(bounds[0]), float(bounds[1]))
    return float(_overlap(np.ascontiguousarray(pa[:, 0]), np.ascontiguousarray(pa[:, 1]),
                          np.ascontiguousarray(pb[:, 0]), np.ascontiguousarray(pb[:, 1]), bw, bh))


def region_overlaps(regions_a, regions_b, bounds=None) -> np.ndarray:
    """Frame-by-frame :func:`region_overlap` of two equally long lists of regions: ``(N,)`` float64."""
    if len(regions_a) != len(regions_b):
        raise ValueError(f"{len(regions_a)} regions against {len(regions_b)}")
    return np.array([region_overlap(a, b, bounds) for a, b in zip(regions_a, regions_b)], dtype=np.float64)

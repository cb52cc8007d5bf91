"""Region overlap of ``siamtrack.benchmarks.measures.overlap`` against shapely (exact polygon geometry).

Random convex polygons (convex hulls of random points) and random concave
ones (star-shaped: sorted angles, random radii), in both orientations, plain
and bounded by an image rectangle as VOT bounds them: every overlap within
1e-6 of shapely's. Degenerate configurations (identical regions, shared or
collinear edges, touching corners, zero size, special VOT codes) checked
against hand-computed values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import MultiPoint, Polygon, box

from siamtrack.benchmarks.measures.overlap import (intersection_area, polygon_area, region_overlap,
                                                   region_overlaps, to_polygon, vot_bounds)

W, H = 90, 70


def _convex(rng) -> np.ndarray:
    pts = rng.uniform(-1, 1, (int(rng.integers(3, 12)), 2)) * rng.uniform(5, 50) + rng.uniform(0, 100, 2)
    hull = MultiPoint(pts).convex_hull
    return np.array(hull.exterior.coords)[:-1]


def _concave(rng) -> np.ndarray:
    while True:
        n = int(rng.integers(5, 13))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        if np.max(np.diff(np.r_[ang, ang[0] + 2 * np.pi])) < np.pi * 0.9:  # centre inside: a simple star
            break
    rad = rng.uniform(0.25, 1.0, n) * rng.uniform(5, 50)
    c = rng.uniform(0, 100, 2)
    return np.stack([c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)], axis=1)


def _shapely_iou(a: Polygon, b: Polygon, bounds=None) -> float:
    if bounds is not None:
        r = box(0, 0, bounds[0], bounds[1])
        a, b = a.intersection(r), b.intersection(r)
    union = a.union(b).area
    return a.intersection(b).area / union if union > 0 else 0.0


@pytest.mark.parametrize("kinds", [("convex", "convex"), ("concave", "concave"), ("convex", "concave")])
def test_random_polygons_match_shapely(kinds):
    rng = np.random.default_rng(sum(map(ord, "".join(kinds))))
    make = {"convex": _convex, "concave": _concave}
    worst, checked, concave_seen, partial_seen = 0.0, 0, 0, 0
    for _ in range(150):
        a, b = make[kinds[0]](rng), make[kinds[1]](rng)
        if rng.random() < 0.5:
            a = a[::-1]  # clockwise
        pa, pb = Polygon(a), Polygon(b)
        assert pa.is_valid and pb.is_valid
        concave_seen += pa.convex_hull.area - pa.area > 1e-6 or pb.convex_hull.area - pb.area > 1e-6
        for bounds in (None, vot_bounds(W, H)):
            ref = _shapely_iou(pa, pb, bounds)
            got = region_overlap(a.ravel(), b.ravel(), bounds)
            worst = max(worst, abs(got - ref))
            partial_seen += 0.05 < ref < 0.95
            checked += 1
        assert intersection_area(a.ravel(), b.ravel()) == pytest.approx(pa.intersection(pb).area, abs=1e-6)
    assert worst < 1e-6, worst
    assert checked == 300 and partial_seen > 30  # enough genuinely partial overlaps were compared
    if "concave" in kinds:
        assert concave_seen > 100


def test_boxes_against_polygons_bounded_by_the_image():
    """Boxes (tracker output) against rotated quadrilaterals (VOT ground truth) reaching out of the image."""
    rng = np.random.default_rng(7)
    for _ in range(100):
        cx, cy = rng.uniform(-10, W + 10), rng.uniform(-10, H + 10)
        w, h, t = rng.uniform(5, 40), rng.uniform(5, 40), rng.uniform(0, np.pi)
        c, s = math.cos(t), math.sin(t)
        quad = np.array([[cx + c * x - s * y, cy + s * x + c * y] for x, y in
                         [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]])
        bx = [cx + rng.uniform(-15, 15) - 15, cy + rng.uniform(-15, 15) - 10, rng.uniform(5, 40), rng.uniform(5, 40)]
        pb = box(bx[0], bx[1], bx[0] + bx[2], bx[1] + bx[3])
        for bounds in (None, vot_bounds(W, H)):
            assert region_overlap(bx, quad.ravel(), bounds) == pytest.approx(
                _shapely_iou(pb, Polygon(quad), bounds), abs=1e-6)


def test_degenerate_configurations():
    # identical boxes, shared edge (area 0 between), corner touch, nested with shared edges
    assert region_overlap([10, 10, 20, 20], [10, 10, 20, 20]) == 1.0
    assert region_overlap([10, 10, 20, 20], [30, 10, 20, 20]) == 0.0
    assert region_overlap([10, 10, 20, 20], [30, 30, 5, 5]) == 0.0
    assert region_overlap([0, 0, 10, 10], [0, 0, 5, 5]) == pytest.approx(0.25, abs=1e-12)
    assert region_overlap([10, 10, 20, 20], [20, 10, 20, 20]) == pytest.approx(1 / 3, abs=1e-12)
    # the same box as a polygon in the other orientation, starting at another corner
    assert region_overlap([10, 10, 20, 20], [30, 30, 30, 10, 10, 10, 10, 30]) == pytest.approx(1.0, abs=1e-12)
    # bounded: the part outside [0, W-1] x [0, H-1] does not count
    b = vot_bounds(100, 100)
    assert b == (99.0, 99.0)
    assert region_overlap([-5, -5, 10, 10], [0, 0, 5, 5], b) == pytest.approx(1.0, abs=1e-12)
    assert region_overlap([0, 0, 10, 10], [6, 6, 10, 10], (5, 5)) == 0.0
    assert region_overlap([95, 0, 10, 10], [99, 0, 20, 10], b) == 0.0  # overlap only outside the image
    assert region_overlap([95, 0, 10, 10], [99, 0, 20, 10]) == pytest.approx(60 / 240, abs=1e-12)
    # zero-size and non-finite regions, special VOT codes
    assert region_overlap([10, 10, 0, 20], [10, 10, 20, 20]) == 0.0
    assert region_overlap([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0
    assert math.isnan(region_overlap([np.nan, 1, 2, 3], [0, 0, 5, 5]))
    assert math.isnan(region_overlap([2.0], [0, 0, 5, 5]))
    got = region_overlaps([[0, 0, 10, 10], [1.0]], [[0, 0, 10, 10], [0, 0, 10, 10]])
    assert got[0] == 1.0 and math.isnan(got[1])
    assert polygon_area([0, 0, 4, 0, 4, 3]) == 6.0 and polygon_area([1, 2, 3, 4]) == 12.0
    assert to_polygon([1, 2, 3, 4]).tolist() == [[1, 2], [4, 2], [4, 6], [1, 6]]
    with pytest.raises(ValueError):
        to_polygon([1, 2, 3, 4, 5])

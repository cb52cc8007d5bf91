"""Benchmark measures: EAO and A/R on worked examples, OTB / GOT-10k against got10k's code, DAVIS J/F on real masks."""

from __future__ import annotations

import numpy as np
import pytest

from siamtrack.benchmarks.datasets.davis import read_mask
from siamtrack.benchmarks.measures import davis as mdavis
from siamtrack.benchmarks.measures import got10k as mgot
from siamtrack.benchmarks.measures import otb as motb
from siamtrack.benchmarks.measures import vot as mvot

NAN = np.nan


# ----------------------------------------------------------------------------- VOT


def _traj(codes_or_boxes):
    return [np.array([v], float) if np.isscalar(v) else np.asarray(v, float) for v in codes_or_boxes]


def test_eao_worked_example():
    """vot-toolkit 0.9.0 EAO (EAOCurve.subcompute / compute_eao_curve / EAOScore), by hand.

    A (6 frames): init, .8, .6, failure, skipped, init. B (8 frames): init, then .5 on every frame.
    Fragments (from each init to the next failure, that frame excluded; the init frame counts 0):
        F0 = [0, .8, .6]  failed: defined at every index, 0 past its end
        F1 = [0]          A's last init, no failure after it: defined at index 0 only
        F2 = [0, .5 x 7]  defined at indices 0..7
    Curve at index j >= 1: mean over the fragments defined at j of their mean over frames 1..j;
    as long as the longest fragment (8):
        j=0: (0 + 0 + 0) / 3 = 0         j=1: (.8 + .5) / 2 = .65     j=2: (.7 + .5) / 2 = .6
        j=3: (1.4/3 + .5) / 2 = .483333  j=4: (.35 + .5) / 2 = .425   j=5: (.28 + .5) / 2 = .39
        j=6: (1.4/6 + .5) / 2 = .366667  j=7: (.2 + .5) / 2 = .35
    EAO over indices low..high (both included): 1..3 -> (.65 + .6 + .483333) / 3 = .577778;
    5..9 (past the curve: not counted) -> (.39 + .366667 + .35) / 3 = .368889.
    """
    traj_a, ov_a = _traj([1, [0, 0, 1, 1], [0, 0, 1, 1], 2, 0, 1]), np.array([NAN, .8, .6, NAN, NAN, NAN])
    traj_b, ov_b = _traj([1] + [[0, 0, 1, 1]] * 7), np.array([NAN] + [.5] * 7)
    fa, fb = mvot.eao_fragments(ov_a, traj_a), mvot.eao_fragments(ov_b, traj_b)
    assert [(f.tolist(), failed) for f, failed in fa] == [([0, .8, .6], True), ([0.0], False)]
    assert [(f.tolist(), failed) for f, failed in fb] == [([0] + [.5] * 7, False)]
    curve = mvot.eao_curve(fa + fb)
    expected = [0, .65, .6, (1.4 / 3 + .5) / 2, .425, .39, (1.4 / 6 + .5) / 2, .35]
    np.testing.assert_allclose(curve, expected, atol=1e-12)
    assert mvot.eao_score(curve, 1, 3) == pytest.approx((.65 + .6 + (1.4 / 3 + .5) / 2) / 3, abs=1e-12)
    assert mvot.eao_score(curve, 1, 3) == pytest.approx(0.577778, abs=1e-6)
    assert mvot.eao_score(curve, 5, 9) == pytest.approx((.39 + (1.4 / 6 + .5) / 2 + .35) / 3, abs=1e-12)
    assert np.isnan(mvot.eao_score(curve, 100, 356))  # the whole range past the curve

    # every fragment weighs 1: a second repetition of A alone changes the curve (j=1: (.8 + .8 + .5) / 3),
    # a second repetition of everything does not
    np.testing.assert_allclose(mvot.eao_curve(fa + fa + fb)[1], (.8 + .8 + .5) / 3, atol=1e-12)
    np.testing.assert_allclose(mvot.eao_curve(fa + fb + fa + fb), curve, atol=1e-12)
    # a failure near the sequence's end, no re-init: the failed fragment alone; the curve is 3 long, not 5
    short = mvot.eao_curve(mvot.eao_fragments(ov_a[:5], traj_a[:5]))
    np.testing.assert_allclose(short, [0, .8, .7], atol=1e-12)
    # the stacks' ranges are curve indices: VOT2016 108..371, VOT2017 / 2018 100..356 (vot-toolkit 0.9.0)
    assert mvot.EAO_RANGES == {2016: (108, 371), 2017: (100, 356), 2018: (100, 356)}
    from siamtrack.benchmarks.vot_workspace import STACKS  # the workspace's stack files say the same

    assert {int(k[3:]): (v[1], v[2]) for k, v in STACKS.items()} == mvot.EAO_RANGES
    with pytest.raises(ValueError):
        mvot.eao_curve([])


def test_accuracy_robustness_worked_example():
    """vot-toolkit 0.9.0 compute_accuracy / AccuracyRobustness / AverageAccuracyRobustness, by hand."""
    box = [0, 0, 1, 1]
    traj = _traj([1, box, box, box, 2, 0, 0, 0, 1, box, box, box])
    ov = np.array([NAN, .4, .6, .8, NAN, NAN, NAN, NAN, NAN, 1.0, .2, .3])
    # burn-in 2: frames 0, 1 and 8, 9 (from each init), the failure 4 and the unknown 5..7 are left out
    assert mvot.accuracy_mask(traj, 2).nonzero()[0].tolist() == [2, 3, 10, 11]
    assert mvot.trajectory_accuracy(ov, traj, 2) == pytest.approx((.6 + .8 + .2 + .3) / 4, abs=1e-12)
    # the default burn-in of 10 covers every frame: accuracy 0 (the toolkit's value for no frame)
    assert mvot.trajectory_accuracy(ov, traj) == 0.0
    assert mvot.failures(traj) == [4]

    # sequence x: 12 frames, 2 trajectories (accuracies .475, .525; 1 and 0 failures); y: 6 frames, 1, 2 failures
    ar = mvot.accuracy_robustness({"x": {"accuracy": [.475, .525], "failures": [1, 0], "frames": 12},
                                   "y": {"accuracy": [.9], "failures": [2], "frames": 6}})
    assert ar["accuracy"] == pytest.approx((.5 * 12 + .9 * 6) / 18, abs=1e-12)  # length-weighted
    assert ar["robustness"] == pytest.approx((.5 * 12 + 2 * 6) / 18, abs=1e-12)  # failures per sequence: 1.0
    assert ar["ar_robustness"] == pytest.approx(np.exp(-30 * 1.0 / 9), abs=1e-12)  # mean length 9
    assert ar["failures"] == pytest.approx(2.5) and ar["failure_rate"] == pytest.approx(2.5 / 18, abs=1e-12)
    assert ar["frames"] == 18
    assert ar["sequences"]["x"] == pytest.approx({"accuracy": .5, "robustness": .5, "failures": .5,
                                                  "failure_rate": .5 / 12, "frames": 12})
    ao = mvot.average_overlap({"x": {"accuracy": [.475, .525], "frames": 12}, "y": {"accuracy": [.9], "frames": 6}})
    assert ao["ao"] == pytest.approx((.5 * 12 + .9 * 6) / 18, abs=1e-12) and ao["frames"] == 18
    with pytest.raises(ValueError):
        mvot.accuracy_robustness({})


def test_frame_overlaps_and_failure_test_use_the_toolkit_raster():
    # a 10 x 10 box and its 0.4-pixel shift: exact IoU 9.6 / 10.4, on the raster (rounded to 0) identical
    gt = [[0, 0, 10, 10]] * 4
    traj = _traj([1, [0.4, 0, 10, 10], [20, 20, 5, 5], 2])
    ov = mvot.frame_overlaps(traj, gt, (100, 100))
    assert np.isnan(ov[[0, 3]]).all() and ov[1] == 1.0 and ov[2] == 0.0
    # pixels 0..9 and 5..14 (x, y, w, h inclusive of x .. x + w - 1): 25 / 175 on the raster, 25 / 175 exact
    assert mvot.frame_overlaps(_traj([[5, 5, 10, 10]]), [[0, 0, 10, 10]], (100, 100))[0] == pytest.approx(25 / 175)
    # bounded by the image: the part of both boxes outside a 8 x 8 image does not count
    assert mvot.frame_overlaps(_traj([[4, 4, 10, 10]]), [[0, 0, 10, 10]], (8, 8))[0] == pytest.approx(16 / 64)
    assert not mvot.is_failure([9, 9, 5, 5], [0, 0, 10, 10], (100, 100))  # one common pixel (9, 9)
    assert mvot.is_failure([10, 10, 5, 5], [0, 0, 10, 10], (100, 100))  # touching corners: no common pixel
    assert mvot.is_failure([200, 200, 5, 5], [0, 0, 10, 10], (100, 100))  # outside the image
    assert mvot.is_failure([np.nan, 0, 5, 5], [0, 0, 10, 10], (100, 100))
    with pytest.raises(ValueError):
        mvot.frame_overlaps(traj[:-1], gt, (100, 100))


# ----------------------------------------------------------------------------- OTB / GOT-10k vs got10k


def _random_boxes(rng, n, w=320, h=240):
    xy = rng.uniform(-30, [w, h], (n, 2))
    wh = rng.uniform(2, 80, (n, 2))
    return np.round(np.hstack([xy, wh]), 3)


def test_otb_curves_match_got10k():
    from got10k.experiments.otb import ExperimentOTB

    rng = np.random.default_rng(3)
    gt = _random_boxes(rng, 200)
    boxes = gt + np.round(rng.normal(0, 12, gt.shape), 3)
    boxes[:, 2:] = np.abs(boxes[:, 2:]) + 1
    exp = ExperimentOTB.__new__(ExperimentOTB)  # only the scoring helpers: no dataset needed
    exp.nbins_iou, exp.nbins_ce = 21, 51
    ref_boxes = boxes.copy()
    ref_boxes[0] = gt[0]
    succ, prec = exp._calc_curves(*exp._calc_metrics(ref_boxes, gt))
    ours = motb.sequence_curves(boxes, gt)
    np.testing.assert_array_equal(ours["success_curve"], succ)
    np.testing.assert_array_equal(ours["precision_curve"], prec)
    assert ours["success_score"] == np.mean(succ) and ours["precision_score"] == prec[20]
    assert 0.05 < ours["success_score"] < 0.95  # a non-trivial case
    # normalised precision: centres divided by the GT size (pysot eval_norm_precision), at 0.2
    c = lambda b: b[:, :2] + (b[:, 2:] - 1) / 2  # noqa: E731
    nd = np.linalg.norm((c(ref_boxes) - c(gt)) / gt[:, 2:], axis=1)
    assert ours["norm_precision_score"] == pytest.approx(np.mean(nd <= 0.2), abs=1e-12)


def test_got10k_bounded_iou_matches_got10k():
    from got10k.utils.metrics import rect_iou

    rng = np.random.default_rng(5)
    a, b = _random_boxes(rng, 300), _random_boxes(rng, 300)
    b[:100] = a[:100] + rng.normal(0, 5, (100, 4))
    ref = rect_iou(a.copy(), b.copy(), bound=(320, 240))
    np.testing.assert_array_equal(mgot.bounded_rect_iou(a, b, (320, 240)), ref)
    s = mgot.summarise(ref)
    assert s["ao"] == np.mean(ref) and s["sr50"] == np.mean(ref > 0.5) and s["sr75"] == np.mean(ref > 0.75)
    cover = np.ones(300)
    cover[[0, 5, 6]] = 0
    ious = mgot.sequence_ious([a], b, cover, (320, 240))
    np.testing.assert_array_equal(ious, np.delete(ref, [0, 5, 6]))


# ----------------------------------------------------------------------------- DAVIS J / F on real masks


def _boundary_pixels(mask):
    """Boundary as DAVIS draws it, computed pixel by pixel: a pixel that differs from its right, lower or
    lower-right neighbour."""
    m = np.pad(mask.astype(bool), ((0, 1), (0, 1)), mode="edge")
    b = np.zeros(mask.shape, bool)
    h, w = mask.shape
    for dy, dx in ((0, 1), (1, 0), (1, 1)):
        b |= m[:h, :w] != m[dy:dy + h, dx:dx + w]
    b[-1, :] = mask[-1, :] != np.r_[mask[-1, 1:], False]  # last row: only the right neighbour, 0 past the edge
    b[:, -1] = mask[:, -1] != np.r_[mask[1:, -1], False]  # last column: only the lower neighbour
    b[-1, -1] = False
    return np.argwhere(b)


def _f_direct(gt, pred, radius):
    from scipy.spatial import cKDTree

    pg, pp = _boundary_pixels(gt), _boundary_pixels(pred)
    prec = np.mean(cKDTree(pg).query(pp)[0] <= radius)
    rec = np.mean(cKDTree(pp).query(pg)[0] <= radius)
    return 2 * prec * rec / (prec + rec) if prec + rec else 0.0


@pytest.fixture(scope="module")
def swan_mask(shared_dir):
    return read_mask(str(shared_dir / "data/davis/Annotations/480p/blackswan/00010.png"))


def test_davis_j_and_f_on_real_masks(swan_mask):
    import cv2

    gt = swan_mask
    assert gt.shape == (480, 854) and 5000 < gt.sum() < 200000
    radius = int(np.ceil(0.008 * np.hypot(480, 854)))
    assert radius == 8
    eroded = cv2.erode(gt.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    assert mdavis.jaccard(gt, eroded) == pytest.approx(eroded.sum() / gt.sum(), abs=1e-12)  # eroded is inside gt
    shifted = np.zeros_like(gt)
    shifted[:, 30:] = gt[:, :-30]
    inter = np.logical_and(gt[:, 30:], gt[:, :-30]).sum()
    assert mdavis.jaccard(gt, shifted) == pytest.approx(inter / (2 * gt.sum() - inter), abs=1e-12)
    assert mdavis.jaccard(gt, gt) == 1.0 and mdavis.jaccard(np.zeros_like(gt), np.zeros_like(gt)) == 1.0
    assert mdavis.f_measure(gt, gt) == 1.0
    for pred in (eroded, shifted):
        f = mdavis.f_measure(gt, pred)
        assert 0.05 < f < 0.95
        assert f == pytest.approx(_f_direct(gt, pred, radius), abs=1e-12)
    assert mdavis.f_measure(gt, np.zeros_like(gt)) == 0.0
    st = mdavis.statistics(np.array([0.9, 0.8, 0.4, 0.7, 0.6, 0.2, 0.1, 0.3]))
    # davis2017 db_statistics: 4 bins from linspace(1, 8, 5) -> frames [0..2], [2..4], [4..5], [5..7] (0-based)
    assert st["mean"] == pytest.approx(0.5) and st["recall"] == pytest.approx(4 / 8)
    assert st["decay"] == pytest.approx(np.mean([0.9, 0.8, 0.4]) - np.mean([0.2, 0.1, 0.3]))

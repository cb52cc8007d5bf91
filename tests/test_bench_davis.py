"""DAVIS-2016: loader, the mask protocol with a mask-giving tracker defined here, the PNG results, J / F.

The tracker double answers each frame with a mask derived from the real
ground truth (exact, or shifted as a probability map), so J and F of the
written results are known: 1 for the exact masks, and for the shifted ones
the values of the measures computed directly on the same masks.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from siamtrack.benchmarks import results as res
from siamtrack.benchmarks.datasets import load_dataset
from siamtrack.benchmarks.datasets.davis import read_mask
from siamtrack.benchmarks.evaluate import evaluate
from siamtrack.benchmarks.measures import davis as mdavis
from siamtrack.benchmarks.protocols.davis import run_masks
from siamtrack.errors import SiamtrackError
from siamtrack.tracker.base import Tracker, TrackResult

N = 8
SHIFT = 12


class MaskDouble(Tracker):
    """Gives the ground-truth mask of each frame: as ``binary_mask``, or shifted right by ``SHIFT``
    pixels as a float ``mask`` (0.9 inside, 0.1 outside)."""

    def __init__(self, masks, shifted=False):
        self.masks, self.shifted, self.k = masks, shifted, 0

    def init(self, frame, box):
        self.k = 0
        self.box = np.asarray(box, float)

    def update(self, frame):
        self.k += 1
        gt = read_mask(self.masks[self.k])
        if not self.shifted:
            return TrackResult(box=self.box, score=1.0, binary_mask=gt)
        prob = np.full(gt.shape, 0.1, np.float32)
        prob[:, SHIFT:][gt[:, :-SHIFT]] = 0.9
        return TrackResult(box=self.box, score=1.0, mask=prob)


@pytest.fixture(scope="module")
def davis_view(shared_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("davis")
    for seq in ("blackswan", "tennis"):
        for sub, ext in (("JPEGImages", "jpg"), ("Annotations", "png")):
            src = shared_dir / "data/davis" / sub / "480p" / seq
            dst = root / sub / "480p" / seq
            dst.mkdir(parents=True)
            for p in sorted(src.glob(f"*.{ext}"))[:N]:
                (dst / p.name).symlink_to(p)
    return root


def test_loader(shared_dir):
    ds = load_dataset("davis2016", str(shared_dir / "data/davis"))
    assert [s.name for s in ds.sequences] == ["blackswan", "car-shadow", "tennis"]
    assert [len(s) for s in ds.sequences] == [50, 40, 70]
    s = ds.sequences[0]
    x, y, w, h = cv2.boundingRect(read_mask(s.masks[0]).astype(np.uint8))
    assert s.init_box.tolist() == [x, y, w, h] and s.size == (854, 480)


def test_mask_protocol_results_and_scores(davis_view, tmp_path):
    ds = load_dataset("davis2016", str(davis_view))
    tdir = res.tracker_dir(str(tmp_path), ds, "double")
    direct = {}
    for seq in ds.sequences:
        shifted = seq.name == "tennis"
        masks, times = run_masks(MaskDouble(seq.masks, shifted), seq, threshold=0.5)
        assert len(masks) == N and times.shape == (N,) and masks[0].dtype == bool
        res.write_masks(res.davis_dir(tdir, seq.name), masks)
        gts = [read_mask(m) for m in seq.masks]
        direct[seq.name] = [(mdavis.jaccard(g, p), mdavis.f_measure(g, p)) for g, p in zip(gts[1:-1], masks[1:-1])]
        if shifted:
            expected = np.zeros_like(gts[1])
            expected[:, SHIFT:] = gts[1][:, :-SHIFT]
            np.testing.assert_array_equal(masks[1], expected)
    pngs = sorted(p.name for p in (tmp_path / "DAVIS2016" / "double" / "tennis").iterdir())
    assert pngs == [f"{i:05d}.png" for i in range(N)]
    assert set(np.unique(cv2.imread(str(tmp_path / "DAVIS2016/double/tennis/00003.png"), 0))) == {0, 255}
    ev = evaluate(ds, tdir, "double")
    assert ev["sequences"]["blackswan"]["J_mean"] == 1.0 and ev["sequences"]["blackswan"]["F_mean"] == 1.0
    j = np.array(direct["tennis"])
    assert ev["sequences"]["tennis"]["J_mean"] == pytest.approx(j[:, 0].mean(), abs=1e-12)
    assert ev["sequences"]["tennis"]["F_mean"] == pytest.approx(j[:, 1].mean(), abs=1e-12)
    assert 0.1 < j[:, 0].mean() < 0.9
    assert ev["overall"]["J_mean"] == pytest.approx((1 + j[:, 0].mean()) / 2, abs=1e-12)
    # resume sees complete mask folders; a folder missing a frame is reported
    assert res.masks_done(res.davis_dir(tdir, "tennis"), N)
    (tmp_path / "DAVIS2016/double/tennis/00004.png").unlink()
    with pytest.raises(SiamtrackError, match="tennis"):
        evaluate(ds, tdir, "double")


def test_box_tracker_is_rejected(davis_view):
    ds = load_dataset("davis2016", str(davis_view), ["tennis"])

    class Boxes(Tracker):
        def init(self, frame, box):
            pass

        def update(self, frame):
            return TrackResult(box=np.zeros(4), score=1.0)

    with pytest.raises(SiamtrackError, match="gives no masks"):
        run_masks(Boxes(), ds.sequences[0], threshold=None, tracker_name="nanotrack-v2")

"""GOT-10k: a tiny val / test layout built from real frames, ``siamtrack bench``, and got10k's own scoring of our files.

No GOT-10k data is shared, so two sequences are assembled in a temporary
folder from shared real frames (OTB Crossing, VOT bag) with everything the
GOT-10k layout has: ``list.txt``, ``groundtruth.txt``, ``absence.label``,
``cover.label`` (one frame marked fully occluded), ``cut_by_image.label`` and
``meta_info.ini``. got10k's ``ExperimentGOT10k.report`` must then give the AO
and SR0.5 that ``siamtrack bench`` printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import nanotrack_weights
from siamtrack.boxes import polygon_bounds, read_boxes
from siamtrack.cli import main

N = 15
TRACKER = "nanotrack-v2"
HIDDEN = 6  # frame of sequence 1 marked absent (cover 0)


def _sequence(folder: Path, images: list, boxes: np.ndarray, size_wh, hidden=None, test=False):
    folder.mkdir(parents=True)
    for i, p in enumerate(images, 1):
        (folder / f"{i:08d}.jpg").symlink_to(p)
    rows = boxes[:1] if test else boxes
    (folder / "groundtruth.txt").write_text("".join(",".join(f"{v:.4f}" for v in b) + "\n" for b in rows))
    if test:
        return
    cover = np.full(len(images), 8)
    if hidden is not None:
        cover[hidden] = 0
    (folder / "cover.label").write_text("".join(f"{c}\n" for c in cover))
    (folder / "absence.label").write_text("".join(f"{int(c == 0)}\n" for c in cover))
    (folder / "cut_by_image.label").write_text("0\n" * len(images))
    (folder / "meta_info.ini").write_text(
        f"[METAINFO]\nobject_class: thing\nresolution: ({size_wh[0]}, {size_wh[1]})\n")


@pytest.fixture(scope="module")
def got_root(shared_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("got10k")
    otb = shared_dir / "data/otb/Crossing"
    bag = shared_dir / "data/vot/bag"
    crossing = (sorted((otb / "img").glob("*.jpg"))[:N], read_boxes(otb / "groundtruth_rect.txt")[:N], (360, 240))
    bag_boxes = np.array([polygon_bounds(r) for r in read_boxes(bag / "groundtruth.txt")[:N]])
    bagseq = (sorted(bag.glob("*.jpg"))[:N], bag_boxes, (480, 360))
    _sequence(root / "val" / "GOT-10k_Val_000001", *crossing, hidden=HIDDEN)
    _sequence(root / "val" / "GOT-10k_Val_000002", *bagseq)
    (root / "val" / "list.txt").write_text("GOT-10k_Val_000001\nGOT-10k_Val_000002\n")
    _sequence(root / "test" / "GOT-10k_Test_000001", *bagseq, test=True)
    (root / "test" / "list.txt").write_text("GOT-10k_Test_000001\n")
    return root


def test_val_scored_like_got10k(got_root, shared_dir, tmp_path):
    from got10k.experiments import ExperimentGOT10k

    w = nanotrack_weights(shared_dir, 2)
    r = CliRunner().invoke(main, ["bench", "--dataset", "got10k", "--root", str(got_root), "--model", "nanotrack",
                                  "--weights", str(w), "--results-dir", str(tmp_path / "res"), "-q", "-v"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[1].split()[2:5] == ["AO", "SR0.5", "SR0.75"]
    seq_dir = tmp_path / "res" / "GOT-10k" / TRACKER / "GOT-10k_Val_000001"
    boxes = np.loadtxt(seq_dir / "GOT-10k_Val_000001_001.txt", delimiter=",")
    assert boxes.shape == (N, 4) and np.loadtxt(seq_dir / "GOT-10k_Val_000001_time.txt").shape == (N,)
    ours = json.loads((tmp_path / "res" / "reports" / "GOT-10k" / "report.json").read_text())["trackers"][0]
    exp = ExperimentGOT10k(str(got_root), subset="val", result_dir=str(tmp_path / "res"),
                           report_dir=str(tmp_path / "rep"))
    perf = exp.report([TRACKER])[TRACKER]
    assert abs(perf["overall"]["ao"] - ours["overall"]["ao"]) < 1e-9
    assert abs(perf["overall"]["sr"] - ours["overall"]["sr50"]) < 1e-9
    for seq, p in perf["seq_wise"].items():
        assert abs(p["ao"] - ours["sequences"][seq]["ao"]) < 1e-9
    # frame 0 and the absent frame are not scored: (N - 1) + (N - 2) frames
    assert ours["overall"]["frames"] == 2 * N - 3 and ours["sequences"]["GOT-10k_Val_000001"]["frames"] == N - 2
    assert 0.3 < ours["overall"]["ao"] < 1
    total = next(ln for ln in r.output.splitlines() if "(all)" in ln).split()
    assert total[2:5] == [f"{ours['overall'][k]:.3f}" for k in ("ao", "sr50", "sr75")]
    assert (tmp_path / "res" / "reports" / "GOT-10k" / "success_plot.png").is_file()


def test_test_subset_runs_without_ground_truth(got_root, shared_dir, tmp_path):
    w = nanotrack_weights(shared_dir, 2)
    r = CliRunner().invoke(main, ["bench", "--dataset", "got10k-test", "--root", str(got_root / "test"),
                                  "--model", "nanotrack", "--weights", str(w), "--results-dir", str(tmp_path), "-q"])
    assert r.exit_code == 0, r.output
    assert "ground truth withheld" in r.output
    out = tmp_path / "GOT-10k" / TRACKER / "GOT-10k_Test_000001" / "GOT-10k_Test_000001_001.txt"
    assert np.loadtxt(out, delimiter=",").shape == (N, 4)

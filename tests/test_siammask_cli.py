"""SiamMask outputs on the command line: masks (``--save-masks``), polygons (``--polygons``), overlays.

Sinks: :class:`~siamtrack.runner.sinks.MaskWriter` (numbered 0/255 PNGs, moved
into place only when the run succeeds), 8-number rows of ``BoxWriter``,
``draw_mask``. CLI (in-process, click's runner): bad combinations fail with
one ``siamtrack: error:`` line before any model is loaded, and a real run of
``siamtrack run <DAVIS blackswan frames> --model siammask --weights <synthetic
pysot model.pth> --save-masks DIR --save-boxes F --polygons --output V``
(3 frames here; the full 50-frame run is the acceptance command of the
README) writes one frame-sized PNG per frame, the polygons and the video.
"""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from siamtrack.cli import main
from siamtrack.errors import SiamtrackError
from siamtrack.runner.loop import box_mask, box_polygon
from siamtrack.runner.sinks import BoxWriter, MaskWriter, draw_mask

from conftest import fixture_weights

BLACKSWAN_INIT = (127.0, 73.0, 383.0, 312.0)  # bounding box of the frame-1 DAVIS mask (x, y, w, h)


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_mask_writer_numbers_frames_and_commits_atomically(tmp_path):
    dest = tmp_path / "masks"
    masks = [np.zeros((4, 6), bool), np.eye(4, 6, dtype=bool), np.full((4, 6), 7, np.uint8)]
    with MaskWriter(str(dest)) as w:
        for m in masks:
            w.write(m)
        assert not dest.exists()  # nothing in place before the run ends
    assert _files(dest) == ["00001.png", "00002.png", "00003.png"]
    for name, m in zip(_files(dest), masks):
        png = cv2.imread(str(dest / name), cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint8 and png.shape == (4, 6)
        assert np.array_equal(png, np.where(m != 0, 255, 0))
    assert _files(tmp_path) == ["masks"]  # no temporary folder left


def test_mask_writer_abort_and_existing_folder(tmp_path):
    dest = tmp_path / "masks"
    w = MaskWriter(str(dest))
    w.write(np.ones((3, 3), bool))
    w.close(ok=False)
    assert _files(tmp_path) == []
    dest.mkdir()
    (dest / "notes.txt").write_text("kept")
    w = MaskWriter(str(dest))
    w.write(np.ones((3, 3), bool))
    w.close(ok=False)
    assert _files(dest) == ["notes.txt"]
    w = MaskWriter(str(dest))
    w.write(np.ones((3, 3), bool))
    w.close()
    assert _files(dest) == ["00001.png", "notes.txt"] and _files(tmp_path) == ["masks"]


def test_mask_writer_bad_folders(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SiamtrackError, match="file: is a file, not a folder"):
        MaskWriter(str(tmp_path / "file"))
    with pytest.raises(SiamtrackError, match="folder does not exist"):
        MaskWriter(str(tmp_path / "no" / "masks"))
    with pytest.raises(ValueError):
        MaskWriter(str(tmp_path / "m")).write(np.ones((2, 2, 3), bool))


def test_box_writer_polygons(tmp_path):
    path = tmp_path / "polygons.txt"
    with BoxWriter(str(path), n_values=8) as w:
        w.write(box_polygon([1, 2, 3, 4]))
        w.write([0.5, -0.0, 1, 2, 3, 4, 5, 6.25])
        with pytest.raises(ValueError, match="8 numbers"):
            w.write([1, 2, 3, 4])
    assert path.read_text().splitlines() == ["1.000,2.000,4.000,2.000,4.000,6.000,1.000,6.000",
                                             "0.500,0.000,1.000,2.000,3.000,4.000,5.000,6.250"]


def test_box_mask_covers_pixel_centres_inside_the_box():
    m = box_mask([1.5, 0.0, 2.0, 2.6], (5, 6))
    assert np.array_equal(np.argwhere(m), [[0, 1], [0, 2], [1, 1], [1, 2], [2, 1], [2, 2]])  # centres j + 0.5
    assert box_mask([-5, -5, 3, 3], (4, 4)).sum() == 0


def test_draw_mask_tints_the_mask_and_draws_the_polygon():
    frame = np.full((40, 60, 3), 100, np.uint8)
    mask = np.zeros((40, 60), bool)
    mask[10:20, 10:20] = True
    draw_mask(frame, mask, [30, 5, 55, 5, 55, 35, 30, 35], color=(0, 255, 0))
    assert tuple(frame[15, 15]) == (50, 50, 178)  # 0.5 * 100 + 0.5 * (0, 0, 255), rounded
    assert tuple(frame[2, 2]) == (100, 100, 100)
    assert frame[20, 55, 1] > 200 and frame[20, 55, 2] < 100  # the polygon's right edge, in green
    before = frame.copy()
    draw_mask(frame, None, [np.nan] * 8)  # nothing to draw
    assert np.array_equal(frame, before)
    with pytest.raises(ValueError, match="does not match"):
        draw_mask(frame, np.zeros((5, 5), bool))


# ----------------------------------------------------------------------------- CLI


def _invoke(args):
    threads = torch.get_num_threads()
    try:
        return CliRunner().invoke(main, [str(a) for a in args])
    finally:
        torch.set_num_threads(threads)  # `run --threads` sets the process's torch threads


@pytest.mark.parametrize("extra,needles", [
    (["--model", "nanotrack", "--save-masks", "M"], ["--save-masks", "'nanotrack-v2' gives no masks", "siammask"]),
    (["--model", "siamrpn++", "--polygons", "--save-boxes", "B"], ["--polygons", "'siamrpn++-r50' gives no masks"]),
    (["--model", "siammask", "--polygons"], ["--polygons", "--save-boxes"]),
])
def test_mask_options_need_a_mask_model(shared_dir, tmp_path, extra, needles):
    """Refused before the source, the weights or the model are touched (no weights exist here)."""
    args = ["run", shared_dir / "data/davis/JPEGImages/480p/blackswan", "--init", "127,73,383,312", "--no-show",
            *[str(tmp_path / a) if a in ("M", "B") else a for a in extra]]
    result = _invoke(args)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("siamtrack: error: "), result.stderr
    assert all(n in lines[0] for n in needles), lines[0]
    assert _files(tmp_path) == []


@pytest.fixture(scope="module")
def pysot_weights(shared_dir, tmp_path_factory):
    """A synthetic pysot ``siammask_r50_l3`` model.pth (``{'state_dict': ...}``), conditioned weights."""
    sd = fixture_weights(shared_dir, "siammask_r50_l3", "cond")
    path = tmp_path_factory.mktemp("siammask_cli") / "model.pth"
    torch.save({"state_dict": sd, "epoch": 20}, path)
    return path


def test_run_saves_masks_polygons_and_overlay(shared_dir, tmp_path, pysot_weights):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        shutil.copy(shared_dir / f"data/davis/JPEGImages/480p/blackswan/{i:05d}.jpg", frames)
    out = tmp_path / "out"
    out.mkdir()
    masks, polys, video = out / "masks", out / "polygons.txt", out / "overlay.avi"
    result = _invoke(["run", frames, "--model", "siammask", "--weights", pysot_weights, "--no-show", "--quiet",
                      "--init", ",".join(f"{v:g}" for v in BLACKSWAN_INIT), "--save-masks", masks,
                      "--save-boxes", polys, "--polygons", "--output", video])
    assert result.exit_code == 0, result.output + result.stderr
    assert "3 frames" in result.output and "siammask" in result.output
    assert _files(masks) == ["00001.png", "00002.png", "00003.png"]
    pngs = [cv2.imread(str(masks / n), cv2.IMREAD_UNCHANGED) for n in _files(masks)]
    assert all(p.shape == (480, 854) and p.dtype == np.uint8 and set(np.unique(p)) <= {0, 255} for p in pngs)
    assert np.array_equal(pngs[0] > 0, box_mask(BLACKSWAN_INIT, (480, 854)))  # frame 1: the init box
    assert all((p > 0).sum() > 100 for p in pngs[1:])  # the conditioned weights segment something
    rows = [[float(v) for v in line.split(",")] for line in polys.read_text().splitlines()]
    assert len(rows) == 3 and all(len(r) == 8 for r in rows)
    assert np.allclose(rows[0], box_polygon(BLACKSWAN_INIT))
    cap = cv2.VideoCapture(str(video))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 3
    assert _files(out) == ["masks", "overlay.avi", "polygons.txt"]  # no temporary files left

"""SiamFC against huanglianghua/siamfc-pytorch, recorded in ../shared/fixtures/siamfc_alexnet.

The fixture's deterministic synthetic weights are rebuilt with
../shared/tools/synth_weights.py and saved as siamfc-pytorch saves
``siamfc_alexnet_e50.pth`` (``torch.save(net.state_dict())``: a raw state dict
with ``backbone.convN.*`` keys), then loaded through ``create_tracker`` /
``siamtrack run``. Checks: key layout; the network on the recorded crops
(responses per scale within 1e-4 of their scale's magnitude, reference and
fast paths); the tracker's own crops equal the recorded ones; every recorded
frame of both sequences one step at a time from the recorded state (box
within 0.5 px, same scale) and the whole recorded run end to end; the CLI.
"""

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from siamtrack.errors import SiamtrackError
from siamtrack.models.checkpoint import load_strict
from siamtrack.models.presets import get_preset
from siamtrack.models.siamese import build_model
from siamtrack.tracker.crop import crop_square
from siamtrack.tracker.factory import create_tracker

from conftest import fixture_manifest, fixture_weights

FIXTURE = "siamfc_alexnet"
TOL = 1e-4
ONE_BASED = np.array([1.0, 1.0, 0.0, 0.0])  # got10k boxes are 1-based [x, y, w, h]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def manifest(shared_dir):
    return fixture_manifest(shared_dir, FIXTURE)


@pytest.fixture(scope="module")
def state_dict(shared_dir, manifest):
    return fixture_weights(shared_dir, FIXTURE)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, state_dict):
    path = tmp_path_factory.mktemp("siamfc") / "siamfc_alexnet_e50.pth"
    torch.save(state_dict, path)  # siamfc-pytorch train_over: torch.save(self.net.state_dict(), net_path)
    return path


@pytest.fixture(scope="module")
def tracker(weights_file):
    return create_tracker("siamfc", weights=weights_file)


def test_preset_matches_reference_config(manifest):
    cfg, track = manifest["config"], get_preset("siamfc")["track"]
    for key in ("exemplar_sz", "instance_sz", "context", "scale_num", "scale_step", "scale_lr", "scale_penalty",
                "window_influence", "response_sz", "response_up", "total_stride"):
        assert track[key] == cfg[key], key
    assert get_preset("siamfc")["model"]["head"]["out_scale"] == cfg["out_scale"]
    assert track["colour"] == "rgb" and manifest["colour_order"].startswith("RGB")


def test_key_layout_matches_reference(manifest):
    model = build_model(get_preset("siamfc")["model"])
    ours = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
    assert ours == manifest["keys"]


def test_network_outputs_match_reference(shared_dir, state_dict):
    io = np.load(shared_dir / "fixtures" / FIXTURE / "io.npz")
    z, x = torch.from_numpy(io["z_crop"]), torch.from_numpy(io["x_crops"])
    model = build_model(get_preset("siamfc")["model"])
    load_strict(model, dict(state_dict), "siamfc")
    model.eval()

    def per_scale(r):
        ref = io["responses"]
        assert tuple(r.shape) == ref.shape == (3, 1, 17, 17)
        return max(float(np.abs(r[i].numpy() - ref[i]).max() / np.abs(ref[i]).max()) for i in range(3))

    with torch.inference_mode():
        zf = model.features(z)
        errs = {"template_feat": float(np.abs(zf.numpy() - io["template_feat"]).max()
                                       / np.abs(io["template_feat"]).max())}
        assert tuple(model.features(x).shape) == tuple(int(v) for v in io["search_feat_shape_only"])
        errs["responses"] = per_scale(model(z, x))  # reference path (xcorr_fast, exemplar broadcast)
        model.prepare_inference()  # BN folded, channels-last, template branch once
        errs["responses_fast"] = per_scale(model.track(model.template(z), x))
    assert max(errs.values()) < TOL, errs


def _restore(tracker, state):
    """Set the reference's state (center [cy, cx], target_sz [h, w], x_sz, z_sz) with its recorded dtypes."""
    dt = state["dtypes"]
    tracker.center = np.array(state["center"], dtype=dt["center"])
    tracker.target_sz = np.array(state["target_sz"], dtype=dt["target_sz"])
    tracker.x_sz = np.dtype(dt["x_sz"]).type(state["x_sz"])
    tracker.z_sz = np.dtype(dt["z_sz"]).type(state["z_sz"])


def _state_error(tracker, state) -> float:
    return max(float(np.abs(tracker.center - np.array(state["center"])).max()),
               float(np.abs(tracker.target_sz - np.array(state["target_sz"])).max()),
               abs(float(tracker.x_sz) - state["x_sz"]), abs(float(tracker.z_sz) - state["z_sz"]))


def test_crops_match_reference(shared_dir, manifest, tracker):
    """The exemplar crop of frame 1 and the three search crops of frame 2 are the recorded ones, pixel for pixel."""
    io, rec = np.load(shared_dir / "fixtures" / FIXTURE / "io.npz"), manifest["io"]
    first = cv2.imread(str(shared_dir / "data" / rec["frame1"]))
    second = cv2.imread(str(shared_dir / "data" / rec["frame2"]))
    tracker.init(first, np.array(rec["init_box"]) - ONE_BASED)
    assert _state_error(tracker, rec["state_before_frame2"]) == 0.0
    z = tracker._crop(first, tracker.z_sz, 127)
    np.testing.assert_array_equal(z.transpose(2, 0, 1)[None].astype(np.float32), io["z_crop"])
    np.testing.assert_allclose(tracker.scale_factors, rec["scale_factors"], rtol=0, atol=1e-15)
    xs = np.stack([tracker._crop(second, tracker.x_sz * f, 255) for f in tracker.scale_factors])
    np.testing.assert_array_equal(xs.transpose(0, 3, 1, 2).astype(np.float32), io["x_crops"])
    result = tracker.update(second)
    np.testing.assert_allclose(result.box + ONE_BASED, rec["bbox_frame2"], rtol=0, atol=1e-3)
    assert result.extra["scale_id"] == rec["scale_id_frame2"]
    assert result.score == pytest.approx(rec["score_frame2"], rel=TOL)


@pytest.mark.parametrize("sequence", ["vot/bag", "otb/Crossing"])
def test_tracking_matches_reference(shared_dir, tracker, sequence):
    """Whole recorded run from the init box (boxes within 0.5 px); every frame is also tracked one step from the
    recorded state (teacher forcing) where the run's state differs from it, so each frame counts as a one-step
    check (within 0.5 px, same scale)."""
    record = json.loads((shared_dir / "fixtures" / FIXTURE / "track.json").read_text())
    seq = next(s for s in record["sequences"] if s["sequence"] == sequence)
    data = shared_dir / "data"
    tracker.init(cv2.imread(str(data / seq["init_file"])), np.array(seq["init_box"]) - ONE_BASED)
    assert _state_error(tracker, seq["init_state"]) < 1e-4
    one_step = 0
    for rec in seq["frames"]:
        img = cv2.imread(str(data / rec["file"]))
        if _state_error(tracker, rec["state_in"]) > 1e-3:
            run_state = (tracker.center.copy(), tracker.target_sz.copy(), tracker.x_sz, tracker.z_sz)
            _restore(tracker, rec["state_in"])
            res = tracker.update(img)
            err = float(np.abs(res.box + ONE_BASED - np.array(rec["bbox"])).max())
            assert err < 0.5 and res.extra["scale_id"] == rec["scale_id"], (sequence, rec["index"], err)
            tracker.center, tracker.target_sz, tracker.x_sz, tracker.z_sz = run_state
            one_step += 1
        res = tracker.update(img)
        err = float(np.abs(res.box + ONE_BASED - np.array(rec["bbox"])).max())
        assert err < 0.5, f"{sequence} frame {rec['index']}: end-to-end box off by {err:.4f} px"
        assert res.extra["scale_id"] == rec["scale_id"], (sequence, rec["index"])
        assert res.score == pytest.approx(rec["score"], rel=TOL), (sequence, rec["index"])
    assert len(seq["frames"]) == 39


def test_state_view_and_restore(tracker, shared_dir):
    """``center_pos`` / ``size`` are the [cx, cy] / [w, h] view of the reference state, settable."""
    img = cv2.imread(str(shared_dir / "data/otb/Crossing/img/0001.jpg"))
    tracker.init(img, [204, 150, 17, 50])
    np.testing.assert_allclose(tracker.center_pos, [204 + 8, 150 + 24.5])
    np.testing.assert_allclose(tracker.size, [17, 50])
    tracker.center_pos = [100.5, 80.25]
    assert tracker.center.dtype == np.float32 and tracker.center.tolist() == [80.25, 100.5]


def test_crop_square_padding():
    """Outside the frame the crop holds the pad colour rounded as cv2.copyMakeBorder rounds it (half to even),
    whether the region overlaps the frame or lies entirely outside it."""
    img = np.full((20, 30, 3), 7, np.uint8)
    pad = (10.5, 11.5, 200.7)
    partly = crop_square(img, -5, 15, 10, 10, pad)
    outside = crop_square(img, 40, 40, 10, 10, pad)
    assert partly[0, 0].tolist() == [10, 12, 201] and partly[0, 5].tolist() == [7, 7, 7]
    assert (outside == np.array([10, 12, 201], np.uint8)).all() and outside.shape == (10, 10, 3)


def test_other_checkpoints_rejected(tmp_path, state_dict):
    """An older siamfc-pytorch layout (``feature.N.*``) and a checkpoint of another model are refused by name."""
    legacy = tmp_path / "legacy.pth"
    torch.save({k.replace("backbone.conv1.0", "feature.0"): v for k, v in state_dict.items()}, legacy)
    with pytest.raises(SiamtrackError, match=r"legacy\.pth: not a checkpoint of model 'siamfc'.*feature\.0"):
        create_tracker("siamfc", weights=legacy)
    good = tmp_path / "siamfc.pth"
    torch.save(state_dict, good)
    with pytest.raises(SiamtrackError, match=r"siamfc\.pth: not a checkpoint of model 'siamrpn-alex'"):
        create_tracker("siamrpn-alex", weights=good)


def test_cli_run_matches_reference(shared_dir, tmp_path, weights_file):
    """``siamtrack run FOLDER --model siamfc --weights siamfc_alexnet_e50.pth``: the boxes of the recorded run."""
    record = json.loads((shared_dir / "fixtures" / FIXTURE / "track.json").read_text())
    seq = next(s for s in record["sequences"] if s["sequence"] == "otb/Crossing")
    frames = tmp_path / "frames"
    frames.mkdir()
    for name in [seq["init_file"]] + [f["file"] for f in seq["frames"][:4]]:
        shutil.copy(shared_dir / "data" / name, frames)
    init = np.array(seq["init_box"]) - ONE_BASED
    boxes = tmp_path / "boxes.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SIAMTRACK_WEIGHTS")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    proc = subprocess.run([sys.executable, "-m", "siamtrack.cli", "run", str(frames), "--model", "siamfc",
                           "--weights", str(weights_file), "--init", ",".join(f"{v:g}" for v in init), "--no-show",
                           "--quiet", "--save-boxes", str(boxes)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = np.array([[float(v) for v in line.split(",")] for line in boxes.read_text().splitlines()])
    want = np.array([init] + [np.array(f["bbox"]) - ONE_BASED for f in seq["frames"][:4]])
    assert got.shape == (5, 4)
    np.testing.assert_allclose(got, want, rtol=0, atol=0.01)
    assert "5 frames" in proc.stdout and "siamfc" in proc.stdout

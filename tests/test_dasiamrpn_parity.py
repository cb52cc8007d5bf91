"""DaSiamRPN (presets siamrpn, siamrpn-big, siamrpn-otb) against the reference recordings in ../shared/fixtures.

The fixtures dasiamrpn_vot / _big / _otb were recorded by foolwood/DaSiamRPN@167d0db
(SiamRPNvot / SiamRPNBIG / SiamRPNotb) with deterministic synthetic weights
(../shared/tools/synth_weights.py, plain and the power-of-two "conditioned"
variant). Here the weights are rebuilt, saved as the official ``.model``
files are (a bare state dict, ``torch.save``'d, without the BatchNorm
``num_batches_tracked`` counters PyTorch 0.3.1 did not have; one of them in
the legacy non-zip format), loaded through ``create_tracker``, then:

* network: ``model(z, x)`` (reference path) and ``template`` / ``track`` after
  ``prepare_inference`` on the recorded crops, every output within 1e-4 of
  its own scale (plain weights give activations of order 1e8);
* tracking: one step per recorded frame with the reference state restored
  before it (boxes within 0.5 px, plain and conditioned), and a whole run
  from the init box on the conditioned weights (boxes as recorded).
"""

import hashlib
import json

import cv2
import numpy as np
import pytest
import torch

from siamtrack.errors import SiamtrackError
from siamtrack.models.checkpoint import load_strict
from siamtrack.models.presets import get_preset
from siamtrack.models.siamese import build_model
from siamtrack.tracker.dasiamrpn import DaSiamRPNTracker, py2_round
from siamtrack.tracker.factory import create_tracker

from conftest import fixture_manifest, fixture_weights

FIXTURES = {"dasiamrpn_vot": "siamrpn", "dasiamrpn_big": "siamrpn-big", "dasiamrpn_otb": "siamrpn-otb"}
TOL = 1e-4


def synth_weights(shared, fixture: str, variant: str) -> dict:
    """The fixture's weights as the official file holds them: no ``num_batches_tracked`` entries."""
    sd = fixture_weights(shared, fixture, variant)
    return {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}


@pytest.fixture(scope="module")
def weights_file(shared_dir, tmp_path_factory):
    """``(fixture, variant) -> path`` of the weights saved as an official ``.model`` file (made once)."""
    files = {}

    def get(fixture: str, variant: str):
        if (fixture, variant) not in files:
            name = get_preset(FIXTURES[fixture])["weights"]["file"]  # SiamRPNVOT.model, ...
            path = tmp_path_factory.mktemp(f"{fixture}_{variant}") / name
            # PyTorch 0.3.1 wrote the legacy (non-zip) format; newer files are zip archives: check both.
            torch.save(synth_weights(shared_dir, fixture, variant), path,
                       _use_new_zipfile_serialization=fixture != "dasiamrpn_otb")
            files[fixture, variant] = path
        return files[fixture, variant]

    return get


def _reuse_network_outputs(tracker) -> None:
    """Memoise ``model.track`` on (template, crop bytes): exact, as the network is a pure function of them.

    The end-to-end run then mostly revisits the crops of the one-step run (the
    states agree to ~1e-5 px, the crop geometry is integer), which halves the
    test's network time (SiamRPNBIG: ~0.3 s per frame on 2 CPU cores) while
    every tracker step still runs.
    """
    track, memo = tracker.model.track, {}

    def cached(state, x):
        key = (id(state), hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest())
        if key not in memo:
            memo[key] = track(state, x)
        return memo[key]

    tracker.model.track = cached


def _rel(out: torch.Tensor, ref: np.ndarray) -> float:
    out = out.detach().float().numpy().reshape(ref.shape)
    return float(np.abs(out - ref).max() / np.abs(ref).max())


def test_py2_round():
    assert [py2_round(v) for v in (0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, -2.5001, 0.49999999999999994)] == \
        [1.0, 2.0, 3.0, -1.0, -2.0, -3.0, 2.0, -3.0, 0.0]


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_preset_matches_reference_config(shared_dir, fixture):
    manifest = fixture_manifest(shared_dir, fixture)
    preset = get_preset(FIXTURES[fixture])
    ref, arch, track = manifest["config"]["tracker_config_effective"], manifest["config"]["model_arch"], preset["track"]
    for key in ("exemplar_size", "instance_size", "context_amount", "ratios", "scales", "penalty_k",
                "window_influence", "lr", "adaptive"):
        assert track[key] == ref[key], key
    assert track["stride"] == ref["total_stride"] and ref["windowing"] == "cosine"
    assert "287 when w*h/(im_w*im_h) < 0.004" in manifest["config"]["adaptive_rule"]
    assert (track["adaptive_instance_size"], track["adaptive_area_ratio"]) == (287, 0.004)
    assert preset["model"]["backbone"]["size"] == arch["size"]
    assert preset["model"]["head"]["feature_out"] == arch["feature_out"]
    assert preset["model"]["head"]["anchor_num"] == arch["anchor"] == ref["anchor_num"]
    assert f"Official checkpoint {preset['weights']['file']} " in manifest["note"]


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_key_layout_matches_reference(shared_dir, fixture):
    model = build_model(get_preset(FIXTURES[fixture])["model"])
    layout = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
    assert layout == fixture_manifest(shared_dir, fixture)["keys"]


@pytest.mark.parametrize("variant", ["plain", "cond"])
@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_network_outputs_match_reference(shared_dir, fixture, variant):
    model = build_model(get_preset(FIXTURES[fixture])["model"])
    load_strict(model, synth_weights(shared_dir, fixture, variant), FIXTURES[fixture])
    model.eval()
    io = np.load(shared_dir / "fixtures" / fixture / f"io{'_cond' if variant == 'cond' else ''}.npz")
    z, x = torch.from_numpy(io["z_crop"]), torch.from_numpy(io["x_crop"])
    with torch.no_grad():
        r1_kernel, cls1_kernel = model.head.kernels(model.features(z))
        cls, loc = model(z, x)
    errors = {"r1_kernel": _rel(r1_kernel, io["r1_kernel"]), "cls1_kernel": _rel(cls1_kernel, io["cls1_kernel"]),
              "score": _rel(cls, io["score"]), "delta": _rel(loc, io["delta"])}
    model.prepare_inference()
    with torch.inference_mode():
        cls, loc = model.track(model.template(z), x.contiguous(memory_format=torch.channels_last))
    errors.update(fast_score=_rel(cls, io["score"]), fast_delta=_rel(loc, io["delta"]))
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("variant", ["plain", "cond"])
@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_tracking_matches_reference(shared_dir, weights_file, fixture, variant):
    tracker = create_tracker(FIXTURES[fixture], weights=weights_file(fixture, variant))
    assert isinstance(tracker, DaSiamRPNTracker)
    _reuse_network_outputs(tracker)
    suffix = "_cond" if variant == "cond" else ""
    record = json.loads((shared_dir / "fixtures" / fixture / f"track{suffix}.json").read_text())
    for seq in record["sequences"]:
        root = shared_dir / "data"
        frames = [cv2.imread(str(root / f["file"])) for f in seq["frames"]]
        tracker.init(cv2.imread(str(root / seq["init_file"])), seq["init_box"])
        # state conventions: [x + w/2, y + h/2], integer boxes floor-divided (OTB ground truth)
        assert tracker.center_pos.tolist() == seq["init_state"]["target_pos"]
        assert tracker.size.tolist() == seq["init_state"]["target_sz"]
        assert tracker.instance_size == seq["tracker_p_after_init"]["instance_size"]
        start = (tracker.center_pos.copy(), tracker.size.copy())
        worst = 0.0
        for img, rec in zip(frames, seq["frames"]):
            tracker.center_pos = np.array(rec["state_in"]["target_pos"], dtype=np.float64)
            tracker.size = np.array(rec["state_in"]["target_sz"], dtype=np.float64)
            result = tracker.update(img)
            worst = max(worst, float(np.abs(result.box - np.array(rec["bbox"])).max()))
            assert result.score == pytest.approx(rec["score"], abs=1e-4)
        assert worst < 0.5, f"{fixture} {variant} {seq['sequence']}: one-step box off by {worst:.4f} px"
        if variant == "cond":  # whole run from the init box (plain weights collapse to full-image boxes)
            tracker.center_pos, tracker.size = start
            boxes = np.array([tracker.update(img).box for img in frames])
            err = float(np.abs(boxes - np.array([f["bbox"] for f in seq["frames"]])).max())
            assert err < 0.5, f"{fixture} {seq['sequence']}: end-to-end box off by {err:.4f} px"


def test_checkpoint_of_another_model_is_refused(weights_file):
    with pytest.raises(SiamtrackError, match="not a checkpoint of model 'siamrpn'"):
        create_tracker("siamrpn", weights=weights_file("dasiamrpn_big", "cond"))
    with pytest.raises(SiamtrackError, match="not a checkpoint of model 'siamrpn-big'"):
        create_tracker("siamrpn-big", weights=weights_file("dasiamrpn_otb", "cond"))


def test_adaptive_search_region_for_small_targets(shared_dir, weights_file):
    """SiamRPNBIG's ``adaptive``: a 287 search crop (21x21 scores) when the box covers < 0.4% of the frame."""
    model = create_tracker("siamrpn", weights=weights_file("dasiamrpn_vot", "cond")).model  # any DaSiamRPN net
    frame = cv2.imread(str(shared_dir / "data" / "vot" / "bag" / "00000001.jpg"))  # 480x360: 0.4% = 691.2 px^2
    big = DaSiamRPNTracker(model, get_preset("siamrpn-big")["track"])
    vot = DaSiamRPNTracker(model, get_preset("siamrpn")["track"])
    for box, size in (((300.5, 150.5, 26.0, 26.0), 287), ((300.5, 150.5, 27.0, 26.0), 271)):
        big.init(frame, box)
        assert (big.instance_size, big.score_size, big.anchors.shape, big.window.shape) == \
            (size, (size - 127) // 8 + 1, (5 * big.score_size ** 2, 4), (5 * big.score_size ** 2,))
        assert np.all(np.isfinite(big.update(frame).box))
        vot.init(frame, box)
        assert vot.instance_size == 271 and np.all(np.isfinite(vot.update(frame).box))

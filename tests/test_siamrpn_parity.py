"""pysot SiamRPN / SiamRPN++ trackers against the reference recordings in ../shared/fixtures.

Synthetic weights are rebuilt with ../shared/tools/synth_weights.py (plain and
the power-of-two "conditioned" variant), saved in pysot's checkpoint formats,
loaded through the user-facing loader, then: one tracker step per recorded
frame with the reference state restored before it (boxes within 0.5 px) for
the plain weights, and a whole run for the conditioned ones (boxes as
recorded, each frame also checked one step at a time where the run's state
drifts from the recorded one).
"""

import json
import sys

import cv2
import numpy as np
import pytest
import torch

from siamtrack.errors import SiamtrackError
from siamtrack.models.presets import get_preset
from siamtrack.tracker.factory import create_tracker

FIXTURES = {  # fixture -> preset
    "siamrpn_alex_dwxcorr": "siamrpn-alex",
    "siamrpn_alex_upchannel": "siamrpn-alex-upchannel",
    "siamrpn_mobilev2_l234_dwxcorr": "siamrpn++-mobilev2",
    "siamrpn_r50_l234_dwxcorr": "siamrpn++-r50",
}


def synth_weights(shared, fixture: str, variant: str) -> dict:
    sys.path.insert(0, str(shared / "tools"))
    from synth_weights import synth_state_dict

    manifest = json.loads((shared / "fixtures" / fixture / "manifest.json").read_text())
    sd = synth_state_dict(manifest["keys"])
    if variant == "cond":
        for key, e in manifest["conditioned"]["log2_scale"].items():
            sd[key] = sd[key] * 2.0 ** e
    return sd


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_preset_matches_reference_config(shared_dir, fixture):
    cfg = json.loads((shared_dir / "fixtures" / fixture / "manifest.json").read_text())["config"]
    track = get_preset(FIXTURES[fixture])["track"]
    ref = cfg["TRACK"]
    assert track["penalty_k"] == ref["PENALTY_K"] and track["window_influence"] == ref["WINDOW_INFLUENCE"]
    assert track["lr"] == ref["LR"] and track["instance_size"] == ref["INSTANCE_SIZE"]
    assert track["base_size"] == ref["BASE_SIZE"] and track["exemplar_size"] == ref["EXEMPLAR_SIZE"]
    assert track["context_amount"] == ref["CONTEXT_AMOUNT"]
    assert track["stride"] == cfg["ANCHOR"]["STRIDE"] and track["ratios"] == cfg["ANCHOR"]["RATIOS"]
    assert track["scales"] == cfg["ANCHOR"]["SCALES"]


@pytest.mark.parametrize("layout", ["raw", "state_dict", "module"])
def test_pysot_checkpoint_layouts_load(shared_dir, tmp_path, layout):
    sd = synth_weights(shared_dir, "siamrpn_alex_dwxcorr", "cond")
    if layout == "state_dict":
        obj = {"state_dict": sd, "epoch": 20}
    elif layout == "module":
        obj = {f"module.{k}": v for k, v in sd.items()}
    else:
        obj = sd
    path = tmp_path / "model.pth"
    torch.save(obj, path)
    tracker = create_tracker("siamrpn-alex", weights=path)
    assert tracker.score_size == 21
    with pytest.raises(SiamtrackError, match="siamrpn-alex-upchannel"):
        create_tracker("siamrpn-alex-upchannel", weights=path)


@pytest.mark.parametrize("variant", ["plain", "cond"])
@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_tracking_matches_reference(shared_dir, tmp_path, fixture, variant):
    path = tmp_path / "model.pth"
    torch.save({"state_dict": synth_weights(shared_dir, fixture, variant)}, path)  # pysot's model.pth layout
    tracker = create_tracker(FIXTURES[fixture], weights=path)
    record = json.loads((shared_dir / "fixtures" / fixture / f"track{'_cond' if variant == 'cond' else ''}.json").read_text())
    for seq in record["sequences"]:
        root = shared_dir / "data" / seq["sequence_dir"]
        first = cv2.imread(str(root / seq["init_file"]))
        frames = [cv2.imread(str(root / f["file"])) for f in seq["frames"]]
        tracker.init(first, seq["init_box"])
        if variant == "cond":
            _end_to_end(tracker, frames, seq, f"{fixture} {seq['sequence']}")
        else:
            worst = max(_one_step(tracker, img, rec) for img, rec in zip(frames, seq["frames"]))
            assert worst < 0.5, f"{fixture} plain {seq['sequence']}: one-step box off by {worst:.4f} px"


def _one_step(tracker, img, rec) -> float:
    """Restore the recorded state, track one frame; max abs difference to the recorded box (px)."""
    tracker.center_pos = np.array(rec["state_in"]["center_pos"])
    tracker.size = np.array(rec["state_in"]["size"])
    return float(np.abs(tracker.update(img).box - np.array(rec["bbox"])).max())


def _end_to_end(tracker, frames, seq, what):
    """Whole run from the init box, boxes as recorded (0.5 px). Each frame also counts as a one-step check:
    where the run's state has drifted more than 1e-3 px from the recorded one, that frame is additionally
    tracked from the recorded state (teacher forcing), so every frame is checked one step at a time."""
    for img, rec in zip(frames, seq["frames"]):
        state = (tracker.center_pos.copy(), tracker.size.copy())
        drift = max(np.abs(state[0] - rec["state_in"]["center_pos"]).max(),
                    np.abs(state[1] - rec["state_in"]["size"]).max())
        if drift > 1e-3:
            err = _one_step(tracker, img, rec)
            assert err < 0.5, f"{what} frame {rec['index']}: one-step box off by {err:.4f} px"
            tracker.center_pos, tracker.size = state
        box = tracker.update(img).box
        err = float(np.abs(box - np.array(rec["bbox"])).max())
        assert err < 0.5, f"{what} frame {rec['index']}: end-to-end box off by {err:.4f} px"

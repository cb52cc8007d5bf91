"""pysot SiamRPN / SiamRPN++ trackers against the reference recordings in ../shared/fixtures.

Synthetic weights are rebuilt with ../shared/tools/synth_weights.py (plain and
the power-of-two "conditioned" variant), saved in pysot's checkpoint formats,
loaded through the user-facing loader, then: one tracker step per recorded
frame with the reference state restored before it (boxes within 0.5 px), and
a whole run on the conditioned weights (boxes as recorded).
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
        start = (tracker.center_pos.copy(), tracker.size.copy())
        worst = 0.0
        for img, rec in zip(frames, seq["frames"]):
            tracker.center_pos = np.array(rec["state_in"]["center_pos"])
            tracker.size = np.array(rec["state_in"]["size"])
            box = tracker.update(img).box
            worst = max(worst, float(np.abs(box - np.array(rec["bbox"])).max()))
        assert worst < 0.5, f"{fixture} {variant} {seq['sequence']}: one-step box off by {worst:.4f} px"
        if variant == "cond":  # whole run from the init box (plain weights collapse to 10x10 boxes)
            tracker.center_pos, tracker.size = start
            boxes = np.array([tracker.update(img).box for img in frames])
            err = float(np.abs(boxes - np.array([f["bbox"] for f in seq["frames"]])).max())
            assert err < 0.5, f"{fixture} {seq['sequence']}: end-to-end box off by {err:.4f} px"

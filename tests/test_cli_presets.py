"""`siamtrack run --model M --weights FILE` for every SiamRPN-family preset, with synthetic weights in a checkpoint file.

The weights follow each preset's own key layout (rebuilt with
../shared/tools/synth_weights.py), saved as pysot's ``model.pth`` wrapper;
the run must load them strictly, track 3 real frames and write 3 boxes.
"""

import os
import shutil
import subprocess
import sys

import pytest
import torch

from siamtrack.models.presets import PRESETS, get_preset
from siamtrack.models.siamese import build_model

# Every SiamRPN-family preset (pysot and DaSiamRPN); NanoTrack runs on its real weights in test_cli.py.
# SiamMask presets: their CLI runs (masks, polygons) are in test_siammask_cli.py.
PYSOT_PRESETS = sorted(name for name in PRESETS
                       if not name.startswith(("nanotrack", "siamfc", "cfnet", "siammask")))  # own tests


def _synth_file(shared, preset_name, path):
    sys.path.insert(0, str(shared / "tools"))
    from synth_weights import synth_state_dict

    model = build_model(get_preset(preset_name)["model"])
    layout = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
    torch.save({"state_dict": synth_state_dict(layout), "epoch": 20}, path)


@pytest.mark.parametrize("preset", PYSOT_PRESETS)
def test_run_with_pysot_checkpoint(shared_dir, tmp_path, preset):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in (1, 2, 3):
        shutil.copy(shared_dir / "data" / "vot" / "bag" / f"{i:08d}.jpg", frames)
    weights = tmp_path / "model.pth"
    _synth_file(shared_dir, preset, weights)
    boxes = tmp_path / "boxes.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SIAMTRACK_WEIGHTS")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    proc = subprocess.run([sys.executable, "-m", "siamtrack.cli", "run", str(frames), "--model", preset,
                           "--weights", str(weights), "--init", "313,147,106,96", "--no-show", "--quiet",
                           "--save-boxes", str(boxes)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = boxes.read_text().splitlines()
    assert len(lines) == 3 and lines[0] == "313.000,147.000,106.000,96.000"
    assert "3 frames" in proc.stdout

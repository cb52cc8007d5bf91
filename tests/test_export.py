"""``siamtrack export`` (issue 15, point 4): graphs and sidecar; the OpenCV NanoTrack pair checked with OpenCV itself.

``cv2.TrackerNano`` with the backbone / head pair exported from ``nanotrackv2.pth`` must give boxes within
0.5 px of ``cv2.TrackerNano`` with the official pair (``../shared/weights/nanotrack/v2``) on every frame of
``vot/bag``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from siamtrack.backends.runtimes import runtime_available

from conftest import nanotrack_weights


def _cli(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", "siamtrack.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def _nano(backbone, head):
    params = cv2.TrackerNano_Params()
    params.backbone, params.neckhead = str(backbone), str(head)
    return cv2.TrackerNano_create(params)


@pytest.fixture(scope="module")
def exported(shared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "nanotrack-v2"
    proc = _cli("export", "--model", "nanotrack-v2", "--weights", nanotrack_weights(shared_dir, 2), "--out", out,
                "--opencv")
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_export_writes_graphs_and_sidecar(exported, shared_dir):
    out, proc = exported
    assert sorted(p.name for p in out.iterdir()) == ["nanotrack_backbone.onnx", "nanotrack_head.onnx",
                                                     "search.onnx", "siamtrack-export.json", "template.onnx"]
    meta = json.loads((out / "siamtrack-export.json").read_text())
    assert meta["preset"] == "nanotrack-v2" and meta["colour"] == "BGR" and len(meta["weights_sha256"]) == 64
    assert meta["template.onnx"]["inputs"] == {"z": [1, 3, 127, 127]}
    assert meta["template.onnx"]["outputs"] == {"zf0": [1, 48, 8, 8]}
    assert meta["search.onnx"]["inputs"] == {"zf0": [1, 48, 8, 8], "x": [1, 3, 255, 255]}
    assert meta["search.onnx"]["outputs"] == ["out0", "out1"]
    assert str(out / "search.onnx") in proc.stdout


def test_opencv_pair_has_the_official_names_and_shapes(exported, shared_dir):
    import onnx

    out, _ = exported
    official = shared_dir / "weights" / "nanotrack" / "v2"

    def io(path):
        m = onnx.load(str(path))
        dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
        return [(i.name, dims(i)) for i in m.graph.input], [(o.name, dims(o)) for o in m.graph.output]

    assert io(out / "nanotrack_backbone.onnx") == io(official / "nanotrack_backbone_sim.onnx")
    assert io(out / "nanotrack_head.onnx") == io(official / "nanotrack_head_sim.onnx")


def test_cv2_trackernano_with_the_exported_pair_matches_the_official_pair(exported, shared_dir):
    out, _ = exported
    official = shared_dir / "weights" / "nanotrack" / "v2"
    ours = _nano(out / "nanotrack_backbone.onnx", out / "nanotrack_head.onnx")
    ref = _nano(official / "nanotrack_backbone_sim.onnx", official / "nanotrack_head_sim.onnx")
    files = sorted((shared_dir / "data" / "vot" / "bag").glob("*.jpg"))
    first = cv2.imread(str(files[0]))
    ours.init(first, (313, 147, 106, 96))
    ref.init(first, (313, 147, 106, 96))
    worst = 0.0
    for f in files[1:]:
        img = cv2.imread(str(f))
        (ok1, a), (ok2, b) = ours.update(img), ref.update(img)
        assert ok1 == ok2
        worst = max(worst, float(np.abs(np.array(a, float) - np.array(b, float)).max()))
    assert worst <= 0.5, f"exported pair differs from the official one by {worst} px"


@pytest.mark.skipif(not runtime_available("onnxruntime"), reason="onnxruntime is not installed")
def test_exported_batch_graph_runs_n_targets(shared_dir, tmp_path):
    import onnxruntime as ort

    out = tmp_path / "b4"
    proc = _cli("export", "--model", "nanotrack-v2", "--weights", nanotrack_weights(shared_dir, 2), "--out", out,
                "--batch", "4")
    assert proc.returncode == 0, proc.stderr
    t = ort.InferenceSession(str(out / "template.onnx"))
    s = ort.InferenceSession(str(out / "search.onnx"))
    rng = np.random.default_rng(0)
    z = rng.uniform(0, 255, (4, 3, 127, 127)).astype(np.float32)
    x = rng.uniform(0, 255, (4, 3, 255, 255)).astype(np.float32)
    (zf,) = t.run(None, {"z": z})
    cls, loc = s.run(None, {"zf0": zf, "x": x})
    assert cls.shape == (4, 2, 16, 16) and loc.shape == (4, 4, 16, 16)
    (zf1,) = ort.InferenceSession(str(out / "template.onnx")).run(None, {"z": z})
    for i in range(4):  # target i alone gives target i's outputs: one call for the batch, nothing mixed
        single = s.run(None, {"zf0": np.repeat(zf1[i:i + 1], 4, 0), "x": np.repeat(x[i:i + 1], 4, 0)})
        assert np.allclose(single[0][0], cls[i], atol=1e-4) and np.allclose(single[1][0], loc[i], rtol=1e-4)


def test_export_errors(shared_dir, tmp_path):
    proc = _cli("export", "--model", "siamrpn-alex", "--out", tmp_path / "x", "--opencv")
    assert proc.returncode == 2 and "--opencv: writes the cv2.TrackerNano pair of the NanoTrack presets" in proc.stderr
    weights = tmp_path / "w.pth"
    weights.write_bytes(nanotrack_weights(shared_dir, 2).read_bytes())
    proc = _cli("export", "--model", "nanotrack-v2", "--weights", weights, "--out", weights)
    assert proc.returncode == 2 and f"--out {weights}: is the weights file" in proc.stderr, proc.stderr
    proc = _cli("export", "--model", "siammask", "--weights", weights, "--out", tmp_path / "m")
    assert proc.returncode == 2 and "not a checkpoint of model 'siammask'" in proc.stderr, proc.stderr

"""Batched network calls (issue 15 point 1, the base of multi-target tracking): N targets in one call.

For each head kind (NanoTrack's point head, pysot's depthwise RPN on one and on three levels, the up-channel RPN
of SiamRPN and DaSiamRPN, SiamFC's 3 scales x N, SiamMask's refinement at N cells) and on each backend: the
template branch on N exemplar crops and the search branch on N search crops in one call give, per target, the
outputs of N single-target calls (within 1e-5 of the output's scale).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from siamtrack.backends.runtimes import runtime_available
from siamtrack.models.presets import get_preset
from siamtrack.tracker.crop import context_crop, pad_colour
from siamtrack.tracker.factory import create_tracker

from conftest import fixture_weights, nanotrack_weights

BACKENDS = ["torch"] + [b for b in ("openvino", "onnxruntime") if runtime_available(b)][:1]
#: preset -> fixture whose synthetic (conditioned) weights it loads (None: the real NanoTrack v2 weights)
PRESETS = {"nanotrack-v2": None, "siamrpn-alex": "siamrpn_alex_dwxcorr",
           "siamrpn-alex-upchannel": "siamrpn_alex_upchannel", "siamrpn": "dasiamrpn_vot",
           "siamrpn++-mobilev2": "siamrpn_mobilev2_l234_dwxcorr", "siamfc": "siamfc_alexnet",
           "siammask": "siammask_r50_l3"}
#: three targets on vot/bag frame 1: the bag (ground truth), and two boxes elsewhere, one across the border
BOXES = [(312.0, 147.0, 106.0, 96.0), (20.0, 20.0, 60.0, 60.0), (400.0, 280.0, 100.0, 90.0)]


@pytest.fixture(autouse=True)
def own_graph_cache(tmp_path_factory, monkeypatch):
    """This module's graphs (batches of 3 and 9) in a cache of their own: other modules check which graphs a
    tracker exported (e.g. SiamFC's one search graph of batch 3) in the session's shared cache."""
    monkeypatch.setenv("SIAMTRACK_GRAPH_CACHE", str(tmp_path_factory.getbasetemp() / "batch-graphs"))


@pytest.fixture(scope="module")
def frames(shared_dir):
    return [cv2.imread(str(shared_dir / "data" / "vot" / "bag" / f"0000000{i}.jpg")) for i in (1, 2)]


def _weights(shared_dir, tmp_path, preset: str):
    fixture = PRESETS[preset]
    if fixture is None:
        return nanotrack_weights(shared_dir, 2)
    sd = fixture_weights(shared_dir, fixture, "cond" if fixture != "siamfc_alexnet" else "plain")
    if fixture.startswith("dasiamrpn"):
        sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / get_preset(preset)["weights"]["file"]
    torch.save(sd, path)
    return path


def _crops(frames, cfg: dict):
    """``(N, 127, 127, 3)`` exemplar and ``(N, S, S, 3)`` search crops (uint8) around the boxes."""
    ez = cfg.get("exemplar_size", cfg.get("exemplar_sz"))
    ix = cfg.get("instance_size", cfg.get("instance_sz"))
    pad = pad_colour(frames[0].mean((0, 1)))
    z, x = [], []
    for bx, by, w, h in BOXES:
        centre = (bx + (w - 1) / 2, by + (h - 1) / 2)
        ctx = 0.5 * (w + h)
        s_z = round(float(np.sqrt((w + ctx) * (h + ctx))))
        z.append(context_crop(frames[0], centre, ez, s_z, pad))
        x.append(context_crop(frames[1], centre, ix, round(s_z * ix / ez), pad))
    return np.stack(z), np.stack(x)


def _rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_n_targets_in_one_call_equal_n_single_calls(shared_dir, tmp_path, frames, preset, backend):
    tracker = create_tracker(preset, weights=_weights(shared_dir, tmp_path, preset), backend=backend)
    model, cfg = tracker.model, get_preset(preset)["track"]
    z, x = _crops(frames, cfg)
    n = len(BOXES)
    if preset == "siamfc":  # 3 scales x N targets: scale-major, target-minor (siamfc-pytorch's _fast_xcorr)
        scales = np.concatenate([x, x[:, ::-1], x[:, :, ::-1]])
        batched = model.track(model.template(z), np.ascontiguousarray(scales))
        for i in range(n):
            single = model.track(model.template(z[i : i + 1]), np.ascontiguousarray(scales[i::n]))
            assert _rel(batched[i::n], single) < 1e-5, i
        return
    if preset == "siammask":  # the refinement at one cell per target, in one call
        cells = [(12, 12), (3, 20), (24, 0)]
        cls, loc, search = model.track_mask(model.template(z), x)
        logits = model.refine(search, cells)
        for i in range(n):
            c1, l1, s1 = model.track_mask(model.template(z[i : i + 1]), x[i : i + 1])
            assert max(_rel(cls[i : i + 1], c1), _rel(loc[i : i + 1], l1)) < 1e-5, i
            assert _rel(logits[i : i + 1], model.refine(s1, cells[i])) < 1e-5, i
        return
    cls, loc = model.track(model.template(z), x)
    assert cls.shape[0] == loc.shape[0] == n
    for i in range(n):
        c1, l1 = model.track(model.template(z[i : i + 1]), x[i : i + 1])
        assert max(_rel(cls[i : i + 1], c1), _rel(loc[i : i + 1], l1)) < 1e-5, i

"""SiamMask against the reference recordings in ../shared/fixtures/siammask_*.

Fixtures: ``siammask_r50_l3`` (STVIR/pysot, preset ``siammask``) and
``siammask_sharp_vot`` / ``siammask_sharp_davis`` (foolwood/SiamMask ``Custom``,
presets ``siammask-vot`` / ``siammask-davis``). The two foolwood fixtures
hold the same synthetic network (same key layout, byte-identical io.npz)
tracked with ``config_vot.json`` and ``config_davis.json``. Weights are
rebuilt with ../shared/tools/synth_weights.py (plain, and "conditioned" by
the manifest's power-of-two rescaling), saved in the references' checkpoint
formats and read back with the user-facing loader (``read_state_dict`` +
strict load), then:

1. key layouts (names, shapes, dtypes, order) equal the fixtures';
2. network outputs on the recorded crops - template features, cls, loc,
   the 63x63 masks, the correlation feature, the refined mask at the
   recorded cell - within 1e-4 of each tensor's scale
   (``max|diff| / max|ref|``), by the reference path and by the prepared one;
3. one tracker step per recorded frame, from the recorded state: box and
   polygon within 0.5 px, score within 1e-4, mask area within 1% (every
   frame of both sequences, plain and conditioned weights, three fixtures).

ResNet-50 costs about 0.5 s per step on this CPU and there are 388 distinct
steps, so (as test_cli.py does with its runs) the independent runs go to a
thread pool, one worker per CPU core with one torch thread each, started
once for the module; the two foolwood presets step in lockstep on one
network and share identical crops (frame 2, and the degenerate plain runs).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from siamtrack.errors import SiamtrackError
from siamtrack.models.checkpoint import load_strict, read_state_dict
from siamtrack.models.heads.mask import crop_padded
from siamtrack.backends.torch_model import TorchModel
from siamtrack.models.presets import get_preset
from siamtrack.models.siammask import SiamMaskModel, siammask_config
from siamtrack.models.siamese import build_model
from siamtrack.tracker.factory import create_tracker
from siamtrack.tracker.registry import TRACKERS
from siamtrack.tracker.siammask import SiamMaskSharpTracker, mask_polygon, mask_to_frame

from conftest import fixture_manifest, fixture_weights

TOL = 1e-4
NETWORKS = {"pysot": "siammask_r50_l3", "foolwood": "siammask_sharp_vot"}  # layout -> fixture with its keys / io
TRACKS = {  # fixture -> (network, preset)
    "siammask_r50_l3": ("pysot", "siammask"),
    "siammask_sharp_vot": ("foolwood", "siammask-vot"),
    "siammask_sharp_davis": ("foolwood", "siammask-davis"),
}
IO_NAMES = {  # our output -> io.npz key
    "pysot": {"zf": "zf", "cls": "cls", "loc": "loc", "mask": "mask", "refine": "refine_mask", "pos": "pos"},
    "foolwood": {"zf": "template_feat", "cls": "score", "loc": "delta", "mask": "mask", "refine": "refine",
                 "corr": "corr_feature", "pos": "refine_pos"},
}


def _n_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _save_official(sd: dict, network: str, variant: str, path: Path) -> None:
    """pysot model.pth (plain: the raw state dict; cond: ``{'state_dict': ...}``) or a foolwood/SiamMask
    training checkpoint (``{'epoch', 'arch', 'state_dict', 'best_acc', 'anchor_cfg'}``; cond: with the
    ``module.`` prefix of nn.DataParallel), the layouts their load helpers accept (see the manifests)."""
    if network == "pysot":
        obj = sd if variant == "plain" else {"state_dict": sd, "epoch": 20}
    else:
        state = sd if variant == "plain" else {f"module.{k}": v for k, v in sd.items()}
        obj = {"epoch": 20, "arch": "Custom", "state_dict": state, "best_acc": 0.0,
               "anchor_cfg": {"stride": 8, "ratios": [0.33, 0.5, 1, 2, 3], "scales": [8], "round_dight": 0}}
    torch.save(obj, path)


def _rel(out: torch.Tensor, ref: np.ndarray) -> float:
    assert tuple(out.shape) == ref.shape, (tuple(out.shape), ref.shape)
    return float(np.abs(out.detach().float().numpy() - ref).max() / np.abs(ref).max())


def _network_errors(model, io, names) -> dict:
    z, x = torch.from_numpy(io["z_crop"]), torch.from_numpy(io["x_crop"])
    pos = tuple(int(v) for v in io[names["pos"]])
    with torch.inference_mode():
        cls, loc, mask, search = model(z, x)  # reference path (prepared or not)
        errs = {"zf": _rel(model.features(z), io[names["zf"]]), "cls": _rel(cls, io[names["cls"]]),
                "loc": _rel(loc, io[names["loc"]]), "mask": _rel(mask, io[names["mask"]]),
                "refine": _rel(model.refine(search, pos), io[names["refine"]])}
        if "corr" in names:
            errs["corr"] = _rel(search[1], io[names["corr"]])
    return errs


def _prepare_net(shared: Path, folder: Path, network: str, variant: str) -> dict:
    """Save the synthetic weights in the official format, read them back, check the reference path on the
    recorded crops, prepare for inference, check the fast paths: {"path", "model", "errors", "errors_fast"}."""
    torch.set_num_threads(1)
    fixture = NETWORKS[network]
    path = folder / f"{network}_{variant}.pth"
    _save_official(fixture_weights(shared, fixture, variant), network, variant, path)
    model = build_model(siammask_config(network))
    load_strict(model, read_state_dict(path), fixture, str(path))
    model.eval()
    io = np.load(shared / "fixtures" / fixture / ("io.npz" if variant == "plain" else "io_cond.npz"))
    names = IO_NAMES[network]
    errors = _network_errors(model, io, names)
    model.prepare_inference()
    errors_fast = _network_errors(model, io, names)
    z, x = (torch.from_numpy(io[k]).contiguous(memory_format=torch.channels_last) for k in ("z_crop", "x_crop"))
    pos = tuple(int(v) for v in io[names["pos"]])
    with torch.inference_mode():  # the tracker's path: template once, track_mask, refine at one cell
        cls, loc, search = model.track_mask(model.template(z), x)
        errors_fast.update(cls_track=_rel(cls, io[names["cls"]]), loc_track=_rel(loc, io[names["loc"]]),
                           refine_track=_rel(model.refine(search, pos), io[names["refine"]]))
    return {"path": path, "model": model, "errors": errors, "errors_fast": errors_fast}


@pytest.fixture(scope="module")
def pool():
    """Independent jobs of this module, one per CPU core (each job uses one torch thread)."""
    threads = torch.get_num_threads()
    try:
        with ThreadPoolExecutor(max_workers=min(2, _n_cpus())) as ex:
            yield ex
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def nets(shared_dir, tmp_path_factory, pool):
    """{(network, variant): _prepare_net(...)} for the pysot and foolwood layouts, plain and conditioned."""
    folder = tmp_path_factory.mktemp("siammask_weights")
    futures = {(n, v): pool.submit(_prepare_net, shared_dir, folder, n, v) for n in NETWORKS for v in ("plain", "cond")}
    return {key: f.result() for key, f in futures.items()}


# ----------------------------------------------------------------------------- tracking, one step per frame


class _SameCropOnce:
    """The model as seen by trackers stepping in lockstep: ``track_mask`` runs once per distinct
    (exemplar crop, search crop) pair; everything else goes to the real model."""

    def __init__(self, model: SiamMaskModel):
        self.model = TorchModel(model, "cpu")
        self._last = (None, None)

    @staticmethod
    def _key(crops: np.ndarray) -> bytes:
        return hashlib.sha1(np.ascontiguousarray(crops).tobytes()).digest()

    def template(self, z):
        return self._key(z), self.model.template(z)

    def track_mask(self, state, x):
        key = (state[0], self._key(x))
        if self._last[0] != key:
            self._last = (key, self.model.track_mask(state[1], x))
        return self._last[1]

    def refine(self, search, pos):
        return self.model.refine(search, pos)


def _state(rec: dict):
    """Recorded state: pysot ``center_pos`` / ``size``, foolwood ``target_pos`` / ``target_sz``."""
    return (np.array(rec.get("center_pos", rec.get("target_pos")), dtype=np.float64),
            np.array(rec.get("size", rec.get("target_sz")), dtype=np.float64))


def _nan_diff(a, b) -> float:
    """max |a - b|, NaN equal to NaN (the degenerate plain runs record NaN polygons), NaN vs number = inf."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    assert a.shape == b.shape
    d = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b))
    return float(np.nan_to_num(d, nan=np.inf).max())


def _track_job(shared: Path, model, fixtures: list, variant: str, seq_index: int) -> dict:
    """One sequence: trackers of ``fixtures`` (same network) in lockstep, each step from the recorded state.
    Returns {fixture: {"init_err": float, "frames": [per-frame comparison]}}."""
    torch.set_num_threads(1)
    shared_model = _SameCropOnce(model)
    runs = []
    for fixture in fixtures:
        record = json.loads((shared / "fixtures" / fixture / f"track{'_cond' if variant == 'cond' else ''}.json")
                            .read_text())
        seq = record["sequences"][seq_index]
        preset = get_preset(TRACKS[fixture][1])
        runs.append((fixture, TRACKERS.get(preset["tracker"])(shared_model, preset["track"]), seq))
    root = shared / "data"
    first = runs[0][2]
    out = {}
    for fixture, tracker, seq in runs:
        tracker.init(cv2.imread(str(root / seq.get("sequence_dir", "") / seq["init_file"])), seq["init_box"])
        center, size = _state(seq["frames"][0]["state_in"])
        out[fixture] = {"sequence": seq["sequence"], "frames": [],
                        "init_err": max(np.abs(tracker.center_pos - center).max(), np.abs(tracker.size - size).max())}
    for i, frame_rec in enumerate(first["frames"]):
        img = cv2.imread(str(root / first.get("sequence_dir", "") / frame_rec["file"]))
        for fixture, tracker, seq in runs:
            rec = seq["frames"][i]
            assert rec["index"] == frame_rec["index"]
            tracker.center_pos, tracker.size = _state(rec["state_in"])
            r = tracker.update(img)
            area = int(r.binary_mask.sum())
            out[fixture]["frames"].append({
                "index": rec["index"],
                "box": _nan_diff(r.box, rec["bbox"]),
                "polygon": _nan_diff(r.polygon, rec["polygon"]),
                "score": abs(r.score - rec.get("score", rec.get("best_score"))),
                "area": area, "area_ref": rec["mask_area"],
                "mask_ok": r.mask.shape == img.shape[:2] and r.mask.dtype == np.float32 and float(r.mask.min()) >= 0,
            })
    return out


@pytest.fixture(scope="module")
def tracks(nets, shared_dir, pool):
    """{(fixture, variant, sequence index): result of _track_job}, all runs started together."""
    futures = []
    for variant in ("cond", "plain"):  # the longest jobs (two presets diverging) first
        for network in ("foolwood", "pysot"):
            fixtures = [f for f, (n, _) in TRACKS.items() if n == network]
            for seq_index in (0, 1):
                model = nets[network, variant]["model"]
                futures.append((variant, seq_index, pool.submit(_track_job, shared_dir, model, fixtures, variant,
                                                                seq_index)))
    return {(fixture, variant, seq_index): res
            for variant, seq_index, future in futures for fixture, res in future.result().items()}


@pytest.mark.parametrize("variant", ["plain", "cond"])
@pytest.mark.parametrize("fixture", sorted(TRACKS))
def test_one_step_tracking_matches_reference(tracks, fixture, variant):
    for seq_index in (0, 1):
        res = tracks[fixture, variant, seq_index]
        what = f"{fixture} {variant} {res['sequence']}"
        assert res["init_err"] < 1e-9, f"{what}: init state off by {res['init_err']}"
        frames = res["frames"]
        assert len(frames) == 39
        for f in frames:
            at = f"{what} frame {f['index']}"
            assert f["box"] <= 0.5, f"{at}: box off by {f['box']:.4f} px"
            assert f["polygon"] <= 0.5, f"{at}: polygon off by {f['polygon']:.4f} px"
            assert f["score"] <= 1e-4, f"{at}: score off by {f['score']:.2e}"
            assert abs(f["area"] - f["area_ref"]) <= 0.01 * f["area_ref"], \
                f"{at}: mask area {f['area']} instead of {f['area_ref']}"
            assert f["mask_ok"], f"{at}: mask is not a frame-sized float32 probability map"


# ----------------------------------------------------------------------------- network level


def test_key_layouts_match_references(shared_dir):
    """Same keys, shapes, dtypes and order as pysot's ModelBuilder / foolwood's Custom; the two foolwood
    fixtures share one network (same layout, same recorded crops and outputs)."""
    for network, fixture in NETWORKS.items():
        model = build_model(siammask_config(network))
        ours = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
        assert ours == fixture_manifest(shared_dir, fixture)["keys"], network
    assert fixture_manifest(shared_dir, "siammask_sharp_davis")["keys"] == fixture_manifest(shared_dir, "siammask_sharp_vot")["keys"]
    for name in ("io.npz", "io_cond.npz"):
        vot = np.load(shared_dir / "fixtures/siammask_sharp_vot" / name)
        davis = np.load(shared_dir / "fixtures/siammask_sharp_davis" / name)
        assert sorted(vot.files) == sorted(davis.files)
        assert all(np.array_equal(vot[k], davis[k]) for k in vot.files)


@pytest.mark.parametrize("variant", ["plain", "cond"])
@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_network_outputs_match_reference(nets, network, variant):
    net = nets[network, variant]
    assert max(net["errors"].values()) < TOL, net["errors"]
    assert max(net["errors_fast"].values()) < TOL, net["errors_fast"]


def test_presets_match_reference_configs(shared_dir):
    cfg = fixture_manifest(shared_dir, "siammask_r50_l3")["config"]
    track = get_preset("siammask")["track"]
    ref = cfg["TRACK"]
    assert (track["penalty_k"], track["window_influence"], track["lr"]) == (ref["PENALTY_K"], ref["WINDOW_INFLUENCE"],
                                                                           ref["LR"])
    assert track["mask_threshold"] == ref["MASK_THERSHOLD"] and track["mask_output_size"] == ref["MASK_OUTPUT_SIZE"]
    assert (track["instance_size"], track["base_size"], track["exemplar_size"]) == (ref["INSTANCE_SIZE"],
                                                                                    ref["BASE_SIZE"], 127)
    assert track["stride"] == cfg["ANCHOR"]["STRIDE"] and track["ratios"] == cfg["ANCHOR"]["RATIOS"]
    assert get_preset("siammask")["model"]["mask"]["out_channels"] == cfg["MASK"]["KWARGS"]["out_channels"]
    for fixture, (_, name) in TRACKS.items():
        if fixture == "siammask_r50_l3":
            continue
        eff = fixture_manifest(shared_dir, fixture)["config"]["tracker_config_effective"]
        track = get_preset(name)["track"]
        assert (track["penalty_k"], track["window_influence"], track["lr"], track["mask_threshold"]) == \
            (eff["penalty_k"], eff["window_influence"], eff["lr"], eff["seg_thr"]), name
        assert (track["instance_size"], track["base_size"], track["mask_output_size"], track["stride"]) == \
            (eff["instance_size"], eff["base_size"], eff["out_size"], eff["total_stride"]), name
        assert track["ratios"] == eff["ratios"] and track["scales"] == eff["scales"]
    # SiamMask_VOT_LD.pth: same network as SiamMask_VOT.pth, foolwood experiments/siammask_sharp/config_vot18.json
    ld = get_preset("siammask-vot-ld")
    assert ld["model"] == get_preset("siammask-vot")["model"] and ld["weights"]["file"] == "SiamMask_VOT_LD.pth"
    t = ld["track"]
    assert (t["penalty_k"], t["window_influence"], t["lr"], t["mask_threshold"]) == (0.10, 0.41, 0.32, 0.15)


def test_checkpoints_load_through_create_tracker_and_wrong_layouts_fail(nets):
    """The foolwood training checkpoint (``module.`` keys) makes a ready siammask-davis tracker; each layout is
    refused by the presets of the other one, with the file and the model named."""
    foolwood, pysot = nets["foolwood", "cond"]["path"], nets["pysot", "plain"]["path"]
    tracker = create_tracker("siammask-davis", weights=foolwood)
    assert isinstance(tracker, SiamMaskSharpTracker) and tracker.mask_threshold == 0.35
    assert tracker.score_size == 25 and tracker.mask_border == -1.0
    with pytest.raises(SiamtrackError, match=re.escape(f"{foolwood}: not a checkpoint of model 'siammask':")):
        create_tracker("siammask", weights=foolwood)
    with pytest.raises(SiamtrackError, match=re.escape(f"{pysot}: not a checkpoint of model 'siammask-vot-ld':")):
        create_tracker("siammask-vot-ld", weights=pysot)


# ----------------------------------------------------------------------------- units


@pytest.mark.parametrize("top,left,size", [(0, 0, 15), (24, 24, 15), (12, 3, 15), (96, 0, 61), (40, 96, 61)])
def test_crop_padded_equals_pad_then_slice(top, left, size):
    g = torch.Generator().manual_seed(top * 100 + left)
    f = torch.randn(1, 3, 31 if size == 15 else 125, 31 if size == 15 else 125, generator=g)
    pad = 4 if size == 15 else 16
    ref = torch.nn.functional.pad(f, [pad] * 4)[:, :, top:top + size, left:left + size]
    assert torch.equal(crop_padded(f, pad, top, left, size), ref)


def test_mask_to_frame_places_the_mask_on_its_window():
    """A 127x127 mask of ones covering [100, 50] + 127*2 px lands there (border value outside)."""
    mask = np.ones((127, 127), np.float32)
    out = mask_to_frame(mask, [100.0, 50.0, 254.0, 254.0], (400, 500), -1.0)
    assert out.shape == (400, 500) and out.dtype == np.float32
    inside = out > 0.5
    ys, xs = np.nonzero(inside)
    assert abs(xs.min() - 100) <= 1 and abs(xs.max() - 353) <= 2
    assert abs(ys.min() - 50) <= 1 and abs(ys.max() - 303) <= 2
    assert out[0, 0] == -1.0 and out[399, 499] == -1.0


def test_mask_polygon_rotated_rectangle_and_fallback():
    binary = np.zeros((200, 300), np.uint8)
    corners = cv2.boxPoints(((150.0, 100.0), (120.0, 40.0), 30.0))
    cv2.fillPoly(binary, [np.round(corners).astype(np.int32)], 1)
    cv2.rectangle(binary, (5, 5), (8, 8), 1, -1)  # a smaller blob: not the largest contour
    poly = mask_polygon(binary.astype(bool), (0, 0, 10, 10))
    assert poly.dtype == np.float64 and poly.shape == (8,)
    rect = cv2.minAreaRect(poly.reshape(4, 2).astype(np.float32))
    assert np.allclose(rect[0], (150, 100), atol=1.5)
    assert np.allclose(sorted(rect[1]), (40, 120), atol=2.5)
    tiny = np.zeros((50, 50), bool)
    tiny[10:15, 10:15] = True  # area 16 <= 100: the fallback box
    assert np.array_equal(mask_polygon(tiny, (1.5, 2.0, 10.0, 20.0)),
                          [1.5, 2.0, 11.5, 2.0, 11.5, 22.0, 1.5, 22.0])
    assert np.array_equal(mask_polygon(np.zeros((5, 5), bool), (0, 0, 1, 1)), [0, 0, 1, 0, 1, 1, 0, 1])

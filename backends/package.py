"""``siamtrack export``: a preset's graphs as files for other programs (and OpenCV's trackers).

Writes into ``out``:

* ``template.onnx`` and ``search.onnx`` (:mod:`siamtrack.backends.export`:
  ``z`` -> ``zf0..``; ``zf0.., x`` -> ``out0..`` / ``out``) for ``batch``
  targets (SiamFC: ``3 * batch`` search crops, its three scales);
* SiamMask also ``refine.onnx`` (``p0..p3``, the patches at the chosen cell, ->
  ``logits`` ``(N, 16129)``);
* ``siamtrack-export.json``, the sidecar: preset, weights file and sha256,
  siamtrack version, opset, colour order (``BGR`` or ``RGB``), pixel range
  (raw 0..255, no mean subtracted: every reference feeds raw pixels), each
  graph's input and output names and shapes, and what the outputs are;
* with ``opencv`` (NanoTrack presets): ``nanotrack_backbone.onnx`` (``input``
  ``(1, 3, 255, 255)`` -> ``output`` ``(1, C, 16, 16)``; OpenCV also runs it on
  the 127x127 exemplar) and ``nanotrack_head.onnx`` (``input1`` template
  features, ``input2`` search features -> ``output1`` cls, ``output2`` loc),
  the names and shapes of the official pair that ``cv2.TrackerNano`` loads
  (``TrackerNano_Params.backbone`` / ``.neckhead``);
* with ``opencv`` (DaSiamRPN presets ``siamrpn`` and ``siamrpn-otb``, the
  256-channel networks): ``dasiamrpn_model.onnx``, ``dasiamrpn_kernel_cls1.onnx``
  and ``dasiamrpn_kernel_r1.onnx``, the three files ``cv2.TrackerDaSiamRPN``
  loads (``TrackerDaSiamRPN_Params.model`` / ``.kernel_cls1`` / ``.kernel_r1``;
  names and shapes in :func:`dasiamrpn_opencv_graphs`).

Every file is written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from siamtrack.backends.export import (DEFAULT_OPSET, FeatureBranch, RefineBranch, SearchBranch, TemplateBranch,
                                       export_branch, exportable, is_siammask)
from siamtrack.errors import SiamtrackError
from siamtrack.runner.atomic import atomic_path

__all__ = ["DASIAMRPN_OPENCV_FILES", "dasiamrpn_opencv_graphs", "export_preset", "opencv_form_error"]

OUTPUT_LAYOUT = {
    "nanotrack": "out0 cls (N, 2, S, S) logits background/foreground; out1 loc (N, 4, S, S) exp distances l,t,r,b "
                 "in search-crop pixels (stride 16)",
    "siamrpn": "out0 cls (N, 2k, S, S) logits, k anchors (background channels first); out1 loc (N, 4k, S, S) "
               "anchor deltas dx,dy,dw,dh",
    "dasiamrpn": "out0 score (N, 2k, S, S); out1 delta (N, 4k, S, S), k = 5 anchors (DaSiamRPN layout)",
    "siamrpn_lt": "out0 cls (N, 2k, S, S); out1 loc (N, 4k, S, S) (pysot anchors)",
    "siamfc": "out response map (3N, 1, 17, 17), one per scale and target (x0.001 scaled correlation)",
    "siammask": "out0 cls (N, 10, 25, 25); out1 loc (N, 20, 25, 25) (pysot anchors); out2..out4 backbone levels "
                "(N, 64, 125, 125), (N, 256, 63, 63), (N, 512, 31, 31); out5 mask correlation feature (N, 256, 25, 25)",
    "siammask_sharp": "as siammask (foolwood/SiamMask layout of the same network)",
}


#: ``TrackerDaSiamRPN_Params`` field -> file name, the defaults of ``TrackerDaSiamRPN::Params::Params()``
#: (opencv/opencv modules/video/src/tracking/tracker_dasiamrpn.cpp).
DASIAMRPN_OPENCV_FILES = {"model": "dasiamrpn_model.onnx", "kernel_cls1": "dasiamrpn_kernel_cls1.onnx",
                          "kernel_r1": "dasiamrpn_kernel_r1.onnx"}

# What tracker_dasiamrpn.cpp hard-codes (trackerConfig and trackerInit): 127 / 271 crops, stride 8, anchors
# of ratios {0.33, 0.5, 1, 2, 3} x scale 8 (5 per cell), 19x19 score map, kernels reshaped to
# {20, 256, 4, 4} / {10, 256, 4, 4} (so feature_out = 256).
_DASIAMRPN_OPENCV_FORM = {"exemplar_size": 127, "instance_size": 271, "stride": 8, "ratios": [0.33, 0.5, 1, 2, 3],
                          "scales": [8]}


def opencv_form_error(preset: dict) -> str | None:
    """Why ``preset`` has no ``--opencv`` form (a one-line message), or ``None`` when it has one.

    NanoTrack presets: the ``cv2.TrackerNano`` pair. DaSiamRPN presets whose network and crop geometry are
    those ``tracker_dasiamrpn.cpp`` (opencv/opencv modules/video/src/tracking) hard-codes: 256-channel
    kernels (``r1_shape = {20, 256, 4, 4}``, ``cls1_shape = {10, 256, 4, 4}``), 5 anchors, exemplar 127,
    search 271 (19x19 scores), stride 8: ``siamrpn`` and ``siamrpn-otb``, not ``siamrpn-big`` (512 channels).
    """
    name, tracker = preset["name"], preset["tracker"]
    if tracker == "nanotrack":
        return None
    if tracker != "dasiamrpn":
        return (f"--opencv: writes the cv2.TrackerNano pair of the NanoTrack presets and the cv2.TrackerDaSiamRPN "
                f"files of the 256-channel DaSiamRPN presets (siamrpn, siamrpn-otb); '{name}' is neither")
    head, track = preset["model"]["head"], preset["track"]
    if head.get("feature_out") != 256 or head.get("feature_in") != 256 or head.get("anchor_num") != 5:
        return (f"--opencv: cv2.TrackerDaSiamRPN takes 256-channel DaSiamRPN networks (kernels reshaped to "
                f"20x256x4x4 / 10x256x4x4 in tracker_dasiamrpn.cpp); '{name}' has {head.get('feature_out')} "
                f"channels: use siamrpn or siamrpn-otb")
    for key, value in _DASIAMRPN_OPENCV_FORM.items():
        if track.get(key) != value:
            return (f"--opencv: cv2.TrackerDaSiamRPN hard-codes {key} {value}; '{name}' has {track.get(key)}")
    return None


class _DaSiamRPNModel(nn.Module):
    """``x -> (delta, score)`` with the template kernels as constant weights (what OpenCV's ``setParam`` replaces).

    Also returns the backbone features and the box correlation so that export names them (then dropped as outputs).
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        head = model.head
        self.register_buffer("r1_kernel", torch.zeros(head.loc_out, head.feature_out, 4, 4))
        self.register_buffer("cls1_kernel", torch.zeros(head.cls_out, head.feature_out, 4, 4))

    def forward(self, x):
        head = self.model.head
        f = self.model.features(x)
        r = nn.functional.conv2d(head.conv_r2(f), self.r1_kernel)
        delta = head.regress_adjust(r)  # traced first: OpenCV takes outs[0] as delta, outs[1] as score
        score = nn.functional.conv2d(head.conv_cls2(f), self.cls1_kernel)
        return delta, score, f, r


class _Conv(nn.Module):
    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward(self, f):
        return self.conv(f)


def dasiamrpn_opencv_graphs(model, opset: int = DEFAULT_OPSET) -> dict[str, bytes]:
    """The three ONNX graphs ``cv2.TrackerDaSiamRPN`` loads, from a DaSiamRPN model (``export_model`` form).

    Names and shapes are those opencv/opencv ``modules/video/src/tracking/tracker_dasiamrpn.cpp`` uses (the
    ``onnx_node_output_0!<tensor>`` names of 4.6+ and 5.x; checked with opencv-python 5.1.0, whose DNN engine
    resolves them by ONNX tensor name; OpenCV 4.x's classic importer names a layer ``onnx_node_output_0!<first
    output>`` when the node has no name, ``<first output>`` before 4.6: not checked here); every tensor is
    float32:

    * ``dasiamrpn_model.onnx`` (``Params.model``): input ``input`` ``(1, 3, 271, 271)`` BGR pixels 0..255 as
      ``blobFromImage`` gives them (no mean, no scaling, ``swapRB = false``); OpenCV also feeds it the
      ``(1, 3, 127, 127)`` exemplar and reads the backbone features ``(1, 256, 6, 6)`` of the tensor ``63``
      (``forward(out1, "onnx_node_output_0!63")``; ``"63"`` before OpenCV 4.6). Two graph outputs, in this
      order (``getUnconnectedOutLayersNames``; ``delta = outs[0]``, ``score = outs[1]``): ``delta``
      ``(1, 20, 19, 19)`` anchor offsets dx, dy, dw, dh (blocks of 5 anchors, the layout
      ``reshape(4, 5, 19, 19)`` reads) and ``68`` = score ``(1, 10, 19, 19)`` logits background / foreground
      (``reshape(2, 5, 19, 19)``, softmax over the first axis). The correlations are the Conv nodes with
      outputs ``65`` (box: weight ``(20, 256, 4, 4)``, no bias, then ``regress_adjust``) and ``68`` (score:
      weight ``(10, 256, 4, 4)``); OpenCV replaces those weights with the template's kernels
      (``setParam(getLayerId("onnx_node_output_0!65"), 0, r1.reshape(0, {20, 256, 4, 4}))``, ``"...!68"``
      with ``cls1``); exported here as zeros. Nodes are unnamed (see above).
    * ``dasiamrpn_kernel_r1.onnx`` (``Params.kernel_r1``): ``input`` ``(1, 256, 6, 6)`` features ->
      ``output`` ``(1, 5120, 4, 4)`` (``conv_r1``);
    * ``dasiamrpn_kernel_cls1.onnx`` (``Params.kernel_cls1``): ``input`` ``(1, 256, 6, 6)`` ->
      ``output`` ``(1, 2560, 4, 4)`` (``conv_cls1``).

    Args:
        model: a 256-channel DaSiamRPN :class:`~siamtrack.models.siamese.SiameseModel` with its BatchNorms folded
            (:func:`siamtrack.tracker.factory.export_model`; presets ``siamrpn``, ``siamrpn-otb``).
        opset: ONNX opset (OpenCV 5.1's DNN reads 17).

    Returns:
        file name -> ONNX bytes (:data:`DASIAMRPN_OPENCV_FILES`).
    """
    head = model.head
    x = torch.zeros(1, 3, 271, 271)
    with torch.no_grad():
        f = model.features(torch.zeros(1, 3, 127, 127))
    data, _ = export_branch(_DaSiamRPNModel(model), [x], ["input"], "out", opset)
    graphs = {DASIAMRPN_OPENCV_FILES["model"]: _opencv_names(data, {"out2": "63", "out3": "65", "out1": "68",
                                                                     "out0": "delta"}, drop={"63", "65"})}
    for field, conv in (("kernel_r1", head.conv_r1), ("kernel_cls1", head.conv_cls1)):
        data, _ = export_branch(_Conv(conv), [f], ["input"], "output", opset)
        graphs[DASIAMRPN_OPENCV_FILES[field]] = _opencv_names(data, {})
    return graphs


class _Head(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, zf, xf):
        return self.model.head(zf, xf)


def _write(path: Path, data: bytes) -> None:
    with atomic_path(str(path)) as tmp:
        Path(tmp).write_bytes(data)


def _shapes(preset: dict, batch: int) -> tuple[tuple, tuple]:
    t = preset["track"]
    ez, ix = t.get("exemplar_size", t.get("exemplar_sz")), t.get("instance_size", t.get("instance_sz"))
    scales = t.get("scale_num", 1)
    return (batch, 3, ez, ez), (batch * scales, 3, ix, ix)


def export_preset(model_name: str, out: str, weights=None, batch: int = 1, opset: int = DEFAULT_OPSET,
                  opencv: bool = False) -> list[Path]:
    """Export preset ``model_name`` with its weights into the folder ``out`` (created if missing).

    Returns:
        The files written.

    Raises:
        SiamtrackError: unknown preset, missing / wrong weights, a preset without export files
            (CFNet), ``opencv`` for a preset OpenCV has no tracker for (:func:`opencv_form_error`:
            e.g. SiamRPN++, the 512-channel ``siamrpn-big``), ``out`` not a folder
            or the weights file inside it, ``batch`` below 1.
    """
    from siamtrack import __version__
    from siamtrack.backends.graphs import weights_sha256
    from siamtrack.models.presets import get_preset
    from siamtrack.models.weights import resolve_weights
    from siamtrack.runner.protect import check_outputs
    from siamtrack.tracker.factory import export_model

    preset = get_preset(model_name)
    if batch < 1:
        raise SiamtrackError(f"--batch {batch}: expected 1 or more")
    if opencv and opencv_form_error(preset):
        raise SiamtrackError(opencv_form_error(preset))
    path = resolve_weights(preset, weights)
    folder = Path(out)
    check_outputs([("--out", str(folder))], [("the weights file", str(path))])
    if folder.exists() and not folder.is_dir():
        raise SiamtrackError(f"{folder}: is a file, not a folder")
    model = export_model(preset, path)
    if not exportable(model):
        raise SiamtrackError(f"model '{preset['name']}' has no export files: its correlation filter is solved in "
                             f"torch (siamtrack runs its convolutions on OpenVINO / ONNX Runtime from the graph "
                             f"cache)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SiamtrackError(f"{folder}: cannot create the folder ({e.strerror or e})") from None
    z_shape, x_shape = _shapes(preset, batch)
    with torch.no_grad():
        zf = TemplateBranch(model)(torch.zeros(z_shape))
    data, zf_names = export_branch(TemplateBranch(model), [torch.zeros(z_shape)], ["z"], "zf", opset)
    _write(folder / "template.onnx", data)
    names = [f"zf{i}" for i in range(len(zf))] + ["x"]
    data, out_names = export_branch(SearchBranch(model, len(zf)), [*zf, torch.zeros(x_shape)], names, "out", opset)
    _write(folder / "search.onnx", data)
    written = [folder / "template.onnx", folder / "search.onnx"]
    refine = None
    if is_siammask(model):
        with torch.no_grad():
            outs = SearchBranch(model, len(zf))(*zf, torch.zeros(x_shape))
        patches = model.refine_head.patches(outs[2:5], outs[5], (0, 0))
        data, refine = export_branch(RefineBranch(model), list(patches), ["p0", "p1", "p2", "p3"], "logits", opset)
        _write(folder / "refine.onnx", data)
        written.append(folder / "refine.onnx")
        refine = {"inputs": {f"p{i}": list(p.shape) for i, p in enumerate(patches)}, "outputs": refine,
                  "layout": "logits (N, 16129): the 127x127 mask at the chosen cell (row-major); p0..p3 cut from "
                            "search.onnx's out2..out5 by Refine.patches (levels padded by 16 / 8 / 4, crops at "
                            "4 pos / 2 pos / pos, and the correlation feature at pos)"}
    meta = {
        "preset": preset["name"], "reference": preset["reference"], "siamtrack": __version__, "opset": int(opset),
        "weights": os.path.abspath(path), "weights_sha256": weights_sha256(path),
        "colour": str(preset["track"].get("colour", "bgr")).upper(),
        "pixels": "float32 0..255 as read, no mean subtracted, no scaling",
        "template.onnx": {"inputs": {"z": list(z_shape)}, "outputs": {n: list(t.shape) for n, t in zip(zf_names, zf)}},
        "search.onnx": {"inputs": {**{n: list(t.shape) for n, t in zip(names, zf)}, "x": list(x_shape)},
                        "outputs": out_names, "layout": OUTPUT_LAYOUT.get(preset["tracker"], "")},
    }
    if refine:
        meta["refine.onnx"] = refine
    if opencv and preset["tracker"] == "dasiamrpn":
        graphs = dasiamrpn_opencv_graphs(model, opset)
        for name, data in graphs.items():
            _write(folder / name, data)
            written.append(folder / name)
        meta["opencv"] = {file: f"cv2.TrackerDaSiamRPN_Params.{field}"
                          for field, file in DASIAMRPN_OPENCV_FILES.items()}
        meta["opencv"]["note"] = ("cv2.TrackerDaSiamRPN uses its own hard-coded hyper-parameters (window influence "
                                  "0.43, lr 0.4, penalty_k 0.055, a sqrt Hanning window), not the preset's")
    elif opencv:
        x = torch.zeros(1, 3, *x_shape[2:])
        with torch.no_grad():
            xf = model.features(x)
        data, _ = export_branch(FeatureBranch(model), [x], ["input"], "output", opset)
        _write(folder / "nanotrack_backbone.onnx", data)
        data, heads = export_branch(_Head(model), [zf[0][:1], xf], ["input1", "input2"], "output", opset)
        if heads != ["output0", "output1"]:  # pragma: no cover - every NanoTrack head returns (cls, loc)
            raise SiamtrackError(f"--opencv: the head of '{preset['name']}' does not return (cls, loc)")
        data = _rename_outputs(data, {"output0": "output1", "output1": "output2"})
        _write(folder / "nanotrack_head.onnx", data)
        written += [folder / "nanotrack_backbone.onnx", folder / "nanotrack_head.onnx"]
        meta["opencv"] = {"nanotrack_backbone.onnx": "cv2.TrackerNano_Params.backbone",
                          "nanotrack_head.onnx": "cv2.TrackerNano_Params.neckhead"}
    _write(folder / "siamtrack-export.json", json.dumps(meta, indent=1).encode())
    return written + [folder / "siamtrack-export.json"]


def _opencv_names(data: bytes, names: dict, drop=frozenset()) -> bytes:
    """The ONNX model ``data`` with tensors renamed (``names``), the graph outputs in ``drop`` (after renaming)
    removed, and every node name cleared (OpenCV's importer then names a layer after its first output)."""
    import onnx

    model = onnx.load_from_string(data)
    for node in model.graph.node:
        node.name = ""
        node.input[:] = [names.get(i, i) for i in node.input]
        node.output[:] = [names.get(o, o) for o in node.output]
    outputs = []
    for output in model.graph.output:
        output.name = names.get(output.name, output.name)
        if output.name not in drop:
            outputs.append(output)
    del model.graph.output[:]
    model.graph.output.extend(outputs)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _rename_outputs(data: bytes, names: dict) -> bytes:
    """The ONNX model ``data`` with graph outputs renamed (``onnx``: the names OpenCV's tracker looks up)."""
    import onnx

    model = onnx.load_from_string(data)
    for node in model.graph.node:
        node.output[:] = [names.get(o, o) for o in node.output]
    for output in model.graph.output:
        output.name = names.get(output.name, output.name)
    return model.SerializeToString()

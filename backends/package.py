"""``siamtrack export``: a preset's graphs as files for other programs (and OpenCV's trackers).

Writes into ``out``:

* ``template.onnx`` and ``search.onnx`` (:mod:`siamtrack.backends.export`:
  ``z`` -> ``zf0..``; ``zf0.., x`` -> ``out0..`` / ``out``) for ``batch``
  targets (SiamFC: ``3 * batch`` search crops, its three scales);
* ``siamtrack-export.json``, the sidecar: preset, weights file and sha256,
  siamtrack version, opset, colour order (``BGR`` or ``RGB``), pixel range
  (raw 0..255, no mean subtracted: every reference feeds raw pixels), each
  graph's input and output names and shapes, and what the outputs are;
* with ``opencv`` (NanoTrack presets): ``nanotrack_backbone.onnx`` (``input``
  ``(1, 3, 255, 255)`` -> ``output`` ``(1, C, 16, 16)``; OpenCV also runs it on
  the 127x127 exemplar) and ``nanotrack_head.onnx`` (``input1`` template
  features, ``input2`` search features -> ``output1`` cls, ``output2`` loc),
  the names and shapes of the official pair that ``cv2.TrackerNano`` loads
  (``TrackerNano_Params.backbone`` / ``.neckhead``).

Every file is written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from siamtrack.backends.export import DEFAULT_OPSET, SearchBranch, TemplateBranch, export_branch, exportable
from siamtrack.errors import SiamtrackError
from siamtrack.runner.atomic import atomic_path

__all__ = ["export_preset"]

OUTPUT_LAYOUT = {
    "nanotrack": "out0 cls (N, 2, S, S) logits background/foreground; out1 loc (N, 4, S, S) exp distances l,t,r,b "
                 "in search-crop pixels (stride 16)",
    "siamrpn": "out0 cls (N, 2k, S, S) logits, k anchors (background channels first); out1 loc (N, 4k, S, S) "
               "anchor deltas dx,dy,dw,dh",
    "dasiamrpn": "out0 score (N, 2k, S, S); out1 delta (N, 4k, S, S), k = 5 anchors (DaSiamRPN layout)",
    "siamrpn_lt": "out0 cls (N, 2k, S, S); out1 loc (N, 4k, S, S) (pysot anchors)",
    "siamfc": "out response map (3N, 1, 17, 17), one per scale and target (x0.001 scaled correlation)",
}


class _Backbone(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.features(x)


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
        SiamtrackError: unknown preset, missing / wrong weights, a preset without an exported form
            (SiamMask, CFNet), ``opencv`` for a preset OpenCV has no tracker for, ``out`` not a folder
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
    if opencv and preset["tracker"] != "nanotrack":
        raise SiamtrackError(f"--opencv: writes the cv2.TrackerNano pair of the NanoTrack presets; "
                             f"'{preset['name']}' is not one")
    path = resolve_weights(preset, weights)
    folder = Path(out)
    check_outputs([("--out", str(folder))], [("the weights file", str(path))])
    if folder.exists() and not folder.is_dir():
        raise SiamtrackError(f"{folder}: is a file, not a folder")
    model = export_model(preset, path)
    if not exportable(model):
        raise SiamtrackError(f"model '{preset['name']}' has no exported form yet (its mask refinement / "
                             f"correlation filter run on torch)")
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
    meta = {
        "preset": preset["name"], "reference": preset["reference"], "siamtrack": __version__, "opset": int(opset),
        "weights": os.path.abspath(path), "weights_sha256": weights_sha256(path),
        "colour": str(preset["track"].get("colour", "bgr")).upper(),
        "pixels": "float32 0..255 as read, no mean subtracted, no scaling",
        "template.onnx": {"inputs": {"z": list(z_shape)}, "outputs": {n: list(t.shape) for n, t in zip(zf_names, zf)}},
        "search.onnx": {"inputs": {**{n: list(t.shape) for n, t in zip(names, zf)}, "x": list(x_shape)},
                        "outputs": out_names, "layout": OUTPUT_LAYOUT.get(preset["tracker"], "")},
    }
    if opencv:
        x = torch.zeros(1, 3, *x_shape[2:])
        with torch.no_grad():
            xf = model.features(x)
        data, _ = export_branch(_Backbone(model), [x], ["input"], "output", opset)
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


def _rename_outputs(data: bytes, names: dict) -> bytes:
    """The ONNX model ``data`` with graph outputs renamed (``onnx``: the names OpenCV's tracker looks up)."""
    import onnx

    model = onnx.load_from_string(data)
    for node in model.graph.node:
        node.output[:] = [names.get(o, o) for o in node.output]
    for output in model.graph.output:
        output.name = names.get(output.name, output.name)
    return model.SerializeToString()

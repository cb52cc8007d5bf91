"""ONNX export of a Siamese model's two branches: the template graph and the search graph.

The split is OpenCV's NanoTrack pair's (``backbone.onnx`` + ``head.onnx``)
with the search backbone moved into the second graph, so that a frame is one
runtime call:

* template graph: exemplar crop ``z`` ``(N, 3, Hz, Wz)`` float32 (pixel values
  0..255, the preset's colour order) -> the template features ``zf0``,
  ``zf1``, ... (one per feature level; e.g. ``(N, 48, 8, 8)`` for NanoTrack
  v2, three ``(N, 256, 7, 7)`` maps for SiamRPN++ ResNet-50);
* search graph: the template features and the search crop ``x``
  ``(N, 3, Hx, Wx)`` float32 -> the head's outputs ``out0``, ``out1``
  (``cls`` ``(N, 2k, S, S)`` and ``loc`` ``(N, 4k, S, S)`` for the RPN and
  NanoTrack heads), or ``out``, the response map ``(N, 1, S, S)`` of SiamFC, computed
  by ``head(zf, features(x))``, the models' reference path. The
  cross-correlation stays a (grouped / depthwise) convolution whose weights
  are the template features.

Shapes are static: one search graph per batch size and search-crop size
(``torch.onnx``'s TorchScript exporter bakes the correlation's group count,
``B * C``, into the graph). Export runs on a deep copy of the model (the
exporter's constant folding may change the module it traces).
"""

from __future__ import annotations

import copy
import io
import warnings
from typing import Sequence

import torch
from torch import nn

__all__ = ["ExportUnsupported", "exportable", "TemplateBranch", "SearchBranch", "export_branch", "DEFAULT_OPSET",
           "EXPORT_REVISION"]

#: Changes whenever the exported graphs of the same weights would differ (keys the graph cache with them).
EXPORT_REVISION = 1

#: ONNX opset of the exported graphs (OpenVINO 2026 and ONNX Runtime 1.3x read it; OpenCV's DNN reads 17).
DEFAULT_OPSET = 17


class ExportUnsupported(Exception):
    """The model has no template / search split that this exporter knows (e.g. SiamMask's refinement)."""


def exportable(model: nn.Module) -> bool:
    """Whether ``model`` is a backbone + neck + head :class:`~siamtrack.models.siamese.SiameseModel`."""
    from siamtrack.models.siamese import SiameseModel

    return isinstance(model, SiameseModel)


def _flat(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


class TemplateBranch(nn.Module):
    """``z -> (zf0, zf1, ...)``: the model's features of the exemplar crop, one tensor per level."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor):
        return _flat(self.model.features(z))


class SearchBranch(nn.Module):
    """``(zf0, ..., x) -> (out0, ...)``: ``head(zf, features(x))`` with ``levels`` template tensors."""

    def __init__(self, model: nn.Module, levels: int):
        super().__init__()
        self.model = model
        self.levels = int(levels)

    def forward(self, *inputs):
        zf = list(inputs[:-1]) if self.levels > 1 else inputs[0]
        return self.model.head(zf, self.model.features(inputs[-1]))


def export_branch(module: nn.Module, args: Sequence[torch.Tensor], input_names: Sequence[str],
                  output_prefix: str, opset: int = DEFAULT_OPSET) -> tuple[bytes, list[str]]:
    """Export ``module(*args)`` to ONNX with ``torch.onnx.export`` (TorchScript exporter, static shapes).

    Returns:
        ``(onnx bytes, output names)``: a module returning a tuple gets outputs ``<output_prefix>0``,
        ``<output_prefix>1``, ...; one returning a single tensor (SiamFC's response map) ``<output_prefix>``.

    Raises:
        ExportUnsupported: the exporter cannot express the module.
    """
    module = copy.deepcopy(module).eval()
    with torch.no_grad():
        out = module(*args)
    names = [output_prefix] if isinstance(out, torch.Tensor) else [f"{output_prefix}{i}" for i in range(len(out))]
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic: shapes are static here
            torch.onnx.export(module, tuple(args), buf, input_names=list(input_names), output_names=names,
                              opset_version=int(opset), dynamo=False, do_constant_folding=True)
    except Exception as e:  # noqa: BLE001 - the exporter raises many kinds (SymbolicValueError, RuntimeError, ...)
        raise ExportUnsupported(f"torch.onnx.export failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                                ) from None
    return buf.getvalue(), names

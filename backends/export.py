"""ONNX export of a Siamese model's branches: the template graph, the search graph (and SiamMask's refine graph).

The split is OpenCV's NanoTrack pair's (``backbone.onnx`` + ``head.onnx``)
with the search backbone moved into the second graph, so that a frame is one
runtime call:

* template graph: exemplar crops ``z`` -> the template features ``zf0``,
  ``zf1``, ... (one per feature level; e.g. ``(N, 48, 8, 8)`` for NanoTrack
  v2, three ``(N, 256, 7, 7)`` maps for SiamRPN++ ResNet-50);
* search graph: the template features and the search crops ``x`` -> the
  head's outputs ``out0``, ``out1`` (``cls`` ``(N, 2k, S, S)`` and ``loc``
  ``(N, 4k, S, S)`` for the RPN and NanoTrack heads), or ``out``, the response
  map ``(N, 1, S, S)`` of SiamFC, computed by ``head(zf, features(x))``, the
  models' reference path. The cross-correlation stays a (grouped /
  depthwise) convolution whose weights are the template features. SiamMask's
  search graph also returns the backbone levels and the mask branch's
  correlation feature, and its refine graph maps the patches at the chosen
  cell to the 127x127 mask logits (:class:`RefineBranch`).

Crops: ``(N, 3, H, W)`` float32 (pixel values 0..255, the preset's colour
order; what ``siamtrack export`` writes), or, in the graphs the trackers run
from the graph cache, ``(N, H, W, 3)`` uint8 as cut from the frame (the
layout and dtype change are the graph's first two nodes).

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

__all__ = ["ExportUnsupported", "exportable", "is_siammask", "TemplateBranch", "SearchBranch", "RefineBranch",
           "FeatureBranch", "export_branch", "DEFAULT_OPSET",
           "EXPORT_REVISION"]

#: Changes whenever the exported graphs of the same weights would differ (keys the graph cache with them).
EXPORT_REVISION = 2

#: ONNX opset of the exported graphs (OpenVINO 2026 and ONNX Runtime 1.3x read it; OpenCV's DNN reads 17).
DEFAULT_OPSET = 17


class ExportUnsupported(Exception):
    """The model has no template / search split that this exporter knows."""


def exportable(model: nn.Module) -> bool:
    """Whether ``model`` is a backbone + neck + head :class:`~siamtrack.models.siamese.SiameseModel`
    (SiamMask included)."""
    from siamtrack.models.siamese import SiameseModel

    return isinstance(model, SiameseModel)


def is_siammask(model: nn.Module) -> bool:
    """Whether ``model`` is a :class:`~siamtrack.models.siammask.SiamMaskModel` (search graph with the
    refinement's inputs, plus a refine graph)."""
    from siamtrack.models.siammask import SiamMaskModel

    return isinstance(model, SiamMaskModel)


def _flat(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _pixels(x: torch.Tensor, u8_nhwc: bool) -> torch.Tensor:
    """Crops as the network takes them: ``(N, 3, H, W)`` float32; from ``(N, H, W, 3)`` uint8 when
    ``u8_nhwc`` (the tracker's crops as they are cut: the graph does the layout and dtype change, so a frame
    hands the runtime its crop bytes without a conversion in Python)."""
    return x.permute(0, 3, 1, 2).float() if u8_nhwc else x


class TemplateBranch(nn.Module):
    """``z -> (zf0, zf1, ...)``: the model's features of the exemplar crop, one tensor per level.

    ``z``: ``(N, 3, H, W)`` float32, or ``(N, H, W, 3)`` uint8 with ``u8_nhwc``.
    """

    def __init__(self, model: nn.Module, u8_nhwc: bool = False):
        super().__init__()
        self.model = model
        self.u8_nhwc = bool(u8_nhwc)

    def forward(self, z: torch.Tensor):
        return _flat(self.model.features(_pixels(z, self.u8_nhwc)))


class SearchBranch(nn.Module):
    """``(zf0, ..., x) -> (out0, ...)``: ``head(zf, features(x))`` with ``levels`` template tensors.

    SiamMask (:func:`is_siammask`): ``(cls, loc, f0, f1, f2, corr)``, the box branch plus what the
    refinement needs (backbone levels ``(N, 64, 125, 125)``, ``(N, 256, 63, 63)``, ``(N, 512, 31, 31)``
    and the mask branch's correlation feature ``(N, 256, 25, 25)``), see :class:`RefineBranch`.
    """

    def __init__(self, model: nn.Module, levels: int, u8_nhwc: bool = False):
        super().__init__()
        self.model = model
        self.levels = int(levels)
        self.u8_nhwc = bool(u8_nhwc)

    def forward(self, *inputs):
        zf = list(inputs[:-1]) if self.levels > 1 else inputs[0]
        x = _pixels(inputs[-1], self.u8_nhwc)
        if is_siammask(self.model):
            levels, xf = self.model._levels(x)
            cls, loc = self.model.rpn_head(zf, xf)
            corr = self.model.mask_head.correlate(self.model.mask_head.template(zf), xf)
            return (cls, loc, *levels, corr)
        return self.model.head(zf, self.model.features(x))


class RefineBranch(nn.Module):
    """SiamMask's refinement at the chosen cell: ``(p0, p1, p2, p3) -> logits (N, 127*127)``; the patches
    are cut by :meth:`~siamtrack.models.heads.mask.Refine.patches` from the search graph's outputs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, p0, p1, p2, p3):
        return self.model.refine_head.head(p0, p1, p2, p3)


class FeatureBranch(nn.Module):
    """``x -> features(x)``: a feature extractor alone (CFNet's shared branch; the correlation filter and the
    FFT correlation stay in torch). ``x`` ``(N, 3, H, W)`` float32."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.features(x)


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

"""The torch backend: a preset's ``nn.Module`` behind the interface every backend gives the trackers.

Same calls as :class:`~siamtrack.backends.graphs.GraphModel`: crops go in as the tracker cuts them,
``(N, H, W, 3)`` uint8 numpy arrays (one host -> device copy, the layout and dtype change on the device),
and the head's outputs come back as float32 numpy arrays (one device -> host copy per call). The template
state and SiamMask's search features stay on the device. ``bf16`` (CPU) and ``fp16`` (CUDA) run the
module under ``torch.autocast``; outputs are float32.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

__all__ = ["TorchModel", "AutocastFeatures"]


def _numpy(value):
    """float32 numpy copies of a tensor or of a tuple of tensors (the one device -> host copy)."""
    if isinstance(value, (tuple, list)):
        return tuple(_numpy(v) for v in value)
    return value.detach().to("cpu", torch.float32).numpy()


class TorchModel:
    """``model`` (eval mode, on ``device``) with the backends' tracker interface.

    * ``template(z)``: ``z`` ``(N, Hz, Wz, 3)`` uint8 -> the model's template state (device tensors).
    * ``track(state, x)``: ``x`` ``(N, Hx, Wx, 3)`` uint8 -> the head's outputs, float32 numpy
      (``(cls, loc)``, or SiamFC's response map ``(N, 1, S, S)``).
    * ``track_mask(state, x)`` -> ``(cls, loc, search)`` and ``refine(search, (row, col))`` -> ``(N, 127*127)``
      float32 numpy logits (SiamMask; ``search`` stays on the device).

    Args:
        model: the preset's module (``template`` / ``track`` on ``(N, 3, H, W)`` float32 tensors).
        device: its ``torch.device``.
        precision: ``fp32``, ``bf16`` (autocast, CPU) or ``fp16`` (autocast, CUDA).
    """

    def __init__(self, model: nn.Module, device, precision: str = "fp32"):
        self.model = model
        self.device = torch.device(device)
        self.precision = precision
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    def _context(self):
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.dtype is not None:
            stack.enter_context(torch.autocast(self.device.type, dtype=self.dtype))
        return stack

    def _tensor(self, crops: np.ndarray) -> torch.Tensor:
        # (N, H, W, 3) uint8 -> (N, 3, H, W) float32: one host -> device copy, a channels-last view
        t = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device, non_blocking=True)
        return t.permute(0, 3, 1, 2).float()

    def template(self, z: np.ndarray):
        with self._context():
            return self.model.template(self._tensor(z))

    def track(self, state, x: np.ndarray):
        with self._context():
            return _numpy(self.model.track(state, self._tensor(x)))

    def track_mask(self, state, x: np.ndarray):
        with self._context():
            cls, loc, search = self.model.track_mask(state, self._tensor(x))
            return _numpy(cls), _numpy(loc), search

    def refine(self, search, pos) -> np.ndarray:
        with self._context():
            return _numpy(self.model.refine(search, pos))

    def __repr__(self) -> str:
        return f"TorchModel({type(self.model).__name__}, {self.device}, {self.precision})"


class AutocastFeatures(nn.Module):
    """A feature extractor run under ``torch.autocast`` (CFNet's convolutions at bf16 / fp16 on the torch
    backend); its output back in float32 for the correlation filter."""

    def __init__(self, module: nn.Module, device_type: str, dtype):
        super().__init__()
        self.module = module
        self.device_type = device_type
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.module(x).float()

"""Backends run a preset's network for a tracker: torch, OpenVINO or ONNX Runtime.

* ``torch``: the model as a plain ``nn.Module`` (the reference path, and the
  CUDA path) behind :class:`~siamtrack.backends.torch_model.TorchModel`;
  ``bf16`` runs it under ``torch.autocast`` on the CPU, ``fp16`` under
  autocast on CUDA.
* ``openvino``, ``onnxruntime``: the template branch and the search branch
  exported to ONNX (:mod:`siamtrack.backends.export`), cached on disk keyed by
  the weights' sha256, the preset and the siamtrack version
  (:mod:`siamtrack.backends.graphs`), compiled once per process and shape.
* ``auto``: on CUDA torch; on the CPU OpenVINO when it is installed, else ONNX
  Runtime, else torch.

What runs where on a graph backend: NanoTrack, SiamRPN / DaSiamRPN /
SiamRPN++ and SiamFC run wholly in the runtime (template graph once per
target; search graph = backbone, neck and head with the cross-correlation,
one call per frame; SiamFC's 3 scales are a batch of 3). SiamMask's search
graph also returns the backbone levels and the mask correlation feature, and
a refine graph runs the refinement on the patches at the chosen cell (a
second call per frame: the cell is chosen after decoding). CFNet's
convolutions run in the runtime; its closed-form correlation filter (FFT),
the FFT correlation and the bicubic upsampling stay in torch.

Every backend gives the tracker the same interface (``template(z)`` once per
target, ``track(state, x)`` once per frame, on ``(N, H, W, 3)`` uint8 crops,
float32 numpy outputs); :class:`BackendInfo` says which one ran and at which
precision.
"""

from __future__ import annotations

from dataclasses import dataclass

from siamtrack.backends.runtimes import cpu_has_bf16, runtime_available
from siamtrack.errors import SiamtrackError

__all__ = ["BACKENDS", "PRECISIONS", "BackendInfo", "resolve_backend", "check_precision", "choose_backend"]

BACKENDS = ("auto", "torch", "openvino", "onnxruntime")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class BackendInfo:
    """Which backend runs a tracker's network, at which precision, and a notice for the user (or None)."""

    backend: str
    precision: str
    notice: str | None = None

    def __str__(self) -> str:
        return f"{self.backend} {self.precision}"


def resolve_backend(name: str, device, preset: dict) -> str:
    """The backend that runs ``preset`` for ``--backend name`` on ``device``.

    ``device``: a ``torch.device`` (only its ``type`` is read).

    Raises:
        SiamtrackError: unknown name; OpenVINO / ONNX Runtime asked for on CUDA, or not installed (the line
            names the package).
    """
    if name not in BACKENDS:
        raise SiamtrackError(f"--backend {name}: expected one of {', '.join(BACKENDS)}")
    if name == "auto":
        if device.type != "cpu":
            return "torch"
        for candidate in ("openvino", "onnxruntime"):
            if runtime_available(candidate):
                return candidate
        return "torch"
    if name == "torch":
        return name
    if device.type != "cpu":
        raise SiamtrackError(f"--backend {name}: runs on the CPU only (use --backend torch on {device})")
    if not runtime_available(name):
        raise SiamtrackError(f"--backend {name}: the Python package '{name}' is not installed (pip install {name})")
    return name


def check_precision(precision: str, backend: str, device) -> None:
    """Refuse a precision the backend cannot run natively here (no silent slowdown).

    Raises:
        SiamtrackError: unknown precision; ``bf16`` on a CPU without native bf16 or on ONNX Runtime;
            ``fp16`` anywhere but torch on CUDA.
    """
    if precision not in PRECISIONS:
        raise SiamtrackError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and not (backend == "torch" and device.type == "cuda"):
        raise SiamtrackError("--precision fp16: only with --device cuda (torch); on the CPU use fp32 or bf16")
    if precision == "bf16":
        if backend == "onnxruntime":
            raise SiamtrackError("--precision bf16: ONNX Runtime on the CPU runs fp32 only (use --backend openvino)")
        if device.type == "cpu" and not cpu_has_bf16():
            raise SiamtrackError("--precision bf16: this CPU has no native bf16 arithmetic (AVX512-BF16 / AMX): "
                                 "it would run slower than fp32")


def choose_backend(name: str, precision: str, device, preset: dict) -> str:
    """:func:`resolve_backend`, then :func:`check_precision` on the backend chosen: what runs ``preset``.

    Raises:
        SiamtrackError: see both.
    """
    chosen = resolve_backend(name, device, preset)
    check_precision(precision, chosen, device)
    return chosen

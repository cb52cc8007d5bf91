"""Backends run a preset's network for a tracker: torch, OpenVINO or ONNX Runtime.

* ``torch``: the model as a plain ``nn.Module`` (the reference path, and the
  CUDA path); ``bf16`` runs it under ``torch.autocast`` on the CPU, ``fp16``
  under autocast on CUDA.
* ``openvino``, ``onnxruntime``: the template branch and the search branch
  exported to ONNX (:mod:`siamtrack.backends.export`), cached on disk keyed by
  the weights' sha256, the preset and the siamtrack version
  (:mod:`siamtrack.backends.graphs`), compiled once per process and shape.
* ``auto``: on CUDA torch; on the CPU OpenVINO when it is installed, else ONNX
  Runtime, else torch; presets whose network has no exported form yet
  (SiamMask's refinement, CFNet's closed-form correlation filter) run on
  torch.

Every backend gives the tracker the same interface (``template(z)`` once per
target, ``track(state, x)`` once per frame); :class:`BackendInfo` says which
one ran and at which precision.
"""

from __future__ import annotations

from dataclasses import dataclass

from siamtrack.backends.runtimes import cpu_has_bf16, runtime_available
from siamtrack.errors import SiamtrackError

__all__ = ["BACKENDS", "PRECISIONS", "BackendInfo", "AutocastModel", "resolve_backend", "check_precision",
           "choose_backend", "graph_backend_supported"]

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


def graph_backend_supported(preset: dict) -> bool:
    """Whether the preset's network exports as a template graph + a search graph (the backbone + neck +
    head models: NanoTrack, SiamRPN, DaSiamRPN, SiamRPN++, SiamFC)."""
    return not preset.get("loader") and preset["model"].get("arch") != "siammask"


def resolve_backend(name: str, device, preset: dict) -> str:
    """The backend that runs ``preset`` for ``--backend name`` on ``device``.

    ``device``: a ``torch.device`` (only its ``type`` is read).

    Raises:
        SiamtrackError: unknown name; OpenVINO / ONNX Runtime asked for on CUDA, or not installed (the line
            names the package), or for a preset without an exported form.
    """
    if name not in BACKENDS:
        raise SiamtrackError(f"--backend {name}: expected one of {', '.join(BACKENDS)}")
    if name == "auto":
        if device.type != "cpu" or not graph_backend_supported(preset):
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
    if not graph_backend_supported(preset):
        raise SiamtrackError(f"--backend {name}: model '{preset['name']}' has no exported form yet "
                             f"(its mask refinement / correlation filter run on torch: --backend torch)")
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


class AutocastModel:
    """The torch model under ``torch.autocast`` (bf16 on the CPU, fp16 on CUDA); outputs back in float32.

    Same interface as the model: ``template(z)``, ``track(state, x)`` (tensors in, float32 tensors out).
    """

    def __init__(self, model, device, dtype):
        self.model = model
        self.device_type = device.type
        self.dtype = dtype

    @staticmethod
    def _float(value):
        import torch

        if isinstance(value, torch.Tensor):
            return value.float() if value.is_floating_point() else value
        if isinstance(value, (tuple, list)):
            return type(value)(AutocastModel._float(v) for v in value)
        return value

    def template(self, z):
        import torch

        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.model.template(z)

    def track(self, state, x):
        import torch

        with torch.autocast(self.device_type, dtype=self.dtype):
            return self._float(self.model.track(state, x))

    def __getattr__(self, name):  # the mask trackers' extra calls (track_mask, refine, ...) and attributes
        attr = getattr(self.model, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            import torch

            with torch.autocast(self.device_type, dtype=self.dtype):
                return self._float(attr(*args, **kwargs))

        return call

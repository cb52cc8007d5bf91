"""The maintained runtimes that run exported graphs on the CPU: OpenVINO and ONNX Runtime.

A runtime loads an ONNX file into a callable ``run(inputs) -> outputs``:
``inputs`` a dict ``name -> C-contiguous numpy array`` (uint8 crops, float32
features), ``outputs`` a list of float32 numpy arrays (owned copies) in the
graph's output order.
Threads: the runtime's intra-op thread count is fixed when a graph is loaded
(``threads``, the CLI's ``--threads``). Precision: ``fp32`` runs in float32
(OpenVINO's ``INFERENCE_PRECISION_HINT`` ``f32``: without it OpenVINO picks
bf16 on CPUs that have it); ``bf16`` is OpenVINO's ``bf16`` inference
precision (ONNX Runtime has none on CPU).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

from siamtrack.errors import SiamtrackError

__all__ = ["RUNTIMES", "runtime_available", "cpu_has_bf16", "load_graph"]

#: backend name -> the Python package it needs (what ``pip install`` takes).
RUNTIMES = {"openvino": "openvino", "onnxruntime": "onnxruntime"}

_CORE = None


def runtime_available(name: str) -> bool:
    """Whether the package of runtime ``name`` can be imported (checked without importing it)."""
    return importlib.util.find_spec(RUNTIMES[name]) is not None


def _core():
    global _CORE
    if _CORE is None:
        import openvino

        _CORE = openvino.Core()
    return _CORE


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 / AMX), as OpenVINO's CPU plugin reports it
    (``OPTIMIZATION_CAPABILITIES`` holds ``BF16``); without OpenVINO, torch's oneDNN check."""
    if runtime_available("openvino"):
        return "BF16" in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _load_openvino(path: Path, threads: int, precision: str, stem_stride: int = 0) -> Callable:
    model, hint = str(path), {"fp32": "f32", "bf16": "bf16"}[precision]
    if precision == "bf16":  # the layers bf16 would make inaccurate stay in f32 (siamtrack.backends.precision)
        from siamtrack.backends.precision import prepare_bf16

        model, hint = prepare_bf16(path, stem_stride)
    config = {"INFERENCE_NUM_THREADS": int(threads), "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
              "INFERENCE_PRECISION_HINT": hint}
    compiled = _core().compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    outputs = list(compiled.outputs)

    def run(inputs: Dict[str, np.ndarray]) -> List[np.ndarray]:
        # share_inputs: the arrays are read in place (the caller's own contiguous arrays, not kept);
        # share_outputs=False: the outputs are copies the caller owns
        result = request.infer(inputs, share_inputs=True)
        return [np.asarray(result[o]) for o in outputs]

    return run


def _load_onnxruntime(path: Path, threads: int, precision: str) -> Callable:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: warnings would add lines to the run's stderr
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(inputs: Dict[str, np.ndarray]) -> List[np.ndarray]:
        return session.run(None, inputs)

    return run


def load_graph(backend: str, path: Path, threads: int = 1, precision: str = "fp32",
               stem_stride: int = 0) -> Callable:
    """Load the ONNX graph ``path`` into ``backend`` (``openvino`` or ``onnxruntime``).

    ``stem_stride``: at bf16 on OpenVINO, the search graph's convolutions up to this output stride stay in f32
    (the preset's ``bf16_f32_stem_stride``, :mod:`siamtrack.backends.precision`).

    Returns:
        ``run(inputs) -> outputs`` (see the module docstring).

    Raises:
        SiamtrackError: the backend's package is not installed, or ``precision`` is not one it runs on the CPU.
        Exception: the runtime's own error when the file is not a valid graph (the caller rebuilds it).
    """
    if not runtime_available(backend):
        raise SiamtrackError(f"--backend {backend}: the Python package '{RUNTIMES[backend]}' is not installed "
                             f"(pip install {RUNTIMES[backend]})")
    if backend == "openvino":
        if precision not in ("fp32", "bf16"):
            raise SiamtrackError(f"--precision {precision}: OpenVINO on the CPU runs fp32 or bf16")
        return _load_openvino(path, threads, precision, stem_stride)
    if precision != "fp32":
        raise SiamtrackError(f"--precision {precision}: ONNX Runtime on the CPU runs fp32 only "
                             f"(bf16: --backend openvino)")
    return _load_onnxruntime(path, threads, precision)

"""Building a ready tracker from a preset name: model, strict weights, inference preparation."""

from __future__ import annotations

import torch

from siamtrack.errors import SiamtrackError
from siamtrack.models.checkpoint import load_strict, read_state_dict
from siamtrack.models.presets import get_preset
from siamtrack.models.registry import LOADERS
from siamtrack.models.siamese import build_model
from siamtrack.models.weights import resolve_weights
from siamtrack.tracker.registry import TRACKERS

# Registering the trackers is a side effect of importing their modules.
from siamtrack.tracker import cfnet, dasiamrpn, nanotrack, siamfc, siamrpn  # noqa: F401


def resolve_device(device: str) -> torch.device:
    """``cpu`` or ``cuda[:N]``; SiamtrackError when CUDA is asked for but not available."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise SiamtrackError(f"--device {device}: expected cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SiamtrackError(f"--device {device}: CUDA is not available (torch {torch.__version__})")
    if dev.type not in ("cpu", "cuda"):
        raise SiamtrackError(f"--device {device}: expected cpu or cuda")
    return dev


def load_weights(preset: dict, path, companions: bool = True):
    """The preset's model with the weights file ``path`` loaded (not yet prepared for inference).

    Presets with a ``loader`` key (e.g. CFNet's MatConvNet ``.mat`` files) use that entry of
    :data:`~siamtrack.models.registry.LOADERS` (``companions``: also load the files that go with
    ``path``, e.g. CFNet's grayscale network); the others build ``preset["model"]`` and load the
    PyTorch checkpoint strictly. Raises SiamtrackError for unreadable files and weights of another model.
    """
    if preset.get("loader"):
        return LOADERS.get(preset["loader"])(preset, path, companions=companions)
    model = build_model(preset["model"])
    load_strict(model, read_state_dict(path), preset["name"], str(path))
    return model


def export_model(preset: dict, path):
    """The preset's model with the weights file ``path`` loaded, in eval mode with BatchNorm folded into the
    convolutions: the form the graph backends export (:mod:`siamtrack.backends.export`). Folding in torch
    first gives the same arithmetic as OpenCV's official NanoTrack graphs (which were simplified so), so
    ``cv2.TrackerNano`` runs the exported pair to the same boxes."""
    from siamtrack.models.fuse import fold_batchnorm

    model = load_weights(preset, path).eval()
    fold_batchnorm(model)
    return model


def load_model(preset: dict, weights=None, device="cpu"):
    """Build the preset's model, load its weights strictly and prepare it for inference on ``device``.

    Raises SiamtrackError for missing weights, unreadable files and checkpoints of another model.
    """
    path = resolve_weights(preset, weights)
    model = load_weights(preset, path)
    return model.prepare_inference().to(resolve_device(device) if isinstance(device, str) else device)


def _place_features(pair, preset: dict, backend: str, precision: str, device) -> str | None:
    """Put the feature branch of each network of a CFNet pair on ``backend`` (in place): a graph backend
    runs the convolutions (one graph per network file, keyed by its sha256), torch at bf16 / fp16 runs them
    under autocast; the correlation filter, the FFT correlation and the bicubic upsampling stay in torch
    (float32). Returns the graph cache's notice (or None)."""
    from siamtrack.backends.torch_model import AutocastFeatures

    notice = None
    for kind in ("color", "gray"):
        net = getattr(pair, kind, None)
        if net is None:
            continue
        if backend == "torch":
            if precision != "fp32":
                dtype = torch.bfloat16 if precision == "bf16" else torch.float16
                net.backbone = AutocastFeatures(net.backbone, device.type, dtype)
            continue
        from siamtrack.backends.graphs import GraphFeatures, GraphModel, GraphSet

        plain = net.backbone
        graphs = GraphSet(dict(preset, name=f"{preset['name']}-{kind}"), net.source, lambda b=plain: _Features(b))
        net.backbone = GraphFeatures(graphs, GraphModel(graphs, backend, torch.get_num_threads(), precision))
        net.memory_format = torch.contiguous_format
        notice = notice or graphs.notice
    return notice


class _Features(torch.nn.Module):
    """A backbone seen as a model with ``features(x)`` (what the exporter's feature branch calls)."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone.to(memory_format=torch.contiguous_format)

    def features(self, x):
        return self.backbone(x)


def create_tracker(name: str, weights=None, device="cpu", backend: str = "auto", precision: str = "fp32"):
    """A tracker for preset ``name`` (e.g. ``nanotrack``), weights from ``weights`` or the search folders.

    Args:
        backend: ``auto`` (OpenVINO on the CPU when installed, else ONNX Runtime, else torch; torch on
            CUDA), ``torch``, ``openvino`` or ``onnxruntime``
            (:mod:`siamtrack.backends`). Graph backends use ``torch.get_num_threads()`` threads.
        precision: ``fp32`` (default, the reference's numbers), ``bf16`` (CPUs with native bf16:
            OpenVINO's bf16 inference precision, or torch autocast) or ``fp16`` (torch on CUDA).

    The tracker's ``backend`` attribute (:class:`~siamtrack.backends.BackendInfo`) says what runs.

    Raises:
        SiamtrackError: unknown preset, missing or unreadable weights, a checkpoint of another model, a
            backend that is not installed or cannot run the preset, a precision this machine lacks.
    """
    from siamtrack.backends import BackendInfo, choose_backend
    from siamtrack.backends.torch_model import TorchModel

    preset = get_preset(name)
    dev = resolve_device(device) if isinstance(device, str) else device
    chosen = choose_backend(backend, precision, dev, preset)
    notice = None
    if preset.get("loader"):  # CFNet: the tracker drives the torch model; only its convolutions move
        model = load_model(preset, weights, dev)
        notice = _place_features(model, preset, chosen, precision, dev)
    elif chosen == "torch":
        model = TorchModel(load_model(preset, weights, dev), dev, precision)
    else:
        from siamtrack.backends.graphs import GraphModel, GraphSet

        path = resolve_weights(preset, weights)
        graphs = GraphSet(preset, path, lambda: export_model(preset, path))
        if not graphs.exported_before():
            graphs.model  # noqa: B018 - load (and check) the checkpoint now: a wrong file fails before any frame
        model = GraphModel(graphs, chosen, torch.get_num_threads(), precision)
        notice = graphs.notice
    tracker = TRACKERS.get(preset["tracker"])(model, preset["track"], device=dev)
    tracker.backend = BackendInfo(chosen, precision, notice)
    return tracker

"""Exported graphs on disk (the graph cache) and the tracker-facing model that runs them.

Cache layout: ``<root>/<preset>-<sha256 of the weights, 16 hex>-<siamtrack
version>-r<export revision>-opset<K>/`` holding ``template-n<N>-<H>x<W>.onnx`` and
``search-n<N>-<H>x<W>.onnx`` (one per batch size and crop size, exported on
first use; uint8 ``(N, H, W, 3)`` crops in), SiamMask's ``refine-n<N>.onnx``,
CFNet's ``features-n<N>-<H>x<W>.onnx`` (float32 crops in) and ``meta.json`` (the sidecar: preset, weights sha256, version,
colour order, and per graph its inputs, outputs and shapes). ``<root>`` is
``$SIAMTRACK_GRAPH_CACHE``, else ``$XDG_CACHE_HOME/siamtrack/graphs``
(default ``~/.cache/siamtrack/graphs``). Each file is written atomically
(:mod:`siamtrack.runner.atomic`); a graph the runtime cannot read (stale,
truncated) is exported again; when the cache folder cannot be written the
graphs go to a temporary folder for this process and :attr:`GraphSet.notice`
says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Dict, Sequence

import numpy as np
import torch
from torch import nn

from siamtrack.backends.export import (DEFAULT_OPSET, EXPORT_REVISION, FeatureBranch, RefineBranch, SearchBranch,
                                       TemplateBranch, export_branch)
from siamtrack.backends.runtimes import load_graph
from siamtrack.errors import SiamtrackError
from siamtrack.runner.atomic import atomic_path

__all__ = ["graph_cache_root", "weights_sha256", "GraphSet", "GraphModel", "GraphFeatures"]

ENV_VAR = "SIAMTRACK_GRAPH_CACHE"
_DIGESTS: Dict[tuple, str] = {}


def graph_cache_root() -> Path:
    """``$SIAMTRACK_GRAPH_CACHE``, else ``$XDG_CACHE_HOME/siamtrack/graphs`` (``~/.cache/siamtrack/graphs``)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "siamtrack" / "graphs"


def weights_sha256(path) -> str:
    """sha256 (hex) of a weights file, remembered per (path, size, mtime) for this process."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-", delete=True)
        probe.close()
        return True
    except OSError:
        return False


class GraphSet:
    """The exported graphs of one preset with one weights file, made on first use.

    Args:
        preset: the preset dict (``name``, ``model``, ``track``, ...).
        weights: the weights file (its sha256 keys the cache folder).
        load_model: zero-argument callable returning the eval-mode torch model with the weights loaded;
            called only when a graph has to be exported.
        opset: ONNX opset.

    Attributes:
        folder: where the graphs are.
        notice: ``None``, or one line saying the cache could not be written and where the graphs went.
    """

    def __init__(self, preset: dict, weights, load_model: Callable, opset: int = DEFAULT_OPSET):
        from siamtrack import __version__

        self.preset = preset
        self.sha256 = weights_sha256(weights)
        self.version = __version__
        self.opset = int(opset)
        self._load_model = load_model
        self._model = None
        self.notice = None
        name = f"{preset['name']}-{self.sha256[:16]}-{__version__}-r{EXPORT_REVISION}-opset{self.opset}"
        root = graph_cache_root()
        self.folder = root / name
        if not _writable(self.folder):
            self.folder = Path(tempfile.mkdtemp(prefix="siamtrack-graphs-")) / name
            self.folder.mkdir(parents=True)
            self.notice = f"graph cache {root} cannot be written: graphs exported to {self.folder} for this run"

    def exported_before(self) -> bool:
        """Whether a graph of this preset was exported from these weights before (the folder is keyed by
        their sha256): the checkpoint was then loaded and checked already."""
        return any(not p.name.startswith(".") for p in self.folder.glob("*.onnx"))

    @property
    def model(self):
        if self._model is None:
            self._model = self._load_model()
        return self._model

    def _meta(self) -> dict:
        try:
            meta = json.loads((self.folder / "meta.json").read_text())
            if meta.get("weights_sha256") == self.sha256:
                return meta
        except (OSError, ValueError):
            pass
        return {"preset": self.preset["name"], "weights_sha256": self.sha256, "siamtrack": self.version,
                "opset": self.opset, "colour": str(self.preset["track"].get("colour", "bgr")).upper(),
                "pixel_range": "0..255, no mean subtracted", "graphs": {}}

    def _write(self, name: str, data: bytes, info: dict) -> None:
        with atomic_path(str(self.folder / name)) as tmp:
            Path(tmp).write_bytes(data)
        meta = self._meta()
        meta["graphs"][name] = info
        with atomic_path(str(self.folder / "meta.json")) as tmp:
            Path(tmp).write_text(json.dumps(meta, indent=1, sort_keys=True))

    def graph(self, name: str, make_module: Callable[[nn.Module], nn.Module], inputs: Sequence[tuple],
              output_prefix: str) -> Path:
        """The graph file ``<name>.onnx``, exported if missing: ``make_module(model)`` traced with zero inputs
        of ``inputs`` = ``[(input name, shape, torch dtype), ...]``, outputs named from ``output_prefix``."""
        path = self.folder / f"{name}.onnx"
        if not path.is_file():
            args = [torch.zeros(tuple(shape), dtype=dtype) for _, shape, dtype in inputs]
            data, outs = export_branch(make_module(self.model), args, [n for n, _, _ in inputs], output_prefix,
                                       self.opset)
            self._write(path.name, data, {"inputs": {n: [list(s), str(d).replace("torch.", "")]
                                                     for n, s, d in inputs}, "outputs": outs})
        return path

    def template_graph(self, z_shape: Sequence[int]) -> Path:
        """The template graph for exemplar crops ``(N, H, W, 3)`` uint8 (as cut from the frame), exported
        if missing."""
        n, h, w, _ = z_shape
        return self.graph(f"template-n{n}-{h}x{w}", lambda m: TemplateBranch(m, u8_nhwc=True),
                          [("z", z_shape, torch.uint8)], "zf")

    def search_graph(self, zf_shapes: Sequence[Sequence[int]], x_shape: Sequence[int]) -> Path:
        """The search graph for template features of ``zf_shapes`` and search crops ``x_shape``
        ``(N, H, W, 3)`` uint8, exported if missing."""
        n, h, w, _ = x_shape
        inputs = [(f"zf{i}", s, torch.float32) for i, s in enumerate(zf_shapes)] + [("x", x_shape, torch.uint8)]
        return self.graph(f"search-n{n}-{h}x{w}", lambda m: SearchBranch(m, len(zf_shapes), u8_nhwc=True),
                          inputs, "out")

    def remove(self, path: Path) -> None:
        """Forget a graph the runtime could not read (it is exported again on the next request)."""
        try:
            path.unlink()
        except OSError:
            pass


class GraphModel:
    """A model run by OpenVINO or ONNX Runtime, with the tracker-facing interface of every backend
    (:class:`~siamtrack.backends.torch_model.TorchModel` has the same).

    * ``template(z)``: ``z`` ``(N, Hz, Wz, 3)`` uint8 numpy exemplar crops (as cut from the frame, the
      preset's colour order) -> the template state, a tuple of float32 numpy arrays (the template
      features), computed once per target.
    * ``track(state, x)``: ``x`` ``(N, Hx, Wx, 3)`` uint8 search crops -> the head's outputs as float32 numpy
      arrays (``(cls, loc)``, or SiamFC's one response map), one runtime call.
    * SiamMask: ``track_mask(state, x)`` -> ``(cls, loc, search)`` (``search`` = the backbone levels and the
      correlation feature, numpy) and ``refine(search, (row, col))`` -> ``(N, 127*127)`` float32 logits, a
      second call on the patches at the chosen cell.

    Graphs are loaded (compiled) once per shape and kept for the process; torch is not called per frame
    (its thread pool would compete with the runtime's for the cores).

    Args:
        graphs: the :class:`GraphSet` to take graphs from.
        backend: ``"openvino"`` or ``"onnxruntime"``.
        threads: the runtime's intra-op threads.
        precision: ``"fp32"`` or ``"bf16"`` (OpenVINO).
    """

    def __init__(self, graphs: GraphSet, backend: str, threads: int = 1, precision: str = "fp32"):
        self.graphs = graphs
        self.backend = backend
        self.threads = int(threads)
        self.precision = precision
        self._runs: Dict[tuple, tuple] = {}

    def run(self, key: tuple, path_of: Callable[[], Path], inputs: Dict[str, np.ndarray]) -> list:
        """Run the graph of ``key`` (its file from ``path_of()``, loaded on first use) on ``inputs``
        (C-contiguous numpy arrays): its outputs, float32 numpy arrays in the graph's order."""
        run = self._runs.get(key)
        if run is None:
            path = path_of()
            stride = int(self.graphs.preset.get("bf16_f32_stem_stride", 0))
            try:
                run = load_graph(self.backend, path, self.threads, self.precision, stride)
            except SiamtrackError:
                raise
            except Exception:  # noqa: BLE001 - a stale or damaged cached graph: export it again, once
                self.graphs.remove(path)
                run = load_graph(self.backend, path_of(), self.threads, self.precision, stride)
            self._runs[key] = run
        return run(inputs)

    def template(self, z: np.ndarray):
        z = np.ascontiguousarray(z, dtype=np.uint8)
        return tuple(self.run(("template", z.shape), lambda: self.graphs.template_graph(z.shape), {"z": z}))

    def _search(self, state, x: np.ndarray) -> list:
        x = np.ascontiguousarray(x, dtype=np.uint8)
        inputs = {f"zf{i}": f for i, f in enumerate(state)}
        inputs["x"] = x
        shapes = [f.shape for f in state]
        return self.run(("search", x.shape, *shapes), lambda: self.graphs.search_graph(shapes, x.shape), inputs)

    def track(self, state, x: np.ndarray):
        outputs = self._search(state, x)
        return outputs[0] if len(outputs) == 1 else tuple(outputs[:2])

    def track_mask(self, state, x: np.ndarray):
        cls, loc, f0, f1, f2, corr = self._search(state, x)
        return cls, loc, ((f0, f1, f2), corr)

    def refine(self, search, pos) -> np.ndarray:
        from siamtrack.models.heads.mask import Refine

        levels, corr = search
        patches = Refine.patches(levels, corr, pos)
        names = ("p0", "p1", "p2", "p3")
        shapes = tuple(p.shape for p in patches)
        path_of = lambda: self.graphs.graph(f"refine-n{shapes[0][0]}", RefineBranch,  # noqa: E731
                                            [(n, s, torch.float32) for n, s in zip(names, shapes)], "logits")
        return self.run(("refine", shapes), path_of, dict(zip(names, patches)))[0]

    def __repr__(self) -> str:
        return f"GraphModel({self.graphs.preset['name']}, {self.backend}, {self.precision})"


class GraphFeatures(nn.Module):
    """A feature extractor run by a graph backend inside a torch model (CFNet: the convolutions run on the
    runtime, the correlation filter and the FFT correlation in torch). ``forward(x)``: ``(N, 3, H, W)``
    float32 CPU tensor -> the features as a float32 tensor; one graph per input shape."""

    def __init__(self, graphs: GraphSet, runner: GraphModel, name: str = "features"):
        super().__init__()
        self.graphs = graphs
        self.runner = runner
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        n, _, h, w = x.shape
        path_of = lambda: self.graphs.graph(f"{self.name}-n{n}-{h}x{w}", FeatureBranch,  # noqa: E731
                                            [("x", x.shape, torch.float32)], "f")
        return torch.from_numpy(self.runner.run((self.name, x.shape), path_of, {"x": x})[0])

"""Exported graphs on disk (the graph cache) and the tracker-facing model that runs them.

Cache layout: ``<root>/<preset>-<sha256 of the weights, 16 hex>-<siamtrack
version>-r<export revision>-opset<K>/`` holding ``template-n<N>-<H>x<W>.onnx`` and
``search-n<N>-<H>x<W>.onnx`` (one per batch size and crop size, exported on
first use) and ``meta.json`` (the sidecar: preset, weights sha256, version,
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

from siamtrack.backends.export import DEFAULT_OPSET, EXPORT_REVISION, SearchBranch, TemplateBranch, export_branch
from siamtrack.backends.runtimes import load_graph
from siamtrack.errors import SiamtrackError
from siamtrack.runner.atomic import atomic_path

__all__ = ["graph_cache_root", "weights_sha256", "GraphSet", "GraphModel"]

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

    def template_graph(self, z_shape: Sequence[int]) -> Path:
        """The template graph for exemplar crops of shape ``(N, 3, H, W)``, exported if missing."""
        n, _, h, w = z_shape
        path = self.folder / f"template-n{n}-{h}x{w}.onnx"
        if not path.is_file():
            z = torch.zeros(tuple(z_shape))
            data, outs = export_branch(TemplateBranch(self.model), [z], ["z"], "zf", self.opset)
            self._write(path.name, data, {"inputs": {"z": list(z_shape)}, "outputs": outs})
        return path

    def search_graph(self, zf_shapes: Sequence[Sequence[int]], x_shape: Sequence[int]) -> Path:
        """The search graph for template features of ``zf_shapes`` and search crops of ``x_shape``
        ``(N, 3, H, W)``, exported if missing."""
        n, _, h, w = x_shape
        path = self.folder / f"search-n{n}-{h}x{w}.onnx"
        if not path.is_file():
            zf = [torch.zeros(tuple(s)) for s in zf_shapes]
            x = torch.zeros(tuple(x_shape))
            names = [f"zf{i}" for i in range(len(zf))] + ["x"]
            data, outs = export_branch(SearchBranch(self.model, len(zf)), [*zf, x], names, "out", self.opset)
            self._write(path.name, data, {"inputs": dict(zip(names, [list(s) for s in zf_shapes] + [list(x_shape)])),
                                          "outputs": outs})
        return path

    def remove(self, path: Path) -> None:
        """Forget a graph the runtime could not read (it is exported again on the next request)."""
        try:
            path.unlink()
        except OSError:
            pass


class GraphModel:
    """A model run by OpenVINO or ONNX Runtime, with the torch model's tracker interface.

    ``template(z)``: ``z`` ``(N, 3, Hz, Wz)`` float32 torch tensor (CPU) -> the template state, a tuple of
    float32 numpy arrays (the template features, computed once per target). ``track(state, x)``: ``x``
    ``(N, 3, Hx, Wx)`` float32 -> the head's outputs as float32 torch tensors on the CPU (``(cls, loc)``, or
    the one response map of SiamFC), one runtime call. Graphs are loaded (compiled) once per shape and
    kept for the process.

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

    def _run(self, key: tuple, path_of: Callable[[], Path], inputs: Dict[str, np.ndarray]):
        """Run the graph of ``key`` (its file from ``path_of()``, loaded on first use): ``(outputs, single)``."""
        entry = self._runs.get(key)
        if entry is None:
            path = path_of()
            try:
                run = load_graph(self.backend, path, self.threads, self.precision)  # (run, output names)
            except SiamtrackError:
                raise
            except Exception:  # noqa: BLE001 - a stale or damaged cached graph: export it again, once
                self.graphs.remove(path)
                run = load_graph(self.backend, path_of(), self.threads, self.precision)
            entry = self._runs[key] = (run[0], run[1] == ["out"])
        return entry[0](inputs), entry[1]

    @staticmethod
    def _array(t: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())

    def template(self, z: torch.Tensor):
        z = self._array(z)
        outputs, _ = self._run(("template", z.shape), lambda: self.graphs.template_graph(z.shape), {"z": z})
        return tuple(outputs)

    def track(self, state, x: torch.Tensor):
        x = self._array(x)
        inputs = {f"zf{i}": f for i, f in enumerate(state)}
        inputs["x"] = x
        shapes = [f.shape for f in state]
        outputs, single = self._run(("search", x.shape, *shapes), lambda: self.graphs.search_graph(shapes, x.shape),
                                    inputs)
        tensors = tuple(torch.from_numpy(o) for o in outputs)
        return tensors[0] if single else tensors

    def __repr__(self) -> str:
        return f"GraphModel({self.graphs.preset['name']}, {self.backend}, {self.precision})"

"""pysot's own trackers (STVIR/pysot) as the speed benchmark's outside reference, loaded from a checkout.

Used only by :mod:`siamtrack.benchmarks.speed` when it is given ``--pysot DIR``: ``DIR`` is a checkout of
STVIR/pysot (e.g. ``git archive`` of d04028f into ``/work/pysot-ref``), put on ``sys.path`` when
:func:`load_pysot` is called. siamtrack never imports pysot anywhere else, ships none of its code and does not
depend on it (nor on yacs, its configuration library).

What is needed to run pysot d04028f on Python 3.11 / numpy 2 / torch 2 on the CPU, all applied here at run time
(the checkout is not modified):

1. yacs: pysot's ``pysot/core/config.py`` imports ``yacs.config.CfgNode``. When yacs is not installed a minimal
   stand-in (:class:`_ShimCfgNode`, attribute access, ``clone``, ``merge_from_file`` /
   ``merge_from_other_cfg`` with ``new_allowed``, ``freeze`` / ``defrost``) is put into ``sys.modules`` as
   ``yacs.config`` before pysot is imported. It is labelled as such in :func:`load_pysot`'s returned notes.
2. numpy 2: ``pysot/tracker/siammask_tracker.py`` calls ``np.float`` (removed in numpy 1.24). That module's
   ``np`` is replaced by a proxy of numpy that adds ``float = builtins.float`` (numpy itself is not touched).
3. OpenCV 5: ``SiamMaskTracker._mask_post_processing`` picks the ``cv2.findContours`` return form by
   ``cv2.__version__[-5] == '4'``, so on OpenCV 5 it unpacks three values (OpenCV 3's form) where OpenCV >= 4
   returns two. That module's ``cv2`` is replaced by a proxy whose ``findContours`` returns OpenCV 3's
   ``(image, contours, hierarchy)`` form (``image`` None, unused there); nothing else of cv2 changes.
4. CPU: ``cfg.CUDA = False`` (pysot's own switch: ``get_subwindow`` then keeps the crops on the CPU).
5. Weights: loaded with ``model.load_state_dict(sd, strict=True)`` instead of
   ``pysot.utils.model_load.load_pretrain``, which calls ``torch.cuda.current_device()``.

The tracker runs as ``tools/test.py`` runs it: ``ModelBuilder().eval()``, ``build_tracker(model)``,
``init(img, bbox)``, ``track(img)['bbox']``, with autograd enabled (no ``torch.no_grad``), as recorded in the
fixture manifests.
"""

from __future__ import annotations

import builtins
import copy
import sys
import types
import warnings
from pathlib import Path

import numpy as np

__all__ = ["load_pysot", "PysotTracker"]

_STATE: dict = {}


class _ShimCfgNode(dict):
    """MINIMAL STAND-IN for ``yacs.config.CfgNode`` (only used when yacs is not installed): what pysot's
    config module and this loader call. Not yacs: no type checks on merge, no deprecated/renamed keys."""

    def __init__(self, init_dict=None, key_list=None, new_allowed=False):
        super().__init__()
        object.__setattr__(self, "_new_allowed", new_allowed)
        object.__setattr__(self, "_frozen", False)
        for k, v in (init_dict or {}).items():
            self[k] = _ShimCfgNode(v) if isinstance(v, dict) and not isinstance(v, _ShimCfgNode) else v

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    def __setattr__(self, name, value):
        if self._frozen:
            raise AttributeError(f"frozen config: cannot set {name}")
        self[name] = value

    def freeze(self):
        """Make this node and its children read-only (attribute writes)."""
        object.__setattr__(self, "_frozen", True)
        for v in self.values():
            if isinstance(v, _ShimCfgNode):
                v.freeze()

    def defrost(self):
        """Undo :meth:`freeze`."""
        object.__setattr__(self, "_frozen", False)
        for v in self.values():
            if isinstance(v, _ShimCfgNode):
                v.defrost()

    def clone(self):
        """A deep copy."""
        return copy.deepcopy(self)

    def merge_from_other_cfg(self, other):
        """Merge ``other`` (a node or dict) into this node; unknown keys only where ``new_allowed``."""
        for k, v in other.items():
            if k not in self:
                if not self._new_allowed:
                    raise KeyError(f"non-existent config key: {k}")
                self[k] = _ShimCfgNode(v) if isinstance(v, dict) else copy.deepcopy(v)
            elif isinstance(self[k], _ShimCfgNode) and isinstance(v, dict):
                self[k].merge_from_other_cfg(v)
            else:
                self[k] = copy.deepcopy(v)

    def merge_from_file(self, path):
        """Merge a YAML file."""
        import yaml

        with open(path, encoding="utf-8") as f:
            self.merge_from_other_cfg(yaml.safe_load(f) or {})

    def __deepcopy__(self, memo):
        out = _ShimCfgNode(new_allowed=self._new_allowed)
        for k, v in self.items():
            dict.__setitem__(out, k, copy.deepcopy(v, memo))
        return out


def _install_yacs_shim() -> None:
    yacs = types.ModuleType("yacs")
    config = types.ModuleType("yacs.config")
    config.CfgNode = _ShimCfgNode
    config.CN = _ShimCfgNode
    yacs.config = config
    sys.modules["yacs"], sys.modules["yacs.config"] = yacs, config


class _NumpyCompat(types.ModuleType):
    """numpy with the alias ``float`` that numpy 2 removed (``np.float`` = Python's ``float``)."""

    float = builtins.float

    def __getattr__(self, name):
        return getattr(np, name)


class _Cv2Compat(types.ModuleType):
    """cv2 whose ``findContours`` returns OpenCV 3's three values ``(None, contours, hierarchy)``."""

    def __getattr__(self, name):
        import cv2

        return getattr(cv2, name)

    @staticmethod
    def findContours(*args, **kwargs):  # noqa: N802 - cv2's name
        import cv2

        out = cv2.findContours(*args, **kwargs)
        return out if len(out) == 3 else (None, *out)


def load_pysot(pysot_dir) -> dict:
    """Import pysot from the checkout ``pysot_dir`` (once per process) and apply the run-time compatibility
    fixes of this module's docstring.

    Returns:
        ``{"dir", "commit", "notes"}``: the checkout, its commit when known, and one line per fix applied.

    Raises:
        FileNotFoundError: ``pysot_dir`` has no ``pysot/core/config.py``.
    """
    if _STATE:
        return _STATE["info"]
    root = Path(pysot_dir).resolve()
    if not (root / "pysot" / "core" / "config.py").is_file():
        raise FileNotFoundError(f"--pysot {pysot_dir}: not a checkout of STVIR/pysot (no pysot/core/config.py)")
    notes = []
    try:
        import yacs.config  # noqa: F401

        try:
            from importlib.metadata import version

            found = f"yacs {version('yacs')}"
        except Exception:  # noqa: BLE001 - importable without metadata
            found = "yacs"
        notes.append(f"{found} installed (not a siamtrack dependency)")
    except ImportError:
        _install_yacs_shim()
        notes.append("yacs not installed: MINIMAL yacs.config.CfgNode SHIM of siamtrack.benchmarks.pysot_reference")
    sys.path.insert(0, str(root))
    from pysot.core.config import cfg
    from pysot.models.model_builder import ModelBuilder
    from pysot.tracker import siammask_tracker
    from pysot.tracker.tracker_builder import build_tracker

    siammask_tracker.np = _NumpyCompat("numpy")
    siammask_tracker.cv2 = _Cv2Compat("cv2")
    notes.append("pysot/tracker/siammask_tracker.py: np.float (numpy<1.24) -> float via a numpy proxy; "
                 "cv2.findContours in OpenCV 3's 3-value form via a cv2 proxy (its version test misses OpenCV 5)")
    # pysot's F.upsample deprecation warnings and, with synthetic weights, np.exp overflows in its box decoding
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pysot\.")
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"pysot\.")
    notes.append("cfg.CUDA = False; weights via load_state_dict(strict=True), not load_pretrain (CUDA only)")
    commit = None
    for candidate in (root / "COMMIT", root / ".git" / "HEAD"):
        if candidate.is_file():
            commit = candidate.read_text().strip()
            break
    info = {"dir": str(root), "commit": commit, "notes": notes}
    _STATE.update(cfg=cfg, defaults=cfg.clone(), ModelBuilder=ModelBuilder, build_tracker=build_tracker,
                  info=info)
    return info


def _set_config(config: dict | None, config_file: str | None) -> None:
    cfg = _STATE["cfg"]
    cfg.defrost()
    for key, value in _STATE["defaults"].items():  # back to pysot's defaults (new_allowed KWARGS emptied)
        cfg[key] = copy.deepcopy(value)
    if config_file:
        cfg.merge_from_file(config_file)
    if config:
        cfg.merge_from_other_cfg(type(cfg)(copy.deepcopy(config)))
    cfg.CUDA = False


class PysotTracker:
    """One pysot tracker (``build_tracker(ModelBuilder())``) with the given weights, behind siamtrack's
    ``init(frame, box)`` / ``update(frame).box`` interface.

    ``config``: a full pysot configuration dict (a fixture manifest's ``config``) and/or ``config_file``: an
    experiment's ``config.yaml`` (merged first). pysot's configuration is one global object: only one
    configuration is live at a time, so build and run the trackers of one configuration before the next.
    """

    def __init__(self, pysot_dir, state_dict: dict, config: dict | None = None, config_file: str | None = None):
        load_pysot(pysot_dir)
        _set_config(config, config_file)
        model = _STATE["ModelBuilder"]()
        model.load_state_dict(state_dict, strict=True)
        self.model = model.eval()
        self.tracker = _STATE["build_tracker"](self.model)

    def init(self, frame, box) -> None:
        """pysot ``init(img, bbox)`` with a 0-based ``[x, y, w, h]`` box."""
        self.tracker.init(frame, [float(v) for v in box])

    def update(self, frame):
        """pysot ``track(img)``; returns an object whose ``box`` is the ``[x, y, w, h]`` pysot returned."""
        out = self.tracker.track(frame)
        return types.SimpleNamespace(box=np.asarray(out["bbox"], dtype=np.float64))

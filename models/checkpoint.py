"""Reading official checkpoints safely and loading them with strict key matching.

Checkpoints are read with ``torch.load(weights_only=True)``: no arbitrary
object is unpickled. The only non-tensor globals allowed are numpy scalars and
dtypes, which training scripts store in optimizer state (NanoTrack's
``{'epoch', 'state_dict', 'optimizer'}`` files hold a ``numpy.float64``
learning rate; see ``../shared/weights/README.md``). A file torch refuses to
unpickle so (whatever the kind of refusal) is reported as ``FILE: refused to
load, the file holds objects other than weights (posix.system)``, naming the
globals its pickle would import (read from its opcodes with :mod:`pickletools`,
nothing executed); torch's advice to re-run with ``weights_only=False`` is
never passed on.

Accepted layouts (pysot ``pysot/utils/model_load.py`` ``load_pretrain``):
a raw state dict, or a dict wrapping it under ``state_dict`` / ``model``;
keys may carry the ``module.`` prefix of ``nn.DataParallel``. Files of
PyTorch < 0.4 (DaSiamRPN's ``.model``: a raw state dict in the legacy,
non-zip format) lack BatchNorm ``num_batches_tracked``; :func:`load_strict`
fills those in with 0, as PyTorch's BatchNorm does for such files.
"""

from __future__ import annotations

import os
import pickle
import warnings
from typing import Dict

import torch
from torch import nn

from siamtrack.errors import SiamtrackError, missing_path_error
from siamtrack.models.refusal import SAFE_LOADER_ADVICE, numpy_safe_globals, refusal_error

__all__ = ["read_state_dict", "load_strict"]


def read_state_dict(path: str | os.PathLike) -> Dict[str, torch.Tensor]:
    """Read a checkpoint file and return its state dict (CPU tensors, ``module.`` stripped).

    Raises:
        SiamtrackError: the file is missing (``<path>: no such file or folder``), is
            not a PyTorch checkpoint, holds objects other than tensors / plain
            containers / numpy scalars (refused, never unpickled:
            ``<path>: refused to load, the file holds objects other than weights
            (posix.system)``, naming the globals it would import), is a
            TorchScript archive, or holds no state dict.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise SiamtrackError(f"{path}: is a folder, not a checkpoint file")
    if not os.path.isfile(path):
        raise missing_path_error(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError as e:
        raise SiamtrackError(f"{path}: cannot read ({e.strerror or e})") from None
    if not head:
        raise SiamtrackError(f"{path}: empty file, not a PyTorch checkpoint")
    # torch.save writes a zip archive ("PK"); the legacy format is a pickle (first byte 0x80 = PROTO)
    if head != b"PK" and head[:1] != b"\x80":
        raise SiamtrackError(f"{path}: not a PyTorch checkpoint (neither a zip archive nor a pickle)")
    try:
        with torch.serialization.safe_globals(numpy_safe_globals()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": one stderr line is the rule
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # every refusal of the weights_only unpickler, whatever its kind
        raise refusal_error(path, str(e)) from None
    except Exception as e:  # torch's legacy unpickler raises IndexError, KeyError, struct.error, ... on garbage
        if "TorchScript" in str(e):
            raise SiamtrackError(f"{path}: refused to load, the file is a TorchScript archive "
                                 f"(a program, not only weights)") from None
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if any(a in first for a in SAFE_LOADER_ADVICE):  # never pass torch's advice to load unsafely on
            first = type(e).__name__
        raise SiamtrackError(f"{path}: not a readable PyTorch checkpoint ({first})") from None
    for wrapper in ("state_dict", "model", "net"):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(wrapper), dict):
            ckpt = ckpt[wrapper]
            break
    if not isinstance(ckpt, dict) or not ckpt or not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise SiamtrackError(f"{path}: no state dict of tensors found in the checkpoint")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in ckpt.items()}


def _few(keys, n: int = 3) -> str:
    keys = sorted(keys)
    more = f", ... {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_strict(model: nn.Module, state_dict: Dict[str, torch.Tensor], model_name: str, path: str = "checkpoint") -> None:
    """Load ``state_dict`` into ``model`` requiring exactly the same keys and shapes.

    Raises:
        SiamtrackError: one line naming ``path``, ``model_name`` and a few of the
            missing / unexpected / mis-shaped keys (a checkpoint of another model).
    """
    own = model.state_dict()
    # Checkpoints saved by PyTorch < 0.4 (DaSiamRPN's .model files) have no BatchNorm ``num_batches_tracked``
    # counters; PyTorch's BatchNorm fills them in with 0 for such files, so their absence is no mismatch.
    absent_counters = {k for k in set(own) - set(state_dict) if k.rpartition(".")[2] == "num_batches_tracked"}
    if absent_counters:
        state_dict = dict(state_dict, **{k: torch.zeros_like(own[k]) for k in absent_counters})
    missing = set(own) - set(state_dict)
    unexpected = set(state_dict) - set(own)
    shapes = {k for k in set(own) & set(state_dict) if tuple(own[k].shape) != tuple(state_dict[k].shape)}
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({_few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({_few(unexpected)})")
        if shapes:
            k = sorted(shapes)[0]
            parts.append(f"{len(shapes)} keys of other shapes ({k}: {tuple(state_dict[k].shape)} "
                         f"instead of {tuple(own[k].shape)})")
        raise SiamtrackError(f"{path}: not a checkpoint of model '{model_name}': " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)

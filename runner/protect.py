"""Inputs are never written: every output path is checked against every input before any work starts.

An output is refused (:class:`~siamtrack.errors.SiamtrackError`, exit 2)
when it *is* an input or *lies inside* an input folder, and two outputs are
refused when they are the same path or one lies inside the other. Paths are
compared resolved, not as strings: ``..`` and symbolic links are followed
(``os.path.realpath``, also for outputs that do not exist yet), and existing
files and folders are also compared by device and inode
(``os.path.samefile``), which catches hard links and bind mounts.
"""

from __future__ import annotations

import os
from typing import Iterable, Optional, Sequence, Tuple

from siamtrack.errors import SiamtrackError

__all__ = ["Role", "check_outputs"]

#: ``(label, path)``: the label names the path in messages (``"--output"``, ``"the input video"``, ...);
#: roles whose path is ``None`` are skipped.
Role = Tuple[str, Optional[str]]


def _resolve(path) -> str:
    return os.path.realpath(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def _inside(child: str, folder: str) -> bool:
    """Whether resolved ``child`` lies (strictly) inside resolved ``folder``: an ancestor of ``child`` is
    ``folder`` by path or by inode."""
    if child != folder and os.path.commonpath([child, folder]) == folder:
        return True
    if not os.path.isdir(folder):
        return False
    anc = child
    while True:
        parent = os.path.dirname(anc)
        if parent == anc:
            return False
        anc = parent
        if _same(anc, folder):
            return True


def check_outputs(outputs: Iterable[Role], inputs: Iterable[Role]) -> None:
    """Refuse outputs that are, or lie inside, an input, and outputs that collide with each other.

    Args:
        outputs: ``(option, path)`` of each output file or folder, e.g. ``("--output", "out.mp4")``.
        inputs: ``(description, path)`` of each input, e.g. ``("the input video", "clip.avi")``,
            ``("the weights file", "w.pth")``, ``("the dataset root", "otb/")``.

    Raises:
        SiamtrackError: one line, e.g. ``"--output clip.avi: is the input video clip.avi (an output never
            replaces an input)"``, ``"--save-boxes seq/b.txt: lies inside the input folder seq"``,
            ``"--save-boxes a.avi: is also the --output path"``.
    """
    outs: Sequence[Tuple[str, str, str]] = [(label, os.fspath(p), _resolve(p)) for label, p in outputs
                                            if p is not None]
    ins = [(label, os.fspath(p), _resolve(p)) for label, p in inputs if p is not None]
    for label, path, real in outs:
        for what, ipath, ireal in ins:
            if _same(real, ireal):
                raise SiamtrackError(f"{label} {path}: is {what} {ipath} (an output never replaces an input)")
            if _inside(real, ireal):
                raise SiamtrackError(f"{label} {path}: lies inside {what} {ipath} (outputs are never written "
                                     f"into an input)")
    for i, (label, path, real) in enumerate(outs):
        for olabel, opath, oreal in outs[i + 1:]:
            if _same(real, oreal):
                raise SiamtrackError(f"{olabel} {opath}: is also the {label} path")
            if _inside(oreal, real):
                raise SiamtrackError(f"{olabel} {opath}: lies inside the {label} folder {path}")
            if _inside(real, oreal):
                raise SiamtrackError(f"{label} {path}: lies inside the {olabel} folder {opath}")

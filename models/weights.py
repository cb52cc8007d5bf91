"""Finding a preset's weights file: ``--weights``, then ``$SIAMTRACK_WEIGHTS``, then the user cache.

The cache folder is ``$XDG_CACHE_HOME/siamtrack/weights`` (default
``~/.cache/siamtrack/weights``); ``siamtrack weights import`` fills it.
Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from siamtrack.errors import SiamtrackError, missing_path_error

ENV_VAR = "SIAMTRACK_WEIGHTS"


def cache_dir() -> Path:
    """The user cache folder for weights (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "siamtrack" / "weights"


def search_dirs() -> list:
    """Folders searched for a weights file, in order: ``$SIAMTRACK_WEIGHTS`` (if set), the cache."""
    dirs = []
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]))
    dirs.append(cache_dir())
    return dirs


def resolve_weights(preset: dict, weights: str | os.PathLike | None = None) -> Path:
    """Path of the weights file for ``preset``.

    Raises:
        SiamtrackError: ``weights`` given but missing (``<path>: no such file or
            folder``, :func:`~siamtrack.errors.missing_path_error`); or not given and the
            preset's file is in none of the search folders (the message names
            the file expected, the folders searched and where it is published).
    """
    if weights is not None:
        p = Path(weights)
        if not p.is_file():
            raise missing_path_error(str(p))
        return p
    name = preset["weights"]["file"]
    for d in search_dirs():
        if (d / name).is_file():
            return d / name
    where = " or ".join(str(d) for d in search_dirs())
    raise SiamtrackError(
        f"weights for model '{preset['name']}' not found: expected {name} in {where} "
        f"(set --weights or ${ENV_VAR}; published at {preset['weights']['url']})"
    )


def cache_file_name(preset: dict, path: str | os.PathLike) -> str:
    """Name under which ``siamtrack weights import`` stores ``path`` for ``preset``: the preset's weights
    file, or its ``gray_file`` (CFNet's grayscale network) for a file of that name or named ``*gray*``."""
    info = preset["weights"]
    name = Path(path).name
    if info.get("gray_file") and (name == info["gray_file"] or "gray" in name.lower()):
        return info["gray_file"]
    return info["file"]

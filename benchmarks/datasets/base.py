"""What every dataset loader returns: :class:`Sequence` and :class:`Dataset`, and shared parsing helpers.

Loaders read a local folder only (nothing is downloaded). Every problem is a
:class:`~siamtrack.errors.SiamtrackError` whose one-line message names the
dataset, the sequence and the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from siamtrack.errors import SiamtrackError
from siamtrack.runner.sources import IMAGE_EXTENSIONS, natural_key

__all__ = ["Sequence", "Dataset", "list_images", "read_rows", "read_labels", "image_size", "check_init_box"]


@dataclass
class Sequence:
    """One sequence of a benchmark.

    Attributes:
        name: the benchmark's sequence name (also the result-file name).
        frames: image paths in frame order (N).
        groundtruth: ``(N, 4)`` boxes ``[x, y, w, h]`` or ``(N, 2K)`` polygons
            (VOT), float64, in the benchmark's own pixel convention; rows of
            ``nan`` mark frames without a target. GOT-10k test: ``(1, 4)``.
        init_box: ``[x, y, w, h]`` the tracker is started with on frame 0.
        tags: VOT per-frame attributes, name -> ``(N,)`` bool.
        cover: GOT-10k visible ratio labels ``(N,)`` (0 = absent); ``None`` elsewhere.
        masks: DAVIS annotation PNG paths (N); ``None`` elsewhere.
        size: ``(W, H)`` image size in pixels when known from metadata, else
            ``None`` (see :func:`image_size`).
    """

    name: str
    frames: list
    groundtruth: np.ndarray
    init_box: np.ndarray
    tags: dict = field(default_factory=dict)
    cover: np.ndarray | None = None
    masks: list | None = None
    size: tuple | None = None

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class Dataset:
    """A loaded benchmark.

    Attributes:
        name: the ``--dataset`` name (``otb``, ``vot2018``, ...).
        kind: ``otb``, ``vot``, ``got10k`` or ``davis`` (selects protocol, measures, result layout).
        result_name: folder of its results under the results directory
            (``OTB2015``, ``VOT2018``, ``GOT-10k``, ``DAVIS2016``, ...).
        root: the folder it was read from.
        sequences: the sequences, in benchmark order.
        year: VOT year (EAO range), else ``None``.
        scored: ``False`` when the ground truth is withheld (GOT-10k test).
    """

    name: str
    kind: str
    result_name: str
    root: str
    sequences: list
    year: int | None = None
    scored: bool = True


def list_images(folder: str) -> list[str]:
    """Image files directly in ``folder``, naturally sorted (``2.jpg`` before ``10.jpg``); [] when none."""
    try:
        names = [e.name for e in os.scandir(folder)
                 if not e.name.startswith(".") and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS]
    except OSError:
        return []
    names.sort(key=lambda n: (natural_key(n), n))
    return [os.path.join(folder, n) for n in names]


def read_rows(path: str, what: str, widths=(4,)) -> np.ndarray:
    """Numbers of a text file, one row per non-empty line (comma, tab or space separated; ``nan`` allowed).

    Args:
        path: the file.
        what: name used in error messages (e.g. ``"otb sequence Crossing"``).
        widths: allowed numbers per row; every row must have the same count.

    Returns:
        ``(N, K)`` float64.

    Raises:
        SiamtrackError: missing / unreadable file, a bad number, a row of
            another width, no rows.
    """
    rows = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                text = line.strip()
                if not text:
                    continue
                try:
                    row = [float(v) for v in text.replace(",", " ").replace("\t", " ").split()]
                except ValueError:
                    raise SiamtrackError(f"{what}: {path} line {lineno}: not a list of numbers: "
                                         f"{text[:40]!r}") from None
                if len(row) not in widths:
                    raise SiamtrackError(f"{what}: {path} line {lineno}: {len(row)} numbers, expected "
                                         f"{' or '.join(str(w) for w in widths)}")
                if rows and len(row) != len(rows[0]):
                    raise SiamtrackError(f"{what}: {path} line {lineno}: {len(row)} numbers where line 1 "
                                         f"has {len(rows[0])}")
                rows.append(row)
    except FileNotFoundError:
        raise SiamtrackError(f"{what}: {path} not found") from None
    except OSError as e:
        raise SiamtrackError(f"{what}: cannot read {path} ({e.strerror or e})") from None
    if not rows:
        raise SiamtrackError(f"{what}: {path} is empty")
    return np.array(rows, dtype=np.float64)


def read_labels(path: str, what: str, n: int) -> np.ndarray:
    """Per-frame label file (one number a line) as ``(n,)`` float64, zero-padded when shorter.

    VOT tag files may stop before the last frame (got10k ``VOT._fetch_meta``
    pads them with zeros). Raises SiamtrackError for a longer or malformed file.
    """
    vals = read_rows(path, what, widths=(1,))[:, 0] if os.path.getsize(path) > 0 else np.zeros(0)
    if len(vals) > n:
        raise SiamtrackError(f"{what}: {path} has {len(vals)} lines for {n} frames")
    return np.pad(vals, (0, n - len(vals)))


def image_size(seq: Sequence) -> tuple[int, int]:
    """``(W, H)`` of the sequence's frames: ``seq.size`` or the first image's header (read once).

    Raises:
        SiamtrackError: the first frame cannot be read.
    """
    if seq.size is None:
        from PIL import Image

        try:
            with Image.open(seq.frames[0]) as im:
                seq.size = (int(im.size[0]), int(im.size[1]))
        except (OSError, ValueError) as e:
            raise SiamtrackError(f"sequence {seq.name}: cannot read {seq.frames[0]} ({e})") from None
    return seq.size


def check_init_box(box, what: str) -> np.ndarray:
    """The first ground-truth box as float64; SiamtrackError unless 4 finite numbers with positive size."""
    b = np.asarray(box, dtype=np.float64).ravel()
    if b.size != 4 or not np.all(np.isfinite(b)) or b[2] <= 0 or b[3] <= 0:
        raise SiamtrackError(f"{what}: first ground-truth box {b.tolist()} is not a valid x,y,w,h box")
    return b

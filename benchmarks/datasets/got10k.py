"""GOT-10k ``val`` / ``test`` subsets: ``<root>/<subset>/list.txt`` + ``<root>/<subset>/<seq>/``.

A sequence folder holds ``00000001.jpg ...``, ``groundtruth.txt`` (``x,y,w,h``
per frame; the test subset gives only the first frame's), and for ``val``
``absence.label`` and ``cover.label`` (one number per frame; cover 0 = target
absent or fully occluded) and optionally ``meta_info.ini`` (``resolution:
(W, H)``). ``root`` may also be the subset folder itself.

Sequences, frames and boxes are read with got10k's own
``got10k.datasets.GOT10k`` (offline); the labels, the checks and the error
messages are ours. Boxes are used as they are (got10k convention).
"""

from __future__ import annotations

import ast
import contextlib
import io
import os

import numpy as np

from siamtrack.benchmarks.datasets.base import Dataset, Sequence, check_init_box, read_labels
from siamtrack.errors import SiamtrackError

__all__ = ["load_got10k"]


def _resolution(folder: str):
    meta = os.path.join(folder, "meta_info.ini")
    if not os.path.isfile(meta):
        return None
    with open(meta, encoding="utf-8", errors="replace") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == "resolution":
                try:
                    w, h = ast.literal_eval(value.strip())
                    return int(w), int(h)
                except (ValueError, SyntaxError, TypeError):
                    raise SiamtrackError(f"{meta}: bad resolution entry {value.strip()!r}") from None
    return None


def load_got10k(root: str, subset: str = "val") -> Dataset:
    """Read the GOT-10k ``subset`` (``val`` or ``test``) under ``root``.

    Raises:
        SiamtrackError: no ``list.txt``, a listed sequence missing, no images,
            a malformed ground truth, label files of the wrong length, or a
            ``val`` ground truth that does not cover every frame.
    """
    from got10k.datasets import GOT10k

    what = f"got10k-{subset}"
    if subset not in ("val", "test"):
        raise SiamtrackError(f"GOT-10k subset {subset!r}: expected val or test")
    root = os.path.normpath(root)
    if os.path.isfile(os.path.join(root, subset, "list.txt")):
        base = root
    elif os.path.isfile(os.path.join(root, "list.txt")) and os.path.basename(root) == subset:
        base = os.path.dirname(root)
    else:
        raise SiamtrackError(f"{what}: {os.path.join(root, subset, 'list.txt')} not found")
    list_file = os.path.join(base, subset, "list.txt")
    with open(list_file, encoding="utf-8", errors="replace") as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise SiamtrackError(f"{what}: {list_file} is empty")
    for n in names:
        if not os.path.isdir(os.path.join(base, subset, n)):
            raise SiamtrackError(f"{what} sequence {n}: folder {os.path.join(base, subset, n)} not found")
    with contextlib.redirect_stdout(io.StringIO()):
        ds = GOT10k(base, subset=subset)
    sequences = []
    for i, name in enumerate(ds.seq_names):
        label = f"{what} sequence {name}"
        folder = ds.seq_dirs[i]
        if not os.path.isfile(ds.anno_files[i]):
            raise SiamtrackError(f"{label}: {ds.anno_files[i]} not found")
        try:
            frames, gt = ds[i]
        except (AssertionError, ValueError, IndexError) as e:
            detail = str(e) or "ground truth and frames do not match"
            raise SiamtrackError(f"{label}: cannot read {folder} ({detail})") from None
        frames = list(frames)
        gt = np.atleast_2d(np.asarray(gt, dtype=np.float64))
        if not frames:
            raise SiamtrackError(f"{label}: no .jpg images in {folder}")
        if gt.shape[1] != 4:
            raise SiamtrackError(f"{label}: {ds.anno_files[i]} has {gt.shape[1]} numbers a line, expected 4")
        if subset == "val" and len(gt) != len(frames):
            raise SiamtrackError(f"{label}: {len(frames)} images but {len(gt)} ground-truth lines")
        cover = None
        if subset == "val":
            cover_file = os.path.join(folder, "cover.label")
            absence_file = os.path.join(folder, "absence.label")
            if os.path.isfile(cover_file):
                cover = read_labels(cover_file, label, len(frames))
            elif os.path.isfile(absence_file):
                cover = (read_labels(absence_file, label, len(frames)) == 0).astype(np.float64)
            else:
                raise SiamtrackError(f"{label}: neither cover.label nor absence.label in {folder}")
        sequences.append(Sequence(name=name, frames=frames, groundtruth=gt,
                                  init_box=check_init_box(gt[0], f"{label} ({ds.anno_files[i]})"),
                                  cover=cover, size=_resolution(folder)))
    return Dataset(name=what, kind="got10k", result_name="GOT-10k", root=root, sequences=sequences,
                   scored=subset == "val")

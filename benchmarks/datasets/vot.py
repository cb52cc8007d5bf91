"""VOT short-term sequences (VOT2016 / 2017 / 2018 and their predecessors' layouts).

``<root>/list.txt`` names the sequences (without it: every sub-folder that has
a ``groundtruth.txt``, sorted). A sequence folder is either

* the VOT2017+ layout: a ``sequence`` metadata file whose
  ``channels.color=color/%08d.jpg`` gives the frames' folder, ``*.tag`` files;
* the older flat layout: ``%08d.jpg`` beside ``groundtruth.txt``, ``*.label`` files.

Ground truth: one region per line, 4 numbers (``x,y,w,h``) or a 4-corner
polygon of 8 numbers (VOT 2014-2018). Tags / labels: one 0/1 per
line and frame, zero-padded when shorter (got10k ``VOT._fetch_meta``);
``practical.*`` files are not tags. The tracker's initial box is the
area-preserving axis-aligned box of the region
(:func:`siamtrack.boxes.axis_aligned_init_box`, pysot ``tools/test.py``).

The year only selects the EAO length range; the sequences are the folder's.
got10k's ``VOT`` loader is not used: it reads neither the ``color/`` layout
nor, under numpy 2, its experiment code (``np.NaN``).
"""

from __future__ import annotations

import glob
import os

import numpy as np

from siamtrack.benchmarks.datasets.base import Dataset, Sequence, list_images, read_labels, read_rows
from siamtrack.boxes import axis_aligned_init_box
from siamtrack.errors import SiamtrackError

__all__ = ["load_vot", "VOT_YEARS"]

VOT_YEARS = (2016, 2017, 2018)


def _frame_folder(folder: str, what: str) -> str:
    meta = os.path.join(folder, "sequence")
    if os.path.isfile(meta):
        with open(meta, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "channels.color":
                    return os.path.join(folder, os.path.dirname(value.strip()))
        raise SiamtrackError(f"{what}: {meta} has no channels.color entry")
    if os.path.isdir(os.path.join(folder, "color")):
        return os.path.join(folder, "color")
    return folder


def _sequence(root: str, name: str, what: str) -> Sequence:
    folder = os.path.join(root, name)
    label = f"{what} sequence {name}"
    if not os.path.isdir(folder):
        raise SiamtrackError(f"{label}: folder {folder} not found")
    frames_dir = _frame_folder(folder, label)
    frames = list_images(frames_dir)
    if not frames:
        raise SiamtrackError(f"{label}: no images in {frames_dir}")
    gt_file = os.path.join(folder, "groundtruth.txt")
    gt = read_rows(gt_file, label, widths=(4, 8))
    if len(frames) != len(gt):
        raise SiamtrackError(f"{label}: {len(frames)} images in {frames_dir} but {len(gt)} ground-truth lines")
    if not np.all(np.isfinite(gt[0])):
        raise SiamtrackError(f"{label}: {gt_file} line 1 has no region to start from")
    tags = {}
    for f in sorted(glob.glob(os.path.join(glob.escape(folder), "*.tag")) +
                    glob.glob(os.path.join(glob.escape(folder), "*.label"))):
        tags[os.path.splitext(os.path.basename(f))[0]] = read_labels(f, label, len(gt)) > 0
    return Sequence(name=name, frames=frames, groundtruth=gt, init_box=axis_aligned_init_box(gt[0]), tags=tags)


def load_vot(root: str, year: int) -> Dataset:
    """Read the VOT sequences under ``root`` for the ``year``'s protocol (2016, 2017 or 2018).

    Raises:
        SiamtrackError: ``root`` missing or without sequences, a listed
            sequence missing, no images, a malformed or mismatched ground
            truth or tag file.
    """
    what = f"vot{year}"
    if year not in VOT_YEARS:
        raise SiamtrackError(f"VOT year {year}: expected one of {', '.join(map(str, VOT_YEARS))}")
    if not os.path.isdir(root):
        raise SiamtrackError(f"{what}: dataset folder {root} not found")
    list_file = os.path.join(root, "list.txt")
    if os.path.isfile(list_file):
        with open(list_file, encoding="utf-8", errors="replace") as f:
            names = [line.strip() for line in f if line.strip()]
        if not names:
            raise SiamtrackError(f"{what}: {list_file} is empty")
    else:
        names = sorted(e.name for e in os.scandir(root)
                       if e.is_dir() and os.path.isfile(os.path.join(e.path, "groundtruth.txt")))
        if not names:
            raise SiamtrackError(f"{what}: no list.txt and no sequence folders with groundtruth.txt in {root}")
    return Dataset(name=what, kind="vot", result_name=f"VOT{year}", root=root,
                   sequences=[_sequence(root, n, what) for n in names], year=year)

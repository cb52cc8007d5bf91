"""DAVIS-2016 (single object): ``<root>/JPEGImages/480p/<seq>/00000.jpg`` + ``<root>/Annotations/480p/<seq>/00000.png``.

The sequences are those of ``ImageSets/2016/val.txt`` (DAVIS-2017 release
layout) or ``ImageSets/480p/val.txt`` (DAVIS-2016 release: image / mask path
pairs), else every folder of ``Annotations/480p``. Masks are 0 / 255 (any
nonzero pixel is the object). The tracker starts from the bounding box of
the first mask, ``cv2.boundingRect`` as ``[x, y, w, h]`` (0-based pixels),
as SiamMask's ``tools/test.py`` (``track_vos``) does.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from siamtrack.benchmarks.datasets.base import Dataset, Sequence, list_images
from siamtrack.errors import SiamtrackError

__all__ = ["load_davis", "read_mask"]


def read_mask(path: str) -> np.ndarray:
    """A DAVIS annotation as an ``(H, W)`` bool mask (nonzero = object); SiamtrackError when unreadable."""
    data = np.fromfile(path, dtype=np.uint8) if os.path.isfile(path) else np.zeros(0, np.uint8)
    mask = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if mask is None:
        raise SiamtrackError(f"{path}: cannot read mask")
    return mask > 0


def _names(root: str, res: str) -> list[str]:
    sets = os.path.join(root, "ImageSets")
    list_2016 = os.path.join(sets, "2016", "val.txt")
    list_480 = os.path.join(sets, res, "val.txt")
    if os.path.isfile(list_2016):
        with open(list_2016, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    if os.path.isfile(list_480):
        names = []
        with open(list_480, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if parts:
                    n = os.path.basename(os.path.dirname(parts[0]))
                    if n not in names:
                        names.append(n)
        return names
    ann = os.path.join(root, "Annotations", res)
    if not os.path.isdir(ann):
        raise SiamtrackError(f"davis2016: {ann} not found")
    return sorted(e.name for e in os.scandir(ann) if e.is_dir() and not e.name.startswith("."))


def load_davis(root: str, resolution: str = "480p") -> Dataset:
    """Read the DAVIS-2016 sequences under ``root``.

    Raises:
        SiamtrackError: folders missing, no images, masks missing or not one
            per frame, an empty first mask.
    """
    if not os.path.isdir(root):
        raise SiamtrackError(f"davis2016: dataset folder {root} not found")
    names = _names(root, resolution)
    if not names:
        raise SiamtrackError(f"davis2016: no sequences in {os.path.join(root, 'Annotations', resolution)}")
    sequences = []
    for name in names:
        label = f"davis2016 sequence {name}"
        img_dir = os.path.join(root, "JPEGImages", resolution, name)
        ann_dir = os.path.join(root, "Annotations", resolution, name)
        frames = list_images(img_dir)
        masks = list_images(ann_dir)
        if not frames:
            raise SiamtrackError(f"{label}: no images in {img_dir}")
        if len(masks) != len(frames):
            raise SiamtrackError(f"{label}: {len(frames)} images in {img_dir} but {len(masks)} masks in {ann_dir}")
        first = read_mask(masks[0])
        if not first.any():
            raise SiamtrackError(f"{label}: first mask {masks[0]} is empty")
        x, y, w, h = cv2.boundingRect(first.astype(np.uint8))
        box = np.array([x, y, w, h], dtype=np.float64)
        sequences.append(Sequence(name=name, frames=frames, groundtruth=box[None, :], init_box=box,
                                  masks=masks, size=(first.shape[1], first.shape[0])))
    return Dataset(name="davis2016", kind="davis", result_name="DAVIS2016", root=root, sequences=sequences)

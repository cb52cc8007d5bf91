"""DAVIS semi-supervised protocol for mask trackers: initialise from the first mask's box, collect a mask per frame.

Frame 0's mask is the ground truth (semi-supervised video object
segmentation, Perazzi et al., CVPR 2016); on later frames the tracker's own
``TrackResult.binary_mask`` is used when it gives one, else its
``TrackResult.mask`` -- an ``(H, W)`` full-frame map -- is binarised: float
maps with ``mask > threshold`` (the preset's mask threshold, SiamMask
``seg_thr``), bool / integer maps as they are.
"""

from __future__ import annotations

import numpy as np

from siamtrack.benchmarks.datasets.davis import read_mask
from siamtrack.benchmarks.protocols import one_pass, read_frame
from siamtrack.errors import SiamtrackError

__all__ = ["run_masks", "binarise"]


def binarise(mask, threshold: float | None, frame_shape, tracker_name: str = "tracker") -> np.ndarray:
    """``(H, W)`` bool mask from a tracker's ``mask`` output.

    Raises:
        SiamtrackError: no mask (not a mask tracker), a size other than the
            frame's, or a probability map without a threshold.
    """
    if mask is None:
        raise SiamtrackError(f"{tracker_name} gives no masks (TrackResult.mask): "
                             f"DAVIS needs a mask tracker such as siammask")
    m = np.asarray(mask)
    if m.shape != tuple(frame_shape[:2]):
        raise SiamtrackError(f"{tracker_name}: mask of shape {m.shape} for a frame of {tuple(frame_shape[:2])}")
    if m.dtype == bool:
        return m
    if np.issubdtype(m.dtype, np.floating):
        if threshold is None:
            raise SiamtrackError(f"{tracker_name}: probability masks but no mask threshold in its preset")
        return m > threshold
    return m > 0


def run_masks(tracker, seq, threshold: float | None, progress: bool = False, reader=read_frame,
              tracker_name: str = "tracker"):
    """Track ``seq`` in one pass and return ``(masks, times)``: N ``(H, W)`` bool masks and ``(N,)`` seconds.

    Raises:
        SiamtrackError: unreadable frame / mask, or see :func:`binarise`.
    """
    masks, times = [], np.zeros(len(seq))
    for i, frame, r, seconds in one_pass(tracker, seq, progress, reader):
        times[i] = seconds
        if r is None:
            masks.append(read_mask(seq.masks[0]))
        else:
            own = getattr(r, "binary_mask", None)
            masks.append(binarise(own if own is not None else getattr(r, "mask", None), threshold,
                                  frame.shape, tracker_name))
    return masks, times

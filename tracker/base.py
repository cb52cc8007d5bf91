"""The tracker API shared by every siamtrack tracker, and init-box validation.

Frames are ``(H, W, 3)`` uint8 BGR arrays as OpenCV reads them; boxes are
``[x, y, w, h]`` in 0-based pixel coordinates (floats), ``x, y`` the top-left
corner. ``init(frame, box)`` once, then ``update(frame)`` per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from siamtrack.errors import SiamtrackError


@dataclass
class TrackResult:
    """One frame's output.

    ``box``: ``[x, y, w, h]`` float64, 0-based pixels. ``score``: the model's
    confidence for the chosen position (for NanoTrack / SiamRPN the raw
    foreground probability before penalties, as pysot's ``best_score``).
    ``lost``: ``score`` below the preset's ``lost_threshold``.
    """

    box: np.ndarray
    score: float
    lost: bool = False
    extra: dict = field(default_factory=dict)


def validate_box(box, frame_shape, what: str = "init box") -> np.ndarray:
    """Check a ``[x, y, w, h]`` box against a frame of shape ``(H, W, ...)``.

    Returns the box as float64. Raises :class:`SiamtrackError` when it has not
    4 finite numbers, has zero or negative size, or lies (entirely) outside
    the image.
    """
    try:
        b = np.asarray(box, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise SiamtrackError(f"{what} {box!r}: expected 4 numbers x,y,w,h") from None
    if b.size != 4 or not all(math.isfinite(v) for v in b):
        raise SiamtrackError(f"{what} {box!r}: expected 4 finite numbers x,y,w,h")
    x, y, w, h = b
    text = ",".join(f"{v:g}" for v in b)
    if w <= 0 or h <= 0:
        raise SiamtrackError(f"{what} {text}: zero or negative size (w={w:g}, h={h:g})")
    H, W = frame_shape[:2]
    if x >= W or y >= H or x + w <= 0 or y + h <= 0:
        raise SiamtrackError(f"{what} {text}: lies outside the {W}x{H} image")
    return b


class Tracker:
    """Base class: ``init(frame, box)`` then ``update(frame) -> TrackResult``.

    Subclasses set ``self.center_pos`` ``[cx, cy]`` and ``self.size`` ``[w, h]``
    (float64, 0-based pixels; the pysot state convention) so a caller can
    restore a recorded state before a step.
    """

    lost_threshold: float = 0.0

    def init(self, frame: np.ndarray, box) -> None:
        raise NotImplementedError

    def update(self, frame: np.ndarray) -> TrackResult:
        raise NotImplementedError

    @property
    def state(self) -> dict:
        """Current state: ``center_pos`` and ``size`` as lists (0-based pixels)."""
        return {"center_pos": [float(v) for v in self.center_pos], "size": [float(v) for v in self.size]}

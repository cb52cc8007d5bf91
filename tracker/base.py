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
    ``lost``: the score has stayed below the preset's ``lost_threshold`` for
    ``Tracker.lost_patience`` frames (see :attr:`Tracker.lost`).

    Mask trackers (SiamMask) also fill, for the whole frame: ``mask``
    ``(H, W)`` float32 foreground probabilities, ``binary_mask`` ``(H, W)`` bool
    (``mask`` above the preset's ``mask_threshold``) and ``polygon`` float64
    ``[x1, y1, ..., x4, y4]`` (0-based pixels), the rotated rectangle of the
    target; the other trackers leave them ``None``.
    """

    box: np.ndarray
    score: float
    lost: bool = False
    extra: dict = field(default_factory=dict)
    mask: np.ndarray | None = None
    binary_mask: np.ndarray | None = None
    polygon: np.ndarray | None = None


def _number_text(v) -> str:
    """A number as a user would type it: ``10``, ``10.5``, ``nan``, ``inf`` (shortest round-trip form)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        return str(v)
    text = str(v) if isinstance(v, np.floating) else repr(float(v))  # numpy: shortest form of its own precision
    return text[:-2] if text.endswith(".0") else text


def _box_text(box) -> str:
    """``box`` for a message: its values joined by commas (``nan,1,2,3``), never a numpy repr."""
    if isinstance(box, (str, bytes)):
        return box if isinstance(box, str) else box.decode("utf-8", "replace")
    try:
        values = list(np.asarray(box).ravel())  # numpy scalars: float32 0.1 stays 0.1
    except Exception:  # noqa: BLE001 - e.g. a ragged list: say what it is as Python writes it
        return str(box)
    return ",".join(_number_text(v) for v in values)


def validate_box(box, frame_shape, what: str = "init box") -> np.ndarray:
    """Check a ``[x, y, w, h]`` box against a frame of shape ``(H, W, ...)``.

    Returns the box as float64. Messages name the box as its values joined by
    commas (``--init box nan,1,2,3: ...``), never as a numpy repr.

    Raises:
        SiamtrackError: the box has not 4 finite numbers, has zero or negative
            size, or lies (entirely) outside the image.
    """
    text = _box_text(box)
    try:
        b = np.asarray(box, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise SiamtrackError(f"{what} {text}: expected 4 numbers x,y,w,h") from None
    if b.size != 4 or not all(math.isfinite(v) for v in b):
        raise SiamtrackError(f"{what} {text}: expected 4 finite numbers x,y,w,h")
    x, y, w, h = b
    if w <= 0 or h <= 0:
        raise SiamtrackError(f"{what} {text}: zero or negative size (w={_number_text(w)}, h={_number_text(h)})")
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
    #: Consecutive frames the score must stay below ``lost_threshold`` before the target is reported lost
    #: (one low frame is a blur or an occlusion starting, not a loss).
    lost_patience: int = 3
    #: Whether the target is lost now: the last ``lost_patience`` scores were all below ``lost_threshold``
    #: (False after ``init``). Also in each :class:`TrackResult` as ``lost``.
    lost: bool = False
    _low_frames: int = 0
    #: True for trackers whose output varies from run to run: benchmarks then repeat runs
    #: (VOT baseline 15, GOT-10k 3; got10k ``is_deterministic``). All current trackers are deterministic.
    stochastic: bool = False

    def init(self, frame: np.ndarray, box) -> None:
        raise NotImplementedError

    def update(self, frame: np.ndarray) -> TrackResult:
        raise NotImplementedError

    def _reset_lost(self) -> None:
        """Forget earlier low scores (called by ``init``)."""
        self._low_frames = 0
        self.lost = False

    def _flag_lost(self, score: float) -> bool:
        """Count ``score`` (below ``lost_threshold``, or NaN: low) and return the new :attr:`lost` state."""
        low = not (score >= self.lost_threshold)
        self._low_frames = self._low_frames + 1 if low else 0
        self.lost = self._low_frames >= self.lost_patience
        return self.lost

    @property
    def state(self) -> dict:
        """Current state: ``center_pos`` and ``size`` as lists (0-based pixels)."""
        return {"center_pos": [float(v) for v in self.center_pos], "size": [float(v) for v in self.size]}

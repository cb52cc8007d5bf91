"""NanoTrack tracker: point-based (anchor-free) Siamese tracking with a lightweight model.

The per-frame algorithm is the shared one of :mod:`siamtrack.tracker.siamese`
(HonglinChu/SiamTrackers ``NanoTrack/nanotrack/tracker/nano_tracker.py`` is
pysot's SiamRPN tracker with points instead of anchors); the head predicts
``l, t, r, b`` distances from each point ``p = (i - S//2) * stride`` of the
score map, relative to the search-crop centre.
"""

from __future__ import annotations

import numpy as np

from siamtrack.tracker.registry import TRACKERS
from siamtrack.tracker.siamese import SiameseBoxTracker


def point_grid(stride: int, size: int) -> np.ndarray:
    """``(size*size, 2)`` float32 ``[x, y]`` offsets of the score-map cells from the crop centre (row-major).

    Source: ``nano_tracker.py`` ``generate_points``.
    """
    origin = -(size // 2) * stride
    coords = origin + stride * np.arange(size)
    xs, ys = np.meshgrid(coords, coords)
    return np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)


class NanoTracker(SiameseBoxTracker):
    """NanoTrack v1 / v2 / v3 tracker; ``cfg`` adds ``score_size`` (16 or 15) and ``stride`` (16) to the shared keys."""

    def __init__(self, model, cfg: dict, device="cpu"):
        self.score_size = int(cfg["score_size"])
        self.points = point_grid(cfg["stride"], self.score_size)
        super().__init__(model, cfg, device)

    def decode(self, delta: np.ndarray) -> np.ndarray:
        """``l, t, r, b`` distances ``(4, S*S)`` -> ``cx, cy, w, h`` (float32; ``nano_tracker.py`` ``_convert_bbox``)."""
        px, py = self.points[:, 0], self.points[:, 1]
        x1, y1, x2, y2 = px - delta[0], py - delta[1], px + delta[2], py + delta[3]
        return np.stack([(x1 + x2) * 0.5, (y1 + y2) * 0.5, x2 - x1, y2 - y1])


@TRACKERS.register("nanotrack")
def nanotrack(model, cfg: dict, device="cpu") -> NanoTracker:
    """NanoTrack tracker factory (presets ``nanotrack-v1``, ``-v2``, ``-v3``)."""
    return NanoTracker(model, cfg, device)

"""NanoTrack tracker: point-based (anchor-free) Siamese tracking with a lightweight model.

Per-frame algorithm of HonglinChu/SiamTrackers ``NanoTrack/nanotrack/tracker/
nano_tracker.py`` (pysot-style):

1. init: centre ``[x + (w-1)/2, y + (h-1)/2]``, exemplar crop of side
   ``round(sqrt((w + c(w+h)) (h + c(w+h))))`` (context amount ``c`` = 0.5)
   resized to 127, padded with the first frame's mean colour; the template
   branch runs once.
2. track: search crop of side ``round(s_z * 255/127)`` resized to 255; the
   head gives a 2-way softmax score and ``l, t, r, b`` distances at the points
   ``p = (i - S//2) * stride`` around the crop centre;
3. scale / ratio penalty, cosine window, argmax; the box is moved to the
   chosen point, its size smoothed with ``lr = penalty * score * LR``, and the
   centre clipped to ``[0, W] x [0, H]``, the size to ``[10, W] x [10, H]``.

Frames are BGR uint8 ``(H, W, 3)``; boxes ``[x, y, w, h]`` 0-based pixels.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from siamtrack.tracker.base import Tracker, TrackResult, validate_box
from siamtrack.tracker.crop import context_crop, pad_colour
from siamtrack.tracker.penalty import cosine_window, scale_ratio_penalty
from siamtrack.tracker.registry import TRACKERS


def point_grid(stride: int, size: int) -> np.ndarray:
    """``(size*size, 2)`` float32 ``[x, y]`` offsets of the score-map cells from the crop centre (row-major)."""
    origin = -(size // 2) * stride
    coords = origin + stride * np.arange(size)
    xs, ys = np.meshgrid(coords, coords)
    return np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)


class NanoTracker(Tracker):
    """NanoTrack v1 / v2 / v3 tracker around a :class:`~siamtrack.models.siamese.SiameseModel`.

    Args:
        model: model with ``template(z)`` / ``track(state, x)`` returning ``cls``
            ``(1, 2, S, S)`` and ``loc`` ``(1, 4, S, S)``, already on ``device``.
        cfg: the preset's ``track`` dict (exemplar_size, instance_size,
            score_size, stride, context_amount, penalty_k, window_influence,
            lr, lost_threshold).
        device: torch device of the model.
    """

    def __init__(self, model, cfg: dict, device="cpu"):
        self.model = model
        self.cfg = dict(cfg)
        self.device = torch.device(device)
        self.lost_threshold = float(cfg.get("lost_threshold", 0.0))
        self.window = cosine_window(cfg["score_size"])
        self.points = point_grid(cfg["stride"], cfg["score_size"])
        self._template = None

    def _to_tensor(self, patch: np.ndarray) -> torch.Tensor:
        # HWC uint8 -> 1x3xHxW float32 (a channels-last view; one copy for the dtype change).
        t = torch.from_numpy(patch).to(self.device, non_blocking=True)
        return t.permute(2, 0, 1).unsqueeze(0).float()

    def _context_size(self) -> float:
        ctx = self.cfg["context_amount"] * np.sum(self.size)
        return np.sqrt((self.size[0] + ctx) * (self.size[1] + ctx))

    def init(self, frame: np.ndarray, box) -> None:
        """Set the target from ``box`` ``[x, y, w, h]`` (0-based) on ``frame``; runs the template branch.

        Raises:
            SiamtrackError: the box has zero size or lies outside the frame.
        """
        x, y, w, h = validate_box(box, frame.shape)
        self.center_pos = np.array([x + (w - 1) / 2, y + (h - 1) / 2])
        self.size = np.array([w, h])
        self.channel_average = np.mean(frame, axis=(0, 1))
        self.pad = pad_colour(self.channel_average)
        s_z = round(self._context_size())
        z = context_crop(frame, self.center_pos, self.cfg["exemplar_size"], s_z, self.pad)
        with torch.inference_mode():
            self._template = self.model.template(self._to_tensor(z))

    def update(self, frame: np.ndarray) -> TrackResult:
        """Track the target into ``frame``; returns the new box and the raw foreground score."""
        cfg = self.cfg
        s_z = self._context_size()
        scale_z = cfg["exemplar_size"] / s_z
        s_x = s_z * (cfg["instance_size"] / cfg["exemplar_size"])
        x = context_crop(frame, self.center_pos, cfg["instance_size"], round(s_x), self.pad)
        with torch.inference_mode():
            cls, loc = self.model.track(self._template, self._to_tensor(x))
            score = torch.softmax(cls, 1)[:, 1].reshape(1, -1)
            out = torch.cat([score, loc.reshape(4, -1)]).cpu().numpy()  # the one device -> host copy
        score, delta = out[0], out[1:]

        px, py = self.points[:, 0], self.points[:, 1]
        x1, y1, x2, y2 = px - delta[0], py - delta[1], px + delta[2], py + delta[3]
        pred = np.stack([(x1 + x2) * 0.5, (y1 + y2) * 0.5, x2 - x1, y2 - y1])  # float32 cx, cy, w, h

        penalty = scale_ratio_penalty(pred[2], pred[3], self.size[0] * scale_z, self.size[1] * scale_z,
                                      cfg["penalty_k"])
        pscore = penalty * score
        pscore = pscore * (1 - cfg["window_influence"]) + self.window * cfg["window_influence"]
        best = int(np.argmax(pscore))

        bbox = pred[:, best] / scale_z
        lr = penalty[best] * score[best] * cfg["lr"]
        cx = bbox[0] + self.center_pos[0]
        cy = bbox[1] + self.center_pos[1]
        width = self.size[0] * (1 - lr) + bbox[2] * lr
        height = self.size[1] * (1 - lr) + bbox[3] * lr

        img_h, img_w = frame.shape[:2]
        cx, cy = max(0, min(cx, img_w)), max(0, min(cy, img_h))
        width, height = max(10, min(width, img_w)), max(10, min(height, img_h))
        self.center_pos = np.array([cx, cy])
        self.size = np.array([width, height])
        best_score = float(score[best])
        return TrackResult(box=np.array([cx - width / 2, cy - height / 2, width, height], dtype=np.float64),
                           score=best_score, lost=best_score < self.lost_threshold)


@TRACKERS.register("nanotrack")
def nanotrack(model, cfg: dict, device="cpu") -> NanoTracker:
    """NanoTrack tracker factory (presets ``nanotrack-v1``, ``-v2``, ``-v3``)."""
    return NanoTracker(model, cfg, device)

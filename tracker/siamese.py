"""The per-frame algorithm shared by the region-proposal style Siamese trackers (SiamRPN, SiamRPN++, NanoTrack).

pysot ``pysot/tracker/siamrpn_tracker.py`` (also NanoTrack's ``nano_tracker.py``,
after Li et al., CVPR 2018):

1. init: centre ``[x + (w-1)/2, y + (h-1)/2]``; exemplar crop of side
   ``round(sqrt((w + c(w+h)) (h + c(w+h))))`` (context amount ``c``) resized to
   ``exemplar_size``, padded with the first frame's mean colour; the template
   branch runs once.
2. update: search crop of side ``round(s_z * instance_size / exemplar_size)``
   resized to ``instance_size``; 2-way softmax foreground score per cell (and
   anchor); boxes decoded by the subclass (anchors or points);
3. scale / ratio penalty, cosine window, argmax; the box moves to the chosen
   candidate, its size is smoothed with ``lr = penalty * score * LR``; the
   centre is clipped to ``[0, W] x [0, H]`` and the size to ``[10, W] x [10, H]``.

Frames are BGR uint8 ``(H, W, 3)``; boxes ``[x, y, w, h]`` in 0-based pixels.
"""

from __future__ import annotations

import numpy as np
import torch

from siamtrack.tracker.base import Tracker, TrackResult, validate_box
from siamtrack.tracker.crop import context_crop, pad_colour
from siamtrack.tracker.penalty import cosine_window, scale_ratio_penalty


def foreground(cls: np.ndarray) -> np.ndarray:
    """Foreground probabilities ``(k*S*S,)`` float32 of a ``(1, 2k, S, S)`` classification map (background
    channels first): the 2-way softmax of pysot ``SiamRPNTracker._convert_score`` (``exp(v - max) / sum``,
    as ``torch.softmax`` computes it)."""
    pair = cls.reshape(2, -1)
    e = np.exp(pair - pair.max(0))
    return e[1] / (e[0] + e[1])


class SiameseBoxTracker(Tracker):
    """Shared init / update; subclasses give ``score_size``, ``cells_per_position`` and :meth:`decode`.

    Args:
        model: a backend's model (:mod:`siamtrack.backends`): ``template(z)`` on
            ``(1, Hz, Wz, 3)`` uint8 crops, ``track(state, x)`` on ``(1, Hx, Wx, 3)``
            uint8 crops returning float32 numpy ``cls`` ``(1, 2k, S, S)``
            (background channels first, then foreground, k = anchors per cell)
            and ``loc`` ``(1, 4k, S, S)``.
        cfg: the preset's ``track`` dict (exemplar_size, instance_size,
            context_amount, penalty_k, window_influence, lr, lost_threshold
            and the subclass's own keys).
        device: torch device of the model.
    """

    score_size: int
    cells_per_position: int = 1

    def __init__(self, model, cfg: dict, device="cpu"):
        self.model = model
        self.cfg = dict(cfg)
        self.device = torch.device(device)
        self.lost_threshold = float(cfg.get("lost_threshold", 0.0))
        self.window = cosine_window(self.score_size, self.cells_per_position)
        self._template = None

    def decode(self, delta: np.ndarray) -> np.ndarray:
        """``(4, N)`` float32 network box output -> ``(4, N)`` float32 ``cx, cy, w, h`` in crop pixels
        relative to the crop centre."""
        raise NotImplementedError

    def _context_size(self) -> float:
        ctx = self.cfg["context_amount"] * np.sum(self.size)
        return np.sqrt((self.size[0] + ctx) * (self.size[1] + ctx))

    def init(self, frame: np.ndarray, box) -> None:
        """Set the target from ``box`` ``[x, y, w, h]`` (0-based) on ``frame``; runs the template branch.

        Raises:
            SiamtrackError: the box has zero size or lies outside the frame.
        """
        x, y, w, h = validate_box(box, frame.shape)
        self._set_target(frame, x, y, w, h)
        self._reset_lost()
        self.channel_average = np.mean(frame, axis=(0, 1))
        self.pad = pad_colour(self.channel_average)
        z = self._crop(frame, self.cfg["exemplar_size"], self._round(self._context_size()))
        self._template = self.model.template(z[None])

    # Hooks where the references differ (DaSiamRPN overrides them).
    def _set_target(self, frame: np.ndarray, x: float, y: float, w: float, h: float) -> None:
        """State from the init box: centre ``[x + (w-1)/2, y + (h-1)/2]`` (pysot) and size ``[w, h]``."""
        self.center_pos = np.array([x + (w - 1) / 2, y + (h - 1) / 2])
        self.size = np.array([w, h])

    @staticmethod
    def _round(v: float) -> int:
        """Rounding of crop sides: Python 3 ``round`` (half to even), as pysot under Python 3."""
        return round(v)

    def _search_side(self, s_z: float, scale_z: float, instance_size: int) -> float:
        """Side of the search region in frame pixels: ``s_z * instance_size / exemplar_size``."""
        return s_z * (instance_size / self.cfg["exemplar_size"])

    def _crop(self, frame: np.ndarray, out_size: int, crop_size: int) -> np.ndarray:
        return context_crop(frame, self.center_pos, out_size, crop_size, self.pad)

    def _search(self, frame: np.ndarray, instance_size: int):
        """Crop, run the network, decode: ``(score (N,) float32, boxes (4, N) float32, scale_z)``."""
        cfg = self.cfg
        s_z = self._context_size()
        scale_z = cfg["exemplar_size"] / s_z
        x = self._crop(frame, instance_size, self._round(self._search_side(s_z, scale_z, instance_size)))
        cls, loc = self.model.track(self._template, x[None])
        return foreground(cls), self.decode(loc.reshape(4, -1)), scale_z

    def _select(self, score, pred, target_sz, window, influence: float):
        """Scale / ratio penalty against ``target_sz`` (crop pixels), cosine window blended with weight
        ``influence``, argmax: returns ``(best index, penalty array)``."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # degenerate weights: inf as the reference
            penalty = scale_ratio_penalty(pred[2], pred[3], target_sz[0], target_sz[1], self.cfg["penalty_k"])
        pscore = penalty * score
        pscore = pscore * (1 - influence) + window * influence
        return int(np.argmax(pscore)), penalty

    @staticmethod
    def _clip(frame, cx, cy, width, height):
        """Centre clipped to ``[0, W] x [0, H]``, size to ``[10, W] x [10, H]`` (pysot ``_bbox_clip``)."""
        img_h, img_w = frame.shape[:2]
        return max(0, min(cx, img_w)), max(0, min(cy, img_h)), max(10, min(width, img_w)), max(10, min(height, img_h))

    def _step(self, score, pred, scale_z: float, best: int, penalty) -> tuple:
        """The chosen candidate in frame pixels, its size smoothed with ``lr = penalty * score * LR``
        (pysot ``SiamRPNTracker.track``): unclipped ``(cx, cy, w, h)``."""
        bbox = pred[:, best] / scale_z
        lr = penalty[best] * score[best] * self.cfg["lr"]
        return (bbox[0] + self.center_pos[0], bbox[1] + self.center_pos[1],
                self.size[0] * (1 - lr) + bbox[2] * lr, self.size[1] * (1 - lr) + bbox[3] * lr)

    def update(self, frame: np.ndarray) -> TrackResult:
        """Track the target into ``frame``; returns the new box and the raw foreground score of the choice."""
        cfg = self.cfg
        score, pred, scale_z = self._search(frame, cfg["instance_size"])
        best, penalty = self._select(score, pred, self.size * scale_z, self.window, cfg["window_influence"])

        cx, cy, width, height = self._clip(frame, *self._step(score, pred, scale_z, best, penalty))
        self.center_pos = np.array([cx, cy])
        self.size = np.array([width, height])
        best_score = float(score[best])
        return TrackResult(box=np.array([cx - width / 2, cy - height / 2, width, height], dtype=np.float64),
                           score=best_score, lost=self._flag_lost(best_score))

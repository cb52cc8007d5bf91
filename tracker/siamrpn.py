"""SiamRPN / SiamRPN++ tracker: anchor-based region proposals around the previous position.

Per-frame algorithm: :mod:`siamtrack.tracker.siamese` (pysot
``pysot/tracker/siamrpn_tracker.py``). Anchors: pysot ``pysot/utils/anchor.py``
``Anchors.generate_anchors`` - for each ratio ``r``: ``ws = int(sqrt(stride^2 / r))``,
``hs = int(ws * r)``, times each scale - placed at the score-map cells
``(i - S//2) * stride`` around the crop centre (``SiamRPNTracker.generate_anchor``);
score map side ``S = (instance_size - exemplar_size) // stride + 1 + base_size``
(Li et al., CVPR 2018 / SiamRPN++, Li et al., CVPR 2019).
"""

from __future__ import annotations

import math

import numpy as np

from siamtrack.tracker.base import TrackResult
from siamtrack.tracker.penalty import cosine_window
from siamtrack.tracker.registry import TRACKERS
from siamtrack.tracker.siamese import SiameseBoxTracker


def base_anchors(stride: int, ratios, scales) -> np.ndarray:
    """``(len(ratios) * len(scales), 4)`` float32 anchors ``[x1, y1, x2, y2]`` centred on 0 (ratio-major)."""
    out = []
    size = stride * stride
    for r in ratios:
        ws = int(math.sqrt(size * 1.0 / r))
        hs = int(ws * r)
        for s in scales:
            w, h = ws * s, hs * s
            out.append([-w * 0.5, -h * 0.5, w * 0.5, h * 0.5])
    return np.array(out, dtype=np.float32)


def anchor_grid(stride: int, ratios, scales, score_size: int) -> np.ndarray:
    """``(k * S * S, 4)`` float32 ``[cx, cy, w, h]`` of every anchor, anchor-major then row-major cells,
    centres relative to the search-crop centre (the layout of the head's ``(1, 4k, S, S)`` output)."""
    a = base_anchors(stride, ratios, scales)
    k = a.shape[0]
    shapes = np.stack([(a[:, 0] + a[:, 2]) * 0.5, (a[:, 1] + a[:, 3]) * 0.5, a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]], 1)
    grid = np.repeat(shapes, score_size * score_size, axis=0).astype(np.float32)
    coords = -(score_size // 2) * stride + stride * np.arange(score_size)
    xs, ys = np.meshgrid(coords, coords)
    grid[:, 0] = np.tile(xs.ravel(), k).astype(np.float32)
    grid[:, 1] = np.tile(ys.ravel(), k).astype(np.float32)
    return grid


class SiamRPNTracker(SiameseBoxTracker):
    """SiamRPN / SiamRPN++ tracker.

    ``cfg`` adds to the shared keys: ``stride`` (8), ``ratios``
    ([0.33, 0.5, 1, 2, 3]), ``scales`` ([8]) and ``base_size`` (0 for
    SiamRPN++ / pysot AlexNet models, 8 for pysot's SiamRPN configs).
    """

    def __init__(self, model, cfg: dict, device="cpu"):
        self.score_size = (cfg["instance_size"] - cfg["exemplar_size"]) // cfg["stride"] + 1 + cfg.get("base_size", 0)
        self.cells_per_position = len(cfg["ratios"]) * len(cfg["scales"])
        self.anchors = anchor_grid(cfg["stride"], cfg["ratios"], cfg["scales"], self.score_size)
        super().__init__(model, cfg, device)

    def decode(self, delta: np.ndarray) -> np.ndarray:
        """Anchor regression ``(dx, dy, dw, dh)`` -> ``cx, cy, w, h`` (float32; pysot ``_convert_bbox``).

        Untrained or degenerate weights can overflow ``exp``; as in the reference the
        infinities then propagate (and lose the argmax), without warnings here.
        """
        a = self.anchors
        with np.errstate(over="ignore", invalid="ignore"):
            return np.stack([delta[0] * a[:, 2] + a[:, 0], delta[1] * a[:, 3] + a[:, 1],
                             np.exp(delta[2]) * a[:, 2], np.exp(delta[3]) * a[:, 3]])


@TRACKERS.register("siamrpn")
def siamrpn(model, cfg: dict, device="cpu") -> SiamRPNTracker:
    """SiamRPN / SiamRPN++ tracker factory (pysot presets)."""
    return SiamRPNTracker(model, cfg, device)


class SiamRPNLTTracker(SiamRPNTracker):
    """Long-term SiamRPN++ (pysot ``pysot/tracker/siamrpnlt_tracker.py``, the VOT-LT 2018/2019 entry).

    While the target is *lost* the search region grows to ``lost_instance_size``
    (831) and the cosine window almost vanishes (weight 0.001), so the tracker
    can re-detect the target anywhere near; it is lost when the best score
    falls below ``confidence_low`` (0.85) and found again above
    ``confidence_high`` (0.998). Below ``confidence_low`` the state is kept.
    As in the reference, the state is stored before clipping and only the
    returned box is clipped to the image. :attr:`longterm_state` is the lost flag.
    """

    def __init__(self, model, cfg: dict, device="cpu"):
        super().__init__(model, cfg, device)
        self.longterm_state = False
        self._grids = {}

    def _grid(self, instance_size: int):
        """Anchors and window for a search size (cached)."""
        if instance_size not in self._grids:
            cfg = self.cfg
            s = (instance_size - cfg["exemplar_size"]) // cfg["stride"] + 1 + cfg.get("base_size", 0)
            self._grids[instance_size] = (anchor_grid(cfg["stride"], cfg["ratios"], cfg["scales"], s),
                                          cosine_window(s, self.cells_per_position))
        return self._grids[instance_size]

    def init(self, frame, box) -> None:
        super().init(frame, box)
        self.longterm_state = False

    def update(self, frame: np.ndarray) -> TrackResult:
        cfg = self.cfg
        size = cfg["lost_instance_size"] if self.longterm_state else cfg["instance_size"]
        self.anchors, window = self._grid(size)
        score, pred, scale_z = self._search(frame, size)
        influence = 0.001 if self.longterm_state else cfg["window_influence"]
        best, penalty = self._select(score, pred, self.size * scale_z, window, influence)

        bbox = pred[:, best] / scale_z
        lr = penalty[best] * score[best] * cfg["lr"]
        best_score = float(score[best])
        if best_score >= cfg["confidence_low"]:
            cx = bbox[0] + self.center_pos[0]
            cy = bbox[1] + self.center_pos[1]
            width = self.size[0] * (1 - lr) + bbox[2] * lr
            height = self.size[1] * (1 - lr) + bbox[3] * lr
        else:
            cx, cy = self.center_pos
            width, height = self.size
        self.center_pos = np.array([cx, cy])
        self.size = np.array([width, height])

        cx, cy, width, height = self._clip(frame, cx, cy, width, height)
        if best_score < cfg["confidence_low"]:
            self.longterm_state = True
        elif best_score > cfg["confidence_high"]:
            self.longterm_state = False
        self.lost = self.longterm_state  # the long-term tracker's own lost state (pysot's longterm_state)
        return TrackResult(box=np.array([cx - width / 2, cy - height / 2, width, height], dtype=np.float64),
                           score=best_score, lost=self.longterm_state)


@TRACKERS.register("siamrpn_lt")
def siamrpn_lt(model, cfg: dict, device="cpu") -> SiamRPNLTTracker:
    """Long-term SiamRPN++ tracker factory (preset ``siamrpn++-lt``)."""
    return SiamRPNLTTracker(model, cfg, device)

"""DaSiamRPN tracker (Zhu et al., "Distractor-aware Siamese Networks for Visual Object Tracking", ECCV 2018).

foolwood/DaSiamRPN ``code/run_SiamRPN.py`` (``SiamRPN_init``, ``SiamRPN_track``,
``tracker_eval``, ``generate_anchor``) and ``code/utils.py``
(``get_subwindow_tracking``). The per-frame algorithm is SiamRPN's, as in
:mod:`siamtrack.tracker.siamrpn` (same anchors, decoding, softmax, scale /
ratio penalty, cosine window, size smoothing and clipping); what differs is
reproduced here, including the Python 2 semantics the reference was written
for (it pins python 2.7; ``../shared/fixtures/dasiamrpn_*/manifest.json``
``python2_semantics``):

* state convention ``target_pos = [x + w/2, y + h/2]`` (``rect_2_cxy_wh``;
  pysot uses ``(w-1)/2``); with an integer box (the OTB ground truth,
  ``test_otb.py``) ``/`` is Python 2's floor division: ``x + w // 2``;
* ``round`` is Python 2's - halves away from zero - for the exemplar side
  ``s_z``, the search side ``round(s_x)`` and the crop origin
  ``round(c - (sz + 1) / 2)`` (pysot: ``floor(v + 0.5)``; they differ on
  negative halves, e.g. a centre clipped to 0);
* search side ``s_x = s_z + 2 * ((instance_size - exemplar_size) // 2) / scale_z``
  (pysot: ``s_z * instance_size / exemplar_size``, equal up to float rounding);
* ``adaptive`` (SiamRPNBIG): a 287 search crop (21x21 score map) instead of
  271 (19x19) when the init box covers less than 0.4% of the frame, decided
  once at init;
* anchors at ``-(S // 2) * stride + i * stride`` (Python 2 integer division;
  run under Python 3 unpatched the grid would be shifted by 4 px);
* the candidate sizes are compared with ``target_sz * scale_z`` and the new
  size blends ``(target_sz * scale_z) / scale_z`` (the same up to float
  rounding; kept so steps match the reference bit for bit).

Frames are BGR uint8 (``cv2.imread``), crops raw 0..255 pixels padded with
the first frame's mean colour; boxes ``[x, y, w, h]`` 0-based, the returned
box ``cxy_wh_2_rect`` = ``[cx - w/2, cy - h/2, w, h]`` after clipping the
centre to ``[0, W] x [0, H]`` and the size to ``[10, W] x [10, H]``.
"""

from __future__ import annotations

import math

import numpy as np

from siamtrack.tracker.base import TrackResult
from siamtrack.tracker.crop import context_crop
from siamtrack.tracker.penalty import cosine_window
from siamtrack.tracker.registry import TRACKERS
from siamtrack.tracker.siamrpn import SiamRPNTracker, anchor_grid


def py2_round(v: float) -> float:
    """Python 2's ``round(v)``: the nearest integer, halves away from zero (as a float).

    Exact for every double: ``a - floor(a)`` is computed without rounding, unlike ``floor(v + 0.5)``.
    """
    a = abs(float(v))
    r = math.floor(a)
    if a - r >= 0.5:
        r += 1
    return math.copysign(r, v)


def _is_integral(box) -> bool:
    return all(float(v).is_integer() for v in box)


class DaSiamRPNTracker(SiamRPNTracker):
    """DaSiamRPN tracker (presets ``siamrpn``, ``siamrpn-big``, ``siamrpn-otb``).

    ``cfg`` adds to SiamRPN's keys (``stride``, ``ratios``, ``scales``):
    ``adaptive`` (bool), ``adaptive_area_ratio`` (0.004) and
    ``adaptive_instance_size`` (287). ``instance_size`` is the search crop
    of the current target (chosen at init when ``adaptive``).
    """

    def __init__(self, model, cfg: dict, device="cpu"):
        super().__init__(model, cfg, device)
        self.instance_size = int(cfg["instance_size"])
        self._grids = {self.instance_size: (self.score_size, self.anchors, self.window)}

    def _use_instance_size(self, instance_size: int) -> None:
        """Score-map side, anchors and window for a search crop side (cached)."""
        if instance_size not in self._grids:
            cfg = self.cfg
            s = (instance_size - cfg["exemplar_size"]) // cfg["stride"] + 1
            self._grids[instance_size] = (s, anchor_grid(cfg["stride"], cfg["ratios"], cfg["scales"], s),
                                          cosine_window(s, self.cells_per_position))
        self.instance_size = instance_size
        self.score_size, self.anchors, self.window = self._grids[instance_size]

    def _crop(self, frame: np.ndarray, out_size: int, crop_size: int) -> np.ndarray:
        return context_crop(frame, self.center_pos, out_size, crop_size, self.pad, origin_round=py2_round)

    @staticmethod
    def _round(v: float) -> int:
        return py2_round(v)  # the reference ran under Python 2: halves away from zero

    def _search_side(self, s_z: float, scale_z: float, instance_size: int) -> float:
        """``s_z + 2 * ((instance_size - exemplar_size) // 2) / scale_z`` (run_SiamRPN.py ``SiamRPN_track``)."""
        return s_z + 2 * (((instance_size - self.cfg["exemplar_size"]) // 2) / scale_z)

    def _set_target(self, frame: np.ndarray, x: float, y: float, w: float, h: float) -> None:
        """Centre ``x + w/2`` (``rect_2_cxy_wh``; floor division for integer boxes, as Python 2 on int64),
        and, when ``adaptive``, the search side chosen once from the target's share of the frame."""
        if _is_integral((x, y, w, h)):
            self.center_pos = np.array([x + w // 2, y + h // 2])
        else:
            self.center_pos = np.array([x + w / 2, y + h / 2])
        self.size = np.array([w, h])
        cfg = self.cfg
        img_h, img_w = frame.shape[:2]
        instance_size = int(cfg["instance_size"])
        if cfg.get("adaptive") and w * h / float(img_h * img_w) < cfg["adaptive_area_ratio"]:
            instance_size = int(cfg["adaptive_instance_size"])
        self._use_instance_size(instance_size)

    def update(self, frame: np.ndarray) -> TrackResult:
        """Track the target into ``frame`` (``SiamRPN_track``); the score is the raw foreground
        probability of the chosen anchor (``state['score']``)."""
        cfg = self.cfg
        score, pred, scale_z = self._search(frame, self.instance_size)
        target_sz = self.size * scale_z  # tracker_eval's target_sz argument, in crop pixels
        best, penalty = self._select(score, pred, target_sz, self.window, cfg["window_influence"])

        target = pred[:, best] / scale_z
        target_sz = target_sz / scale_z
        lr = penalty[best] * score[best] * cfg["lr"]
        cx = target[0] + self.center_pos[0]
        cy = target[1] + self.center_pos[1]
        width = target_sz[0] * (1 - lr) + target[2] * lr
        height = target_sz[1] * (1 - lr) + target[3] * lr

        img_h, img_w = frame.shape[:2]
        cx, cy = max(0, min(img_w, cx)), max(0, min(img_h, cy))
        width, height = max(10, min(img_w, width)), max(10, min(img_h, height))
        self.center_pos = np.array([cx, cy], dtype=np.float64)
        self.size = np.array([width, height], dtype=np.float64)
        best_score = float(score[best])
        return TrackResult(box=np.array([cx - width / 2, cy - height / 2, width, height], dtype=np.float64),
                           score=best_score, lost=self._flag_lost(best_score))


@TRACKERS.register("dasiamrpn")
def dasiamrpn(model, cfg: dict, device="cpu") -> DaSiamRPNTracker:
    """DaSiamRPN tracker factory (presets ``siamrpn``, ``siamrpn-big``, ``siamrpn-otb``)."""
    return DaSiamRPNTracker(model, cfg, device)

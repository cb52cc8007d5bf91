"""SiamMask trackers (Wang et al., "Fast Online Object Tracking and Segmentation: A Unifying Approach", CVPR 2019).

A SiamRPN++ step (:mod:`siamtrack.tracker.siamrpn`: anchors, softmax,
scale / ratio penalty, cosine window, argmax, size smoothing, clipping) plus
a mask of the chosen anchor's cell:

1. the refinement module gives 127x127 logits for the cell ``(row, col)``
   of the best anchor (``np.unravel_index(best, (k, S, S))``); sigmoid;
2. that mask covers the exemplar-sized window centred on the cell: in frame
   pixels ``sub_box = [crop_x0 + (col - base_size/2) * stride * s,
   crop_y0 + (row - base_size/2) * stride * s, s * exemplar_size,
   s * exemplar_size]`` with ``s = search side / instance_size`` and
   ``crop_x0 = cx - side / 2`` (the search crop before the update);
3. it is warped into the frame (``cv2.warpAffine``, bilinear, constant
   border) with ``x' = a x + c``, ``a = (W - 1) / (W * 127 / sub_w)``,
   ``c = -a * (-sub_x0 * 127 / sub_w)`` (same for y): the references'
   ``crop_back`` of ``back_box``, kept literally for parity;
4. binary mask = probability ``> mask_threshold``; polygon = the 4 corners
   (``cv2.boxPoints``) of ``cv2.minAreaRect`` of the largest external
   contour (``cv2.findContours`` RETR_EXTERNAL, CHAIN_APPROX_NONE) when its
   area (``cv2.contourArea``) exceeds ``min_contour_area`` (100 px), else
   the corners of the axis-aligned box ``[cx - w/2, cy - h/2, w, h]``.

Sources: STVIR/pysot ``pysot/tracker/siammask_tracker.py`` (``SiamMaskTracker``,
preset ``siammask``) and foolwood/SiamMask ``tools/test.py``
(``siamese_init`` / ``siamese_track``, presets ``siammask-vot``,
``siammask-vot-ld``, ``siammask-davis``). The references break on OpenCV 5
(``cv2.__version__[-5] == '4'`` picks the OpenCV 3 ``findContours``
signature) and numpy 2 (``np.float``); here the contours are taken as
``findContours(...)[-2]`` and the warp matrix is float64.

Where the two references differ (:class:`SiamMaskSharpTracker` overrides):

* init centre ``[x + (w-1)/2, y + (h-1)/2]`` (pysot) vs ``[x + w/2, y + h/2]``
  (foolwood ``rect_2_cxy_wh`` / ``cxy_wh_2_rect``);
* crop origin ``floor(c - (sz+1)/2 + 0.5)`` vs Python 3 ``round`` (halves to even);
* search side ``s_z * instance / exemplar`` vs ``s_z + 2 * ((instance -
  exemplar) / 2) / scale_z`` (equal up to float rounding);
* the warp's border value 0 (pysot) vs -1 (foolwood): it is blended into the
  mask's outermost pixels by the bilinear warp, so it changes the binary mask;
  the returned probabilities are clipped to ``>= 0``;
* the fallback polygon is the box after clipping (pysot) or before clipping
  (foolwood), and the clip itself is ``max(0, min(cx, W))`` (pysot
  ``_bbox_clip``) vs ``max(0, min(W, cx))`` (foolwood), which differ for NaN
  (degenerate weights: the first keeps NaN out as 0, the second as W).

Frames are BGR uint8 ``(H, W, 3)``; boxes ``[x, y, w, h]`` 0-based pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from siamtrack.tracker.base import TrackResult
from siamtrack.tracker.crop import context_crop
from siamtrack.tracker.registry import TRACKERS
from siamtrack.tracker.siamese import foreground
from siamtrack.tracker.siamrpn import SiamRPNTracker

__all__ = ["SiamMaskTracker", "SiamMaskSharpTracker", "mask_to_frame", "mask_polygon", "sigmoid"]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-v))`` in float32 (the references' ``torch.sigmoid`` of the refined mask)."""
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32, copy=False)


def mask_to_frame(mask: np.ndarray, sub_box, frame_hw, border: float) -> np.ndarray:
    """Warp a square ``(n, n)`` float32 mask covering ``sub_box`` ``[x, y, side, side]`` (frame pixels)
    into an ``(H, W)`` float32 frame-sized map (bilinear, ``border`` outside).

    The transform is the references' ``crop_back(mask, back_box, (W, H))`` with
    ``back_box = [-x * n / side, -y * n / side, W * n / side, H * n / side]``:
    ``a = (W - 1) / back_box[2]``, ``c = -a * back_box[0]`` (same with ``b``, ``d`` for y).
    Source: pysot ``SiamMaskTracker._crop_back``, foolwood ``tools/test.py`` ``crop_back``.
    """
    im_h, im_w = frame_hw
    s = mask.shape[1] / sub_box[2]
    back_box = [-sub_box[0] * s, -sub_box[1] * s, im_w * s, im_h * s]
    a = (im_w - 1) / back_box[2]
    b = (im_h - 1) / back_box[3]
    mapping = np.array([[a, 0, -a * back_box[0]], [0, b, -b * back_box[1]]], dtype=np.float64)
    return cv2.warpAffine(mask, mapping, (im_w, im_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border)


def mask_polygon(binary: np.ndarray, fallback_box, min_area: float = 100.0) -> np.ndarray:
    """Rotated rectangle of the largest external contour of ``binary`` ``(H, W)`` (bool or uint8).

    Returns float64 ``[x1, y1, x2, y2, x3, y3, x4, y4]``: ``cv2.boxPoints`` of
    ``cv2.minAreaRect`` of the contour with the largest ``cv2.contourArea``
    when that area exceeds ``min_area``; otherwise the corners (top-left,
    top-right, bottom-right, bottom-left) of ``fallback_box`` ``[x, y, w, h]``.
    Source: pysot ``SiamMaskTracker._mask_post_processing`` / foolwood
    ``siamese_track`` (OpenCV 3/4/5: the contours are ``findContours(...)[-2]``).
    """
    contours = cv2.findContours(binary.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[-2]
    areas = [cv2.contourArea(c) for c in contours]
    if contours and max(areas) > min_area:
        contour = contours[int(np.argmax(areas))].reshape(-1, 2)
        return cv2.boxPoints(cv2.minAreaRect(contour)).astype(np.float64).ravel()
    x, y, w, h = fallback_box
    return np.array([x, y, x + w, y, x + w, y + h, x, y + h], dtype=np.float64)


class SiamMaskTracker(SiamRPNTracker):
    """pysot ``SiamMaskTracker`` (preset ``siammask``).

    ``cfg`` adds to SiamRPN's keys: ``mask_threshold`` (``TRACK.MASK_THERSHOLD``),
    ``mask_output_size`` (127, the refinement's output), ``mask_border``
    (warp border value, 0), ``min_contour_area`` (100). ``model`` is a
    :class:`~siamtrack.models.siammask.SiamMaskModel`. :meth:`update` returns
    the box and score as SiamRPN++ and ``mask``, ``binary_mask``, ``polygon``
    (see :class:`~siamtrack.tracker.base.TrackResult`).
    """

    fallback_before_clip = False  # pysot: the fallback polygon is the clipped box

    def __init__(self, model, cfg: dict, device="cpu"):
        super().__init__(model, cfg, device)
        self.mask_threshold = float(cfg["mask_threshold"])
        self.mask_border = float(cfg.get("mask_border", 0.0))
        self.min_contour_area = float(cfg.get("min_contour_area", 100.0))

    def _search_with_mask(self, frame: np.ndarray):
        """Crop, network, decode: ``(score (N,), boxes (4, N), scale_z, search side (int px), search features)``."""
        cfg = self.cfg
        s_z = self._context_size()
        scale_z = cfg["exemplar_size"] / s_z
        side = self._round(self._search_side(s_z, scale_z, cfg["instance_size"]))
        x = self._crop(frame, cfg["instance_size"], side)
        cls, loc, search = self.model.track_mask(self._template, x[None])
        return foreground(cls), self.decode(loc.reshape(4, -1)), scale_z, side, search

    def _mask(self, search, best: int, center, side: int, frame_hw) -> np.ndarray:
        """Frame-sized mask probabilities (float32, border value outside) of the cell of anchor ``best``."""
        cfg = self.cfg
        _, row, col = np.unravel_index(best, (self.cells_per_position, self.score_size, self.score_size))
        logits = self.model.refine(search, (int(row), int(col)))
        n = cfg["mask_output_size"]
        mask = sigmoid(logits.reshape(n, n))
        s = side / cfg["instance_size"]
        sub_box = [center[0] - side / 2 + (col - cfg["base_size"] / 2) * cfg["stride"] * s,
                   center[1] - side / 2 + (row - cfg["base_size"] / 2) * cfg["stride"] * s,
                   s * cfg["exemplar_size"], s * cfg["exemplar_size"]]
        return mask_to_frame(mask, sub_box, frame_hw, self.mask_border)

    def update(self, frame: np.ndarray) -> TrackResult:
        """Track into ``frame``: box and raw foreground score of the chosen anchor, plus mask and polygon.

        The anchor is chosen on the host (numpy, as the references) before the refinement runs for its
        cell, so a frame makes two device-to-host copies: scores / boxes, then the 127x127 mask.
        """
        cfg = self.cfg
        center = self.center_pos.copy()
        score, pred, scale_z, side, search = self._search_with_mask(frame)
        best, penalty = self._select(score, pred, self.size * scale_z, self.window, cfg["window_influence"])

        unclipped = self._step(score, pred, scale_z, best, penalty)
        cx, cy, width, height = self._clip(frame, *unclipped)
        self.center_pos = np.array([cx, cy])
        self.size = np.array([width, height])

        mask = self._mask(search, best, center, side, frame.shape[:2])
        binary = mask > self.mask_threshold
        fx, fy, fw, fh = unclipped if self.fallback_before_clip else (cx, cy, width, height)
        polygon = mask_polygon(binary, (fx - fw / 2, fy - fh / 2, fw, fh), self.min_contour_area)
        np.maximum(mask, 0, out=mask)  # the foolwood border (-1) is no probability
        best_score = float(score[best])
        return TrackResult(box=np.array([cx - width / 2, cy - height / 2, width, height], dtype=np.float64),
                           score=best_score, lost=self._flag_lost(best_score),
                           mask=mask, binary_mask=binary, polygon=polygon)


class SiamMaskSharpTracker(SiamMaskTracker):
    """foolwood/SiamMask ``siamese_track`` with ``mask_enable`` and ``refine_enable`` (presets ``siammask-vot``,
    ``siammask-vot-ld``, ``siammask-davis``; ``mask_threshold`` = the config's ``seg_thr``, ``mask_border`` -1).
    The differences from :class:`SiamMaskTracker` are listed in the module docstring."""

    fallback_before_clip = True

    def _set_target(self, frame: np.ndarray, x: float, y: float, w: float, h: float) -> None:
        """``target_pos = [x + w/2, y + h/2]`` (foolwood ``tools/demo.py``), ``target_sz = [w, h]``."""
        self.center_pos = np.array([x + w / 2, y + h / 2])
        self.size = np.array([w, h])

    def _crop(self, frame: np.ndarray, out_size: int, crop_size: int) -> np.ndarray:
        # get_subwindow_tracking: context_xmin = round(pos - c) under Python 3 (halves to even)
        return context_crop(frame, self.center_pos, out_size, crop_size, self.pad, origin_round=round)

    def _search_side(self, s_z: float, scale_z: float, instance_size: int) -> float:
        """``s_z + 2 * (((instance_size - exemplar_size) / 2) / scale_z)`` (``siamese_track``)."""
        return s_z + 2 * (((instance_size - self.cfg["exemplar_size"]) / 2) / scale_z)

    @staticmethod
    def _clip(frame, cx, cy, width, height):
        """``max(0, min(W, cx))`` etc. (``siamese_track``; argument order matters for NaN)."""
        img_h, img_w = frame.shape[:2]
        return max(0, min(img_w, cx)), max(0, min(img_h, cy)), max(10, min(img_w, width)), max(10, min(img_h, height))


@TRACKERS.register("siammask")
def siammask(model, cfg: dict, device="cpu") -> SiamMaskTracker:
    """pysot SiamMask tracker factory (preset ``siammask``)."""
    return SiamMaskTracker(model, cfg, device)


@TRACKERS.register("siammask_sharp")
def siammask_sharp(model, cfg: dict, device="cpu") -> SiamMaskSharpTracker:
    """foolwood/SiamMask tracker factory (presets ``siammask-vot``, ``siammask-vot-ld``, ``siammask-davis``)."""
    return SiamMaskSharpTracker(model, cfg, device)

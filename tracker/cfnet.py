"""CFNet tracker (Valmadre et al., CVPR 2017): SiamFC's scale search around a correlation-filter template
that is updated every frame.

Per-frame algorithm of bertinetto/cfnet ``src/tracking/tracker.m`` in
``corrfilt`` mode (with ``tracker_step.m``, ``make_scale_pyramid.m`` and
``get_subwindow_tracking.m``); hyper-parameters per network from
``run_cfnet1_evaluation.m`` / ``run_cfnet2_evaluation.m`` (the presets):

1. init: centre ``[y + h/2, x + w/2]`` (MATLAB's ``x + w/2`` in 1-based
   pixels, i.e. the same formula in 0-based ones), size ``[h, w]``;
   ``s_z = sqrt((w + c(w+h)) (h + c(w+h)))``, ``s_x = instance/exemplar * s_z``
   (= ``s_z``: both crops are 255); the network is the ``_gray`` one when the
   first frame is grayscale (here: its three channels are equal - our frame
   sources give every image as BGR); padding colour = the first frame's
   channel means; exemplar crop -> template (correlation filter).
2. update: scale pyramid of the search region (sides ``round(s_x *
   scales)``), responses ``join_out`` (before the adjust layer) upsampled x8
   bicubic (MATLAB ``imresize``), scale penalty / window / peak
   (:mod:`siamtrack.tracker.pyramid`); centre += displacement (crop side
   ``s_x``: the middle scale's, as ``tracker_step.m``); ``s_x``, ``s_z``,
   size: ``(1 - scale_lr) * v + scale_lr * v * scale_best``, ``s_x`` and ``s_z``
   clamped to ``[0.2, 5]`` times their first value; a new exemplar crop at the
   new position gives a new filter, blended into the template with rate
   ``z_lr``.

Crops follow the reference: one region of side ``round(s * scale_max)``
around the target (``round`` = MATLAB's, halves away from zero; first pixel
``round(centre - (side + 1) / 2)``, padded with the mean colour) resized to
``round(255 * max / min)``, from which each scale's crop is cut and resized to
255; resizing = MATLAB ``imresize`` bicubic with antialiasing
(:func:`~siamtrack.tracker.pyramid.imresize_matrix`), in float32 on the
model's device. The frame is copied to the device once per frame; the score
maps come back once. Crops are RGB (MATLAB ``imread``), raw 0..255.

Boxes are ``[x, y, w, h]`` in 0-based pixels: ``[cx - w/2, cy - h/2, w, h]``
(the reference's output formula); not clipped to the image.
"""

from __future__ import annotations

import numpy as np
import torch

from siamtrack.tracker.base import Tracker, TrackResult, validate_box
from siamtrack.tracker.pyramid import (hann_window, imresize_matrix, peak_displacement, round_half_away,
                                       scale_factors, select_peak)
from siamtrack.tracker.registry import TRACKERS


def is_grayscale(frame: np.ndarray) -> bool:
    """Whether a ``(H, W, 3)`` frame carries no colour (all three channels equal)."""
    return frame.ndim == 2 or frame.shape[2] == 1 or (
        np.array_equal(frame[:, :, 0], frame[:, :, 1]) and np.array_equal(frame[:, :, 1], frame[:, :, 2]))


class CFNetTracker(Tracker):
    """``tracker.m`` (``corrfilt``) around a :class:`~siamtrack.models.cfnet.CFNetPair`.

    Args:
        model: the preset's colour / grayscale networks, on ``device``.
        cfg: the preset's ``track`` dict: ``exemplar_size``, ``instance_size``,
            ``context_amount``, ``scale_num``, ``scale_step``, ``scale_penalty``,
            ``scale_lr``, ``window_influence``, ``z_lr``, ``response_up``,
            ``total_stride``, ``min_scale_factor``, ``max_scale_factor``,
            ``lost_threshold`` (on the adjusted peak logit).
        device: torch device of the model.

    State: ``pos`` ``[cy, cx]`` and ``target_size`` ``[h, w]`` (float64, 0-based
    pixels), ``s_x``, ``s_z``; :attr:`center_pos` / :attr:`size` are the
    ``[cx, cy]`` / ``[w, h]`` view.
    """

    def __init__(self, model, cfg: dict, device="cpu"):
        self.model = model
        self.cfg = dict(cfg)
        self.device = torch.device(device)
        self.lost_threshold = float(cfg.get("lost_threshold", 0.0))
        self.scales = scale_factors(cfg["scale_step"], cfg["scale_num"])
        self.net = None
        self._resp_matrix = None

    @property
    def center_pos(self) -> np.ndarray:
        return self.pos[::-1].copy()

    @center_pos.setter
    def center_pos(self, value) -> None:
        self.pos = np.asarray(value, dtype=np.float64)[::-1].copy()

    @property
    def size(self) -> np.ndarray:
        return self.target_size[::-1].copy()

    @size.setter
    def size(self, value) -> None:
        self.target_size = np.asarray(value, dtype=np.float64)[::-1].copy()

    # ------------------------------------------------------------------ crops (get_subwindow_tracking.m)

    def _upload(self, frame: np.ndarray) -> torch.Tensor:
        """The frame as a ``(H, W, 3)`` uint8 tensor on the device: the frame's one host -> device copy."""
        return torch.from_numpy(frame).to(self.device)

    def _subwindow(self, img: torch.Tensor, pos, side: int, out_side: int, hwc: bool) -> torch.Tensor:
        """``get_subwindow_tracking``: the ``side`` x ``side`` region at ``pos`` ``(y, x)`` (0-based), padded with
        the mean colour, resized to ``out_side``; ``img`` is the uint8 BGR ``(H, W, 3)`` frame (``hwc``) or a
        float ``(3, H, W)`` RGB region. Returns ``(3, out_side, out_side)`` float32 RGB."""
        c = (side + 1) / 2
        # MATLAB's 1-based round(pos - c), back to 0-based (halves away from zero are not shift-invariant)
        y0, x0 = round_half_away(pos[0] + 1 - c) - 1, round_half_away(pos[1] + 1 - c) - 1
        h, w = (img.shape[0], img.shape[1]) if hwc else (img.shape[1], img.shape[2])
        iy0, ix0, iy1, ix1 = max(y0, 0), max(x0, 0), min(y0 + side, h), min(x0 + side, w)
        inside = iy1 > iy0 and ix1 > ix0
        if inside and (iy0, ix0, iy1, ix1) == (y0, x0, y0 + side, x0 + side):
            if hwc:
                patch = img[y0 : y0 + side, x0 : x0 + side].permute(2, 0, 1).flip(0).float()
            else:
                patch = img[:, y0 : y0 + side, x0 : x0 + side]
        else:
            patch = self._pad.expand(3, side, side).clone()
            if inside:
                part = img[iy0:iy1, ix0:ix1].permute(2, 0, 1).flip(0).float() if hwc else img[:, iy0:iy1, ix0:ix1]
                patch[:, iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = part
        if side != out_side:
            m = imresize_matrix(side, out_side, device=self.device)
            patch = m @ patch @ m.T
        return patch

    def _pyramid(self, frame_t: torch.Tensor, sides: np.ndarray, out_side: int, only=None) -> torch.Tensor:
        """``make_scale_pyramid.m``: ``(N, 3, out_side, out_side)`` crops of sides ``round(sides)`` around ``pos``
        (or only scale ``only``), all cut from one region resized to ``round(out_side * max / min)``."""
        in_sides = [int(v) for v in round_half_away(np.asarray(sides, dtype=np.float64))]
        big, small = in_sides[-1], in_sides[0]
        search_side = round_half_away(out_side * big / small)
        region = self._subwindow(frame_t, self.pos, big, search_side, hwc=True)
        centre = ((1 + search_side) / 2 - 1,) * 2  # 1-based (1 + side) / 2 -> 0-based
        ids = range(len(in_sides)) if only is None else [only]
        return torch.stack([self._subwindow(region, centre, round_half_away(out_side * in_sides[i] / small), out_side,
                                            hwc=False) for i in ids])

    # ------------------------------------------------------------------ tracking

    def init(self, frame: np.ndarray, box) -> None:
        """Set the target from ``box`` ``[x, y, w, h]`` (0-based) on the BGR ``frame``; picks the colour or the
        grayscale network from this frame and computes the first template.

        Raises:
            SiamtrackError: the box has zero size or lies outside the frame; the
                network this sequence needs (e.g. the ``_gray`` one) was not found.
        """
        cfg = self.cfg
        x, y, w, h = validate_box(box, frame.shape)
        self.net = self.model.select(is_grayscale(frame))
        self._reset_lost()
        self.pos = np.array([y + h / 2, x + w / 2])
        self.target_size = np.array([h, w], dtype=np.float64)
        ctx = cfg["context_amount"] * (w + h)
        self.s_z = float(np.sqrt((w + ctx) * (h + ctx)))
        self.s_x = cfg["instance_size"] / cfg["exemplar_size"] * self.s_z
        self.min_s_x, self.max_s_x = cfg["min_scale_factor"] * self.s_x, cfg["max_scale_factor"] * self.s_x
        self.min_s_z, self.max_s_z = cfg["min_scale_factor"] * self.s_z, cfg["max_scale_factor"] * self.s_z
        mean_bgr = frame.reshape(-1, 3).mean(0, dtype=np.float64)
        self._pad = torch.tensor(mean_bgr[::-1].copy(), dtype=torch.float32, device=self.device).view(3, 1, 1)
        frame_t = self._upload(frame)
        with torch.inference_mode():
            self.template = self.net.template(self._exemplar(frame_t))
        # score map side: search features (as large as the exemplar's: both crops are 255) - filter + 1 = 33
        size = self.net.window.shape[-1] - self.template.shape[-1] + 1
        self.upscale = size * cfg["response_up"]
        self._resp_matrix = imresize_matrix(size, self.upscale, device=self.device)
        self.window = hann_window(self.upscale, np.float32)

    def _exemplar(self, frame_t: torch.Tensor) -> torch.Tensor:
        """The exemplar crop: the middle scale of the pyramid at ``pos`` (``tracker.m`` ``z_crop(:,:,:,ceil(n/2))``)."""
        n = len(self.scales)
        return self._pyramid(frame_t, self.s_z * self.scales, self.cfg["exemplar_size"], only=n // 2)

    def update(self, frame: np.ndarray) -> TrackResult:
        """Track into ``frame``; ``score`` is the adjusted (logit) penalised peak of the chosen scale."""
        cfg = self.cfg
        frame_t = self._upload(frame)
        scaled_instance = self.s_x * self.scales
        with torch.inference_mode():
            crops = self._pyramid(frame_t, scaled_instance, cfg["instance_size"])
            responses = self.net.track(self.template, crops)[:, 0]
            m = self._resp_matrix  # imresize(r, response_up, 'bicubic'), on the device
            responses = (m @ responses @ m.T).cpu().numpy()  # the one device -> host copy
        best, loc, peak = select_peak(responses, cfg["scale_penalty"], self.window, cfg["window_influence"],
                                      column_major=True)
        new_pos = self.pos + peak_displacement(loc, self.upscale, cfg["total_stride"], cfg["response_up"], self.s_x,
                                               cfg["instance_size"])
        lr = cfg["scale_lr"]
        self.s_x = max(self.min_s_x, min(self.max_s_x, (1 - lr) * self.s_x + lr * scaled_instance[best]))
        self.pos = new_pos
        if cfg["z_lr"] > 0:
            scaled_exemplar = self.s_z * self.scales
            with torch.inference_mode():
                new = self.net.template(self._exemplar(frame_t))
                self.template = (1 - cfg["z_lr"]) * self.template + cfg["z_lr"] * new
            self.s_z = max(self.min_s_z, min(self.max_s_z, (1 - lr) * self.s_z + lr * scaled_exemplar[best]))
        self.target_size = (1 - lr) * self.target_size + lr * self.target_size * self.scales[best]
        (cy, cx), (h, w) = self.pos, self.target_size
        score = self.net.adjust_scale * peak + self.net.adjust_bias
        return TrackResult(box=np.array([cx - w / 2, cy - h / 2, w, h], dtype=np.float64), score=float(score),
                           lost=self._flag_lost(score), extra={"scale_id": best})


@TRACKERS.register("cfnet")
def cfnet(model, cfg: dict, device="cpu") -> CFNetTracker:
    """CFNet tracker factory (presets ``cfnet-conv1``, ``cfnet-conv2``)."""
    return CFNetTracker(model, cfg, device)

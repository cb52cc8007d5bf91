"""SiamFC tracker (Bertinetto et al., "Fully-Convolutional Siamese Networks for Object Tracking", ECCV-W 2016).

Per-frame algorithm of huanglianghua/siamfc-pytorch ``siamfc/siamfc.py``
``TrackerSiamFC`` (reproduced step by step, with its float32 / float64
dtypes, so one step gives the reference's box; see
``tests/test_siamfc_parity.py``):

1. init: centre ``[y + (h-1)/2, x + (w-1)/2]`` and size ``[h, w]`` (float32);
   exemplar side ``z_sz = sqrt(prod(size + context * sum(size)))``, search
   side ``x_sz = z_sz * instance_sz / exemplar_sz``; exemplar crop of side
   ``round(z_sz)`` resized to 127, padded with the first frame's mean colour;
   the template branch runs once.
2. update: one search crop per scale factor (``x_sz * f``, resized to 255),
   the three crops in one batch; responses ``(3, 17, 17)`` upsampled x16
   bicubic; scale penalty, peak, Hann window blend, displacement
   (:mod:`siamtrack.tracker.pyramid`); the centre moves by the displacement
   and size, ``z_sz`` and ``x_sz`` are multiplied by
   ``(1 - scale_lr) + scale_lr * f_best``.

Crops (siamfc-pytorch ``siamfc/ops.py`` ``crop_and_resize``): side
``round(s)`` (half to even), first pixel ``np.round(centre - (side - 1) / 2)``
in float32, padding with the mean colour rounded as ``cv2.copyMakeBorder``
does, bilinear resize. The reference feeds **RGB** crops (frames read with
``cv2.cvtColor(BGR2RGB)``), raw 0..255: this tracker takes BGR frames as every
siamtrack tracker and reverses the channels of its crops
(``cfg["colour"] == "rgb"``).

Boxes are ``[x, y, w, h]`` in 0-based pixels (the reference's 1-based got10k
boxes minus 1); the box is not clipped to the image (as the reference).
"""

from __future__ import annotations

import numpy as np
import torch

from siamtrack.tracker.base import Tracker, TrackResult, validate_box
from siamtrack.tracker.crop import crop_square
from siamtrack.tracker.pyramid import hann_window, peak_displacement, scale_factors, select_peak, upsample_cv2
from siamtrack.tracker.registry import TRACKERS


class SiamFCTracker(Tracker):
    """siamfc-pytorch's tracker around a model with ``template(z)`` / ``track(kernel, x) -> (N, 1, 17, 17)``.

    Args:
        model: e.g. :class:`~siamtrack.models.siamese.SiameseModel` with the
            ``alexnet_v1`` backbone and the ``siamfc`` head, on ``device``.
        cfg: the preset's ``track`` dict: ``exemplar_sz``, ``instance_sz``,
            ``context``, ``scale_num``, ``scale_step``, ``scale_lr``,
            ``scale_penalty``, ``window_influence``, ``response_sz``,
            ``response_up``, ``total_stride`` (siamfc-pytorch ``parse_args``
            names and values), ``colour`` (``rgb`` or ``bgr``) and
            ``lost_threshold`` (on the penalised peak logit).
        device: torch device of the model.

    State (as the reference): ``center`` ``[cy, cx]`` and ``target_sz``
    ``[h, w]`` float32 0-based pixels, ``x_sz`` / ``z_sz`` scalars;
    :attr:`center_pos` / :attr:`size` give the siamtrack ``[cx, cy]`` /
    ``[w, h]`` view of the same state.
    """

    def __init__(self, model, cfg: dict, device="cpu"):
        self.model = model
        self.cfg = dict(cfg)
        self.device = torch.device(device)
        self.lost_threshold = float(cfg.get("lost_threshold", 0.0))
        self.scale_factors = scale_factors(cfg["scale_step"], cfg["scale_num"])
        self.upscale_sz = cfg["response_up"] * cfg["response_sz"]
        self.hann_window = hann_window(self.upscale_sz)
        self.rgb = cfg.get("colour", "rgb") == "rgb"
        self._kernel = None

    # siamtrack's state view ([cx, cy], [w, h]); setting it restores the reference state.
    @property
    def center_pos(self) -> np.ndarray:
        return self.center[::-1].astype(np.float64)

    @center_pos.setter
    def center_pos(self, value) -> None:
        self.center = np.asarray(value, dtype=np.float32)[::-1].copy()

    @property
    def size(self) -> np.ndarray:
        return self.target_sz[::-1].astype(np.float64)

    @size.setter
    def size(self, value) -> None:
        self.target_sz = np.asarray(value, dtype=np.float32)[::-1].copy()

    def _crop(self, frame: np.ndarray, side, out_size: int) -> np.ndarray:
        """siamfc-pytorch ``crop_and_resize`` around ``self.center``; channels reversed when the model wants RGB."""
        side = round(side)
        y0, x0 = np.round(self.center - (side - 1) / 2).astype(int)
        patch = crop_square(frame, int(x0), int(y0), side, out_size, self.pad)
        return patch[:, :, ::-1] if self.rgb else patch

    def init(self, frame: np.ndarray, box) -> None:
        """Set the target from ``box`` ``[x, y, w, h]`` (0-based) on the BGR ``frame``; runs the template branch.

        Raises:
            SiamtrackError: the box has zero size or lies outside the frame.
        """
        cfg = self.cfg
        x, y, w, h = validate_box(box, frame.shape)
        self._reset_lost()
        state = np.array([y + (h - 1) / 2, x + (w - 1) / 2, h, w], dtype=np.float32)
        self.center, self.target_sz = state[:2], state[2:]
        context = cfg["context"] * np.sum(self.target_sz)
        self.z_sz = np.sqrt(np.prod(self.target_sz + context))
        self.x_sz = self.z_sz * cfg["instance_sz"] / cfg["exemplar_sz"]
        self.pad = tuple(float(v) for v in np.mean(frame, axis=(0, 1)))  # frame (BGR) order, crops are BGR first
        z = self._crop(frame, self.z_sz, cfg["exemplar_sz"])
        self._kernel = self.model.template(np.ascontiguousarray(z[None]))

    def update(self, frame: np.ndarray) -> TrackResult:
        """Track into ``frame``; ``score`` is the chosen scale's penalised peak response (a logit)."""
        cfg = self.cfg
        crops = np.stack([self._crop(frame, self.x_sz * f, cfg["instance_sz"]) for f in self.scale_factors])
        responses = self.model.track(self._kernel, crops)[:, 0]  # (3, 17, 17) float32: one backend call
        responses = upsample_cv2(responses, self.upscale_sz)
        scale_id, loc, score = select_peak(responses, cfg["scale_penalty"], self.hann_window,
                                           cfg["window_influence"])
        self.center += peak_displacement(loc, self.upscale_sz, cfg["total_stride"], cfg["response_up"], self.x_sz,
                                         cfg["instance_sz"], self.scale_factors[scale_id])
        scale = (1 - cfg["scale_lr"]) * 1.0 + cfg["scale_lr"] * self.scale_factors[scale_id]
        self.target_sz *= scale
        self.z_sz *= scale
        self.x_sz *= scale
        cy, cx = self.center
        h, w = self.target_sz
        box = np.array([cx - (w - 1) / 2, cy - (h - 1) / 2, w, h], dtype=np.float64)
        return TrackResult(box=box, score=score, lost=self._flag_lost(score), extra={"scale_id": scale_id})


@TRACKERS.register("siamfc")
def siamfc(model, cfg: dict, device="cpu") -> SiamFCTracker:
    """SiamFC tracker factory (preset ``siamfc``)."""
    return SiamFCTracker(model, cfg, device)

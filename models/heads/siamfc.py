"""SiamFC head: cross-correlation of exemplar and search features, times a constant.

huanglianghua/siamfc-pytorch ``siamfc/heads.py`` ``SiamFC``:
``response = xcorr(z, x) * out_scale`` with ``out_scale = 0.001`` (the
reference's ``cfg.out_scale``; it only rescales the logits for the training
loss). There are no parameters, so the checkpoint has no ``head.*`` keys.

Shapes: ``zf`` ``(Bz, C, 6, 6)`` (exemplar 127), ``xf`` ``(Bx, C, 22, 22)``
(search 255) -> response ``(Bx, 1, 17, 17)`` float32. ``Bz`` is ``Bx``
(one exemplar per search image, training pairs) or 1 (one exemplar for a
whole scale pyramid, tracking), as the reference's ``_fast_xcorr`` allows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from siamtrack.models.registry import HEADS
from siamtrack.models.xcorr import xcorr_fast


class SiamFCHead(nn.Module):
    """``out_scale * xcorr(zf, xf)``; ``template`` / ``track`` split for tracking (template computed once)."""

    def __init__(self, out_scale: float = 0.001):
        super().__init__()
        self.out_scale = float(out_scale)

    def forward(self, zf: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
        """Reference path: :func:`~siamtrack.models.xcorr.xcorr_fast` (one grouped conv). ``zf`` ``(N, C, h, w)``
        for N targets, ``xf`` ``(S*N, C, H, W)``: S search images per target, scale-major and target-minor (image
        ``j`` is correlated with target ``j % N``, as siamfc-pytorch's ``_fast_xcorr`` folds the batch); an
        exemplar batch of 1 is broadcast."""
        if zf.shape[0] != xf.shape[0] and xf.shape[0] % zf.shape[0] == 0:
            zf = zf.repeat(xf.shape[0] // zf.shape[0], 1, 1, 1)
        return xcorr_fast(xf, zf) * self.out_scale

    def template(self, zf: torch.Tensor) -> torch.Tensor:
        """The exemplar features themselves are the correlation kernel (siamfc-pytorch ``self.kernel``)."""
        return zf

    def track(self, kernel: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
        """Correlate every search image of ``xf`` (e.g. the 3 scales) with the one kernel ``(1, C, h, w)``:
        a single convolution, the same numbers as :func:`~siamtrack.models.xcorr.xcorr_naive` per sample."""
        if kernel.shape[0] != 1:
            return self.forward(kernel, xf)
        return F.conv2d(xf, kernel) * self.out_scale


@HEADS.register("siamfc")
def siamfc(out_scale: float = 0.001) -> SiamFCHead:
    """SiamFC cross-correlation head (siamfc-pytorch ``SiamFC(out_scale)``)."""
    return SiamFCHead(out_scale)

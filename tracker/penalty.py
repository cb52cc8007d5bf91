"""Post-processing shared by the anchor / point based Siamese trackers.

Formulas from pysot ``pysot/tracker/siamrpn_tracker.py`` (also NanoTrack's
``nano_tracker.py``), after Li et al., "High Performance Visual Tracking with
Siamese Region Proposal Network", CVPR 2018, eq. 13-14:

* size with context ``sz(w, h) = sqrt((w + p)(h + p))``, ``p = (w + h) / 2``;
* scale change ``s_c = max(r, 1/r)`` of ``sz(pred) / sz(target)``; aspect-ratio
  change ``r_c`` likewise of ``(w/h)_target / (w/h)_pred``;
* penalty ``exp(-(r_c * s_c - 1) * penalty_k)``;
* cosine window ``outer(hanning(S), hanning(S))`` blended with weight
  ``window_influence``.

Array dtypes are kept as the reference's numpy code has them (float32 network
outputs promoted by float64 state), so decisions match it bit for bit.
"""

from __future__ import annotations

import numpy as np


def change(r):
    """``max(r, 1/r)``: the symmetric size / ratio change factor (>= 1)."""
    return np.maximum(r, 1.0 / r)


def size_with_context(w, h):
    """``sqrt((w + p) * (h + p))`` with ``p = (w + h) / 2`` (pysot ``sz``)."""
    pad = (w + h) * 0.5
    return np.sqrt((w + pad) * (h + pad))


def scale_ratio_penalty(pred_w, pred_h, target_w, target_h, penalty_k: float):
    """Penalty for each candidate box ``(pred_w, pred_h)`` vs the target size (both in crop pixels)."""
    s_c = change(size_with_context(pred_w, pred_h) / size_with_context(target_w, target_h))
    r_c = change((target_w / target_h) / (pred_w / pred_h))
    return np.exp(-(r_c * s_c - 1) * penalty_k)


def cosine_window(score_size: int, repeat: int = 1) -> np.ndarray:
    """Flattened ``outer(hanning(S), hanning(S))`` (float64, length ``S*S*repeat``; repeat = anchors per cell)."""
    hanning = np.hanning(score_size)
    return np.tile(np.outer(hanning, hanning).ravel(), repeat)

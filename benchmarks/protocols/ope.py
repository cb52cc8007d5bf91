"""One-pass evaluation (OPE): initialise on frame 0 with the sequence's box, then track every frame.

Used by OTB (Wu et al., "Online Object Tracking: A Benchmark", CVPR 2013;
got10k ``ExperimentOTB.run`` / ``Tracker.track``), GOT-10k (got10k
``ExperimentGOT10k.run``) and the VOT unsupervised experiment (got10k
``ExperimentVOT.run_unsupervised``). The box of frame 0 is the init box.
"""

from __future__ import annotations

import numpy as np

from siamtrack.benchmarks.protocols import one_pass, read_frame

__all__ = ["run_ope"]


def run_ope(tracker, seq, progress: bool = False, reader=read_frame):
    """Track ``seq`` in one pass.

    Returns:
        ``(boxes, times, regions)``: ``(N, 4)`` float64 ``[x, y, w, h]``
        (row 0 = ``seq.init_box``), ``(N,)`` float64 seconds in ``init`` /
        ``update``, and per frame the tracker's region: its ``polygon``
        (8 numbers) when its ``TrackResult`` has one, else the box.

    Raises:
        SiamtrackError: a frame cannot be read, or the init box is rejected.
    """
    n = len(seq)
    boxes = np.zeros((n, 4))
    times = np.zeros(n)
    regions = []
    for i, _, r, seconds in one_pass(tracker, seq, progress, reader):
        times[i] = seconds
        if r is None:
            boxes[0] = seq.init_box
            regions.append(boxes[0].copy())
        else:
            boxes[i] = np.asarray(r.box, dtype=np.float64).ravel()[:4]
            poly = getattr(r, "polygon", None)
            regions.append(boxes[i].copy() if poly is None else np.asarray(poly, dtype=np.float64).ravel())
    return boxes, times, regions

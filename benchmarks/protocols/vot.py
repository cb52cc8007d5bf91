"""VOT supervised ("baseline") experiment: track, detect failures, re-initialise.

got10k ``experiments/vot.py`` ``ExperimentVOT.run_supervised`` and pysot
``tools/test.py`` (VOT branch), after the VOT toolkit: the tracker is
initialised on frame 0 (code ``1``); on each later frame its region is
compared with the ground truth: when its overlap is at most 0 (vot-toolkit
0.9.0 ``vot/experiment/multirun.py`` ``SupervisedExperiment.execute``: the
toolkit's raster overlap bounded by the image,
:func:`siamtrack.benchmarks.measures.vot.is_failure`) the frame is a failure
(code ``2``), the next ``skip - 1`` frames are not tracked
(code ``0``) and the tracker is re-initialised ``skip = 5`` frames after the
failure (code ``1``). The region recorded is the tracker's polygon when its
``TrackResult`` has one (SiamMask), else its box. Initial boxes come from the
ground-truth region at that frame (``seq.init_box`` rule: pysot's
area-preserving axis-aligned box).
"""

from __future__ import annotations

import time

import numpy as np

from siamtrack.benchmarks.datasets.base import image_size
from siamtrack.benchmarks.measures.vot import SKIPPING, is_failure
from siamtrack.benchmarks.protocols import frame_progress, read_frame, same_size
from siamtrack.boxes import axis_aligned_init_box

__all__ = ["run_baseline"]


def run_baseline(tracker, seq, skip: int = SKIPPING, progress: bool = False, reader=read_frame):
    """Run the supervised experiment once on ``seq``.

    Returns:
        ``(trajectory, times)``: per frame a float64 array (``[1.]``, ``[2.]``,
        ``[0.]`` or the region), and ``(N,)`` seconds in ``init`` / ``update``
        (``nan`` on frames where the tracker did not run).

    Raises:
        SiamtrackError: a frame cannot be read, or has another size than the first one read.
    """
    n = len(seq)
    size = image_size(seq)
    reader = same_size(reader)
    trajectory = []
    times = np.full(n, np.nan)
    next_start = 0
    bar = frame_progress(seq, progress)
    try:
        for i, path in enumerate(seq.frames):
            if i < next_start:
                trajectory.append(np.array([0.0]))
            else:
                frame = reader(path)
                t0 = time.perf_counter()
                if i == next_start:
                    box = seq.init_box if i == 0 else axis_aligned_init_box(seq.groundtruth[i])
                    tracker.init(frame, box)
                    times[i] = time.perf_counter() - t0
                    trajectory.append(np.array([1.0]))
                else:
                    r = tracker.update(frame)
                    times[i] = time.perf_counter() - t0
                    poly = getattr(r, "polygon", None)
                    region = np.asarray(r.box if poly is None else poly, dtype=np.float64).ravel()
                    if not is_failure(region, seq.groundtruth[i], size):
                        trajectory.append(region)
                    else:
                        trajectory.append(np.array([2.0]))
                        next_start = i + skip
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return trajectory, times

"""Timing shared by the speed benchmark (:mod:`.speed`): the whole ``tracker.update`` on frames held in memory,
trackers run in alternating rounds, and the time to first frame."""

from __future__ import annotations

import time

import numpy as np

WARMUP = 2


def time_round(tracker, frames: list, box, n: int, warmup: int = WARMUP) -> tuple[float, np.ndarray]:
    """One round: ``init(frames[0], box)``, ``warmup`` untimed updates, then ``n`` timed updates.

    Returns ``(seconds of the n timed updates, (n, 4) boxes they returned)``."""
    tracker.init(frames[0], box)
    for f in frames[1:1 + warmup]:
        tracker.update(f)
    boxes = []
    total = 0.0
    for f in frames[1 + warmup:1 + warmup + n]:
        t0 = time.perf_counter()
        result = tracker.update(f)
        total += time.perf_counter() - t0
        boxes.append(np.asarray(result.box, dtype=np.float64)[:4])
    return total, np.array(boxes)


def alternate(trackers: dict, frames: list, box, rounds: int, n: int, warmup: int = WARMUP) -> dict:
    """Each tracker once per round, in turn, ``rounds`` times (``warmup`` untimed + ``n`` timed updates).

    Returns ``name -> {"seconds": [per round], "boxes": boxes of the last round}``."""
    out = {k: {"seconds": [], "boxes": None} for k in trackers}
    for _ in range(rounds):
        for k, tracker in trackers.items():
            seconds, boxes = time_round(tracker, frames, box, n, warmup)
            out[k]["seconds"].append(seconds)
            out[k]["boxes"] = boxes
    return out


def time_to_first_frame(make, frames: list, box) -> float:
    """Seconds from ``make()`` (building the tracker) to the result of the first ``update`` after ``init``."""
    t0 = time.perf_counter()
    tracker = make()
    tracker.init(frames[0], box)
    tracker.update(frames[1])
    return time.perf_counter() - t0

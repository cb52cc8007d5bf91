"""Timing shared by the speed scripts: best-of-N rounds of ``tracker.update`` on frames held in memory."""

from __future__ import annotations

import time


def best_fps(tracker, frames: list, box, rounds: int, warmup: int = 4, first: int = 5, last: int = 40) -> float:
    """Frames per second of ``tracker.update`` over ``frames[first:last]``, best of ``rounds`` rounds.

    Each round: ``init(frames[0], box)`` (0-based ``[x, y, w, h]``), ``warmup`` untimed updates on
    ``frames[1:1 + warmup]``, then the timed updates (``time.perf_counter``).
    """
    timed = frames[first:last]
    best = float("inf")
    for _ in range(rounds):
        tracker.init(frames[0], box)
        for f in frames[1:1 + warmup]:
            tracker.update(f)
        t0 = time.perf_counter()
        for f in timed:
            tracker.update(f)
        best = min(best, time.perf_counter() - t0)
    return len(timed) / best

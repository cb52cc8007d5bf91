"""Keyboard control of a run shown in a window: new target, pause, snapshot, quit, and frame pacing.

Keys (a legend says so at the bottom of the window):

* ``r``: pause and draw a new target on the current frame (the tracker is
  re-initialised on it; ``q`` / Esc during the drawing quits);
* ``p``: pause / resume (``r``, ``s`` and ``q`` still work while paused);
* ``s``: save the shown frame (box, score and status drawn) as a PNG into the
  snapshot folder;
* ``q`` or Esc (or closing the window): quit; the outputs written so far are kept.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from siamtrack.runner.atomic import atomic_path
from siamtrack.runner.legend import draw_legend
from siamtrack.runner.select import select_box

QUIT_KEYS = (ord("q"), ord("Q"), 27)  # q, Esc
LEGEND = "r: new target   p: pause   s: snapshot   q/Esc: quit"
PAUSED_LEGEND = "PAUSED   p: resume   r: new target   s: snapshot   q/Esc: quit"


@dataclass
class Command:
    """What the user asked for on a frame: ``quit``, or a new target ``box`` ``[x, y, w, h]`` (0-based
    pixels, float64) drawn on that frame; both empty when tracking just goes on."""

    quit: bool = False
    box: np.ndarray | None = None


class LiveControls:
    """Shows each frame, reads the keyboard and paces the display.

    Args:
        window: the :class:`~siamtrack.runner.sinks.Window` frames are shown in.
        snapshot_dir: folder for ``s`` snapshots (created on the first one);
            files ``snapshot-<frame:05d>.png`` (1-based frame number), written
            atomically.
        pace_fps: show at most this many frames per second (a video or a
            folder played in real time); ``None`` shows them as fast as they
            are tracked.
    """

    def __init__(self, window, snapshot_dir: str | os.PathLike = ".", pace_fps: float | None = None):
        self.window = window
        self.snapshot_dir = Path(snapshot_dir)
        self.period = 1.0 / pace_fps if pace_fps else 0.0
        self._last_shown = None
        self.snapshots: list[Path] = []

    def _wait_ms(self) -> int:
        if not self.period or self._last_shown is None:
            return 1
        remaining = self.period - (time.perf_counter() - self._last_shown)
        return max(1, int(round(remaining * 1000)))

    def snapshot(self, shown: np.ndarray, index: int) -> Path:
        """Write ``shown`` (BGR uint8) as ``snapshot-<index:05d>.png``; returns the path."""
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        path = self.snapshot_dir / f"snapshot-{index:05d}.png"
        with atomic_path(str(path)) as tmp:
            if not cv2.imwrite(tmp, shown):
                raise OSError(f"{path}: cannot write the snapshot")
        self.snapshots.append(path)
        return path

    def frame(self, raw: np.ndarray, shown: np.ndarray, index: int) -> Command:
        """Show ``shown`` (``raw`` with the tracking overlay), handle the keys pressed meanwhile.

        Args:
            raw: the frame as decoded (a new target is drawn on it).
            shown: the frame with the overlay; the legend is drawn on a copy.
            index: 1-based frame number (snapshot names).

        Returns:
            The :class:`Command`; blocks while paused.
        """
        paused = False
        key = self.window.show(draw_legend(shown.copy(), LEGEND), wait_ms=self._wait_ms())
        self._last_shown = time.perf_counter()
        while True:
            if self.window.is_closed() or key in QUIT_KEYS:
                return Command(quit=True)
            if key in (ord("s"), ord("S")):
                self.snapshot(shown, index)
            elif key in (ord("r"), ord("R")):
                box = select_box(raw, self.window)
                self._last_shown = time.perf_counter()
                return Command(quit=True) if box is None else Command(box=box)
            elif key in (ord("p"), ord("P")):
                paused = not paused
            if not paused:
                return Command()
            key = self.window.show(draw_legend(shown.copy(), PAUSED_LEGEND), wait_ms=30)
            self._last_shown = time.perf_counter()

"""The runner: feeds frames from a source to a tracker and to sinks (window, video writer, box file).

Sinks are committed only when the run ends normally (or the user quits with
``q`` / Esc); on any error nothing half-written is left behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from siamtrack.errors import SiamtrackError
from siamtrack.runner.sinks import BoxWriter, VideoSink, Window, draw_overlay, has_display
from siamtrack.tracker.base import validate_box

QUIT_KEYS = (ord("q"), 27)  # q, Esc


@dataclass
class RunSummary:
    """What a run did: frames processed (init frame included), tracker time and wall time (seconds)."""

    frames: int = 0
    updates: int = 0
    track_seconds: float = 0.0
    wall_seconds: float = 0.0
    boxes: list = field(default_factory=list)
    scores: list = field(default_factory=list)

    @property
    def tracker_fps(self) -> float:
        """Frames per second of ``tracker.update`` alone (the init frame excluded)."""
        return self.updates / self.track_seconds if self.track_seconds > 0 else float("nan")

    @property
    def wall_fps(self) -> float:
        """Frames per second including decoding, drawing and writing."""
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else float("nan")


def parse_box(text: str) -> np.ndarray:
    """``"x,y,w,h"`` (0-based pixels, commas or spaces) -> float64 array; SiamtrackError when malformed."""
    parts = text.replace(",", " ").split()
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4:
        raise SiamtrackError(f"--init {text!r}: expected four numbers x,y,w,h")
    return np.array(values, dtype=np.float64)


def run_tracking(source, make_tracker, init_box=None, output: str | None = None, save_boxes: str | None = None,
                 show: bool = True, label: str | None = None, progress: bool = True) -> RunSummary:
    """Track through ``source`` and feed the sinks.

    Args:
        source: an opened :class:`~siamtrack.runner.sources.FrameSource`.
        make_tracker: zero-argument callable returning the tracker; called
            after the first frame and the init box are validated, so input
            errors surface before the model is loaded.
        init_box: ``[x, y, w, h]`` 0-based pixels, or None to draw it with the mouse.
        output: video file written with the box, score and fps drawn.
        save_boxes: text file, one ``x,y,w,h`` line per frame, the init box first.
        show: show a window (needs a display).
        label: text shown in the status line (the model name).

    Raises:
        SiamtrackError: no frames, a bad init box, or no box and no display.
    """
    frames = iter(source)
    try:
        first = next(frames)
    except StopIteration:
        raise SiamtrackError(f"{source.name}: no frames") from None
    show = show and has_display()
    window = Window(f"siamtrack - {label}" if label else "siamtrack") if show else None
    if init_box is None:
        if window is None:
            raise SiamtrackError(f"{source.name}: no --init box given and no display to draw one on "
                                 f"(give --init x,y,w,h)")
        from siamtrack.runner.select import select_box

        init_box = select_box(first, window.name)
    init_box = validate_box(init_box, first.shape, "--init box")
    tracker = make_tracker()

    box_writer = BoxWriter(save_boxes) if save_boxes else None
    video = VideoSink(output, source.fps, (first.shape[1], first.shape[0])) if output else None
    summary = RunSummary()
    ok = False
    # disable=None: tqdm shows the bar only on a terminal, so logs and captured stderr stay clean.
    bar = tqdm(total=source.frame_count, unit="frame", disable=None if progress else True, dynamic_ncols=True)
    t_start = time.perf_counter()
    try:
        tracker.init(first, init_box)
        box, score, fps, lost = init_box, None, None, False
        frame = first
        while True:
            summary.frames += 1
            summary.boxes.append(np.asarray(box, dtype=np.float64))
            summary.scores.append(score)
            if box_writer:
                box_writer.write(box)
            if video or window:
                draw_overlay(frame, box, score, fps, lost=lost, label=label)
            if video:
                video.write(frame)
            bar.update(1)
            if window:
                key = window.show(frame)
                if key in QUIT_KEYS or window.is_closed():
                    break
            frame = next(frames, None)
            if frame is None:
                break
            t0 = time.perf_counter()
            result = tracker.update(frame)
            dt = time.perf_counter() - t0
            summary.track_seconds += dt
            summary.updates += 1
            box, score, lost = result.box, result.score, result.lost
            fps = 1.0 / dt if fps is None else 0.9 * fps + 0.1 / dt
            bar.set_postfix_str(f"{summary.tracker_fps:.1f} fps", refresh=False)
        ok = True
    finally:
        summary.wall_seconds = time.perf_counter() - t_start
        if not ok:
            bar.leave = False  # the error line replaces the bar
        bar.close()
        if box_writer:
            box_writer.close(ok)
        if video:
            video.close(ok)
        if window:
            window.close()
    return summary

"""The runner: feeds frames from a source to a tracker and to sinks (window, video writer, box file).

How a run ends decides what is kept: at the end of the source, when the user
quits (``q`` / Esc, closing the window), when a camera stops, when the
decoder of a truncated video stops, and on SIGINT (Ctrl-C), SIGTERM or
SIGHUP (under :func:`~siamtrack.runner.interrupts.handle_signals`), every
sink is committed with the frames finished so far; only an error discards
them, leaving nothing half-written behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from siamtrack.errors import SiamtrackError
from siamtrack.runner.interrupts import Interrupted, deferred
from siamtrack.runner.live import LiveControls
from siamtrack.runner.select import select_box
from siamtrack.runner.sinks import BoxWriter, MaskWriter, VideoSink, Window, draw_mask, draw_overlay, has_display
from siamtrack.tracker.base import validate_box


@dataclass
class RunSummary:
    """How a run went, as running figures only (memory stays flat however long the run).

    Attributes:
        frames: frames finished, i.e. written to every sink (the init frame included).
        updates: ``tracker.update`` calls; ``track_seconds``: their total time;
            ``wall_seconds``: the whole run's (seconds).
        last_box: the last frame's ``[x, y, w, h]`` (0-based pixels, float64); ``last_score`` its score.
        lost_frames: frames on which the target was reported lost.
        interrupted: the :class:`~siamtrack.runner.interrupts.Interrupted` (SIGINT, SIGTERM, SIGHUP) that
            ended the run, with every sink committed; ``None`` otherwise.
        quit: the user quit with ``q`` / Esc (or closed the window).
        incomplete: the source's message when a video's decoder stopped before the container's frame
            count (truncated or corrupt file); the frames before are valid and were committed.
    """

    frames: int = 0
    updates: int = 0
    track_seconds: float = 0.0
    wall_seconds: float = 0.0
    last_box: np.ndarray | None = None
    last_score: float | None = None
    lost_frames: int = 0
    interrupted: Interrupted | None = None
    quit: bool = False
    incomplete: str | None = None

    @property
    def tracker_fps(self) -> float:
        """Frames per second of ``tracker.update`` alone (the init frame excluded)."""
        return self.updates / self.track_seconds if self.track_seconds > 0 else float("nan")

    @property
    def wall_fps(self) -> float:
        """Frames per second including decoding, drawing and writing."""
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else float("nan")


def parse_box(text: str) -> np.ndarray:
    """``"x,y,w,h"`` (0-based pixels, commas or spaces) -> float64 array.

    Raises:
        SiamtrackError: not four numbers, or one of them nan / inf; the message quotes ``text`` as given.
    """
    parts = text.replace(",", " ").split()
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4:
        raise SiamtrackError(f"--init {text!r}: expected four numbers x,y,w,h")
    if not all(np.isfinite(values)):
        raise SiamtrackError(f"--init {text!r}: expected four finite numbers x,y,w,h (not nan or inf)")
    return np.array(values, dtype=np.float64)


def box_polygon(box) -> np.ndarray:
    """Corners of ``[x, y, w, h]`` as a polygon ``[x, y, x+w, y, x+w, y+h, x, y+h]`` (float64)."""
    x, y, w, h = np.asarray(box, dtype=np.float64).ravel()
    return np.array([x, y, x + w, y, x + w, y + h, x, y + h])


def box_mask(box, shape) -> np.ndarray:
    """``(H, W)`` bool mask of the box ``[x, y, w, h]`` (0-based pixels): pixel ``(i, j)`` (row, column) is set
    when its centre ``(j + 0.5, i + 0.5)`` lies in ``[x, x+w) x [y, y+h)``, i.e. columns ``x .. x+w-1`` and
    rows ``y .. y+h-1`` for an integer box."""
    x, y, w, h = np.asarray(box, dtype=np.float64).ravel()
    mask = np.zeros(shape[:2], dtype=bool)
    x0, y0 = max(0, int(np.ceil(x - 0.5))), max(0, int(np.ceil(y - 0.5)))
    x1, y1 = max(0, int(np.ceil(x + w - 0.5))), max(0, int(np.ceil(y + h - 0.5)))
    mask[y0:y1, x0:x1] = True
    return mask


def run_tracking(source, make_tracker, init_box=None, output: str | None = None, save_boxes: str | None = None,
                 show: bool = True, label: str | None = None, progress: bool = True,
                 save_masks: str | None = None, polygons: bool = False, pace_fps: float | None = None,
                 snapshot_dir: str = ".") -> RunSummary:
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
        save_masks: folder for one PNG mask per frame (``00001.png`` ..., 0/255,
            frame size; the first frame's is the init box), see
            :class:`~siamtrack.runner.sinks.MaskWriter`. Mask trackers only.
        polygons: ``save_boxes`` gets 8-number polygons ``x1,y1,...,x4,y4`` (the
            mask tracker's rotated box; the init box's corners first). Mask trackers only.

        pace_fps: with a window, show at most this many frames per second (a
            video or folder played in real time); ``None``: as fast as tracked.
        snapshot_dir: folder of the ``s`` key's PNG snapshots.

    With a window the keyboard controls the run (:mod:`siamtrack.runner.live`):
    ``r`` draws a new target on the current frame (the tracker restarts from
    it and that frame's saved box is the drawn one), ``p`` pauses, ``s``
    saves a snapshot, ``q`` / Esc quits keeping everything written so far.

    With a mask tracker (results with ``binary_mask`` / ``polygon``) the window
    and ``output`` show the mask tinted and the rotated box.

    Returns:
        The :class:`RunSummary`. A run ended by a signal (``summary.interrupted``)
        or by a truncated video (``summary.incomplete``) returns normally with
        every sink committed: the caller decides the exit code.

    Raises:
        SiamtrackError: no frames, a bad init box, no box and no display, a
            frame of another size than the first (nothing is then written), or
            ``save_masks`` / ``polygons`` with a tracker that gives no masks.
        Interrupted: a signal before tracking started (nothing written).
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
        init_box = select_box(first, window)
        if init_box is None:
            window.close()
            raise SiamtrackError(f"{source.name}: no target box drawn (selection cancelled)")
    init_box = validate_box(init_box, first.shape, "--init box")
    tracker = make_tracker()

    summary = RunSummary()
    with deferred():  # a signal while the sinks open: none is left half-made
        box_writer = BoxWriter(save_boxes, n_values=8 if polygons else 4) if save_boxes else None
        mask_writer = MaskWriter(save_masks) if save_masks else None
        video = VideoSink(output, source.fps, (first.shape[1], first.shape[0])) if output else None
    controls = LiveControls(window, snapshot_dir, pace_fps) if window else None
    ok = False
    # disable=None: tqdm shows the bar only on a terminal, so logs and captured stderr stay clean.
    bar = tqdm(total=source.frame_count, unit="frame", disable=None if progress else True, dynamic_ncols=True)
    t_start = time.perf_counter()
    try:
        tracker.init(first, init_box)
        box, score, fps, lost = init_box, None, None, False
        mask, polygon = (box_mask(init_box, first.shape) if mask_writer else None), box_polygon(init_box)
        rotated = None  # the tracker's rotated box (mask trackers), drawn instead of the axis-aligned one
        frame = first
        while True:
            command = None
            if controls:
                shown = frame.copy()
                if rotated is not None:
                    draw_mask(shown, mask, rotated, lost=lost)
                draw_overlay(shown, box if rotated is None else None, score, fps, lost=lost, label=label)
                command = controls.frame(frame, shown, summary.frames + 1)
                if command.box is not None:  # a new target drawn on this frame: restart from it
                    tracker.init(frame, command.box)
                    box, score, lost, rotated = command.box, None, False, None
                    mask = box_mask(box, frame.shape) if mask_writer else None
                    polygon = box_polygon(box)
            with deferred():  # one frame goes to every sink, or to none
                if box_writer:
                    box_writer.write(polygon if polygons else box)
                if mask_writer:
                    mask_writer.write(mask)
                if video:
                    if rotated is not None:
                        draw_mask(frame, mask, rotated, lost=lost)
                    draw_overlay(frame, box if rotated is None else None, score, fps, lost=lost, label=label)
                    video.write(frame)
                summary.frames += 1
                summary.last_box, summary.last_score = np.asarray(box, dtype=np.float64), score
                summary.lost_frames += bool(lost)
            bar.update(1)
            if command is not None and command.quit:
                summary.quit = True
                break
            frame = next(frames, None)
            if frame is None:
                summary.incomplete = source.incomplete
                break
            t0 = time.perf_counter()
            result = tracker.update(frame)
            dt = time.perf_counter() - t0
            summary.track_seconds += dt
            summary.updates += 1
            box, score, lost = result.box, result.score, result.lost
            mask, rotated = result.binary_mask, result.polygon
            polygon = rotated if rotated is not None else box_polygon(box)
            if (mask_writer or polygons) and (mask is None or rotated is None):
                raise SiamtrackError(f"--save-masks / --polygons: tracker '{label}' gives no masks")
            fps = 1.0 / dt if fps is None else 0.9 * fps + 0.1 / dt
            bar.set_postfix_str(f"{summary.tracker_fps:.1f} fps", refresh=False)
        ok = True
    except Interrupted as e:  # Ctrl-C, SIGTERM, SIGHUP: end as `q` does, keeping every finished frame
        summary.interrupted = e
        ok = True
    finally:
        summary.wall_seconds = time.perf_counter() - t_start
        try:
            with deferred():  # committing is never cut short; a signal meanwhile is taken afterwards
                if not ok:
                    bar.leave = False  # the error line replaces the bar
                bar.close()
                for sink in (box_writer, mask_writer, video):
                    if sink:
                        sink.close(ok)
                if window:
                    window.close()
        except Interrupted as e:
            if summary.interrupted is None:
                summary.interrupted = e
    return summary

"""Evaluation protocols: how a tracker is run through a sequence.

* :mod:`.ope` -- one pass from the first frame (OTB, GOT-10k, VOT unsupervised);
* :mod:`.vot` -- VOT supervised baseline with re-initialisation after failures;
* :mod:`.davis` -- one pass collecting the tracker's masks (DAVIS).

Each takes a ready tracker (``init(frame, box)`` / ``update(frame) ->
TrackResult``), a :class:`~siamtrack.benchmarks.datasets.Sequence` and a
frame reader, and returns what was tracked plus the seconds spent in the
tracker per frame (``time.perf_counter`` around ``init`` / ``update`` only).
"""

from __future__ import annotations

import time

from siamtrack.runner.sources import FolderSource, FrameSizeCheck

__all__ = ["read_frame", "same_size", "frame_progress", "one_pass"]


def read_frame(path: str):
    """BGR ``uint8`` ``(H, W, 3)`` frame; SiamtrackError naming the file when it cannot be decoded."""
    return FolderSource.read_image(path)


def same_size(reader):
    """``reader`` for one run through a sequence, checking that every frame has the first one's size.

    Raises (from the returned reader):
        SiamtrackError: ``"<frame file>: frame is WxH, frame 1 is WxH (...)"``
            (:class:`~siamtrack.runner.sources.FrameSizeCheck`).
    """
    check = FrameSizeCheck()

    def read(path: str):
        frame = reader(path)
        check(frame, path)
        return frame

    return read


def frame_progress(seq, enabled: bool):
    """A tqdm bar over the sequence's frames (second line, removed when done), or ``None``."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=len(seq), desc=f"  {seq.name}", unit="frame", leave=False, position=1, dynamic_ncols=True)


def one_pass(tracker, seq, progress: bool = False, reader=read_frame):
    """Run ``tracker`` once through ``seq``: yields ``(i, frame, result, seconds)`` per frame.

    Frame 0 is ``init(frame, seq.init_box)`` (``result`` None), the others
    ``update(frame)``; ``seconds`` is ``time.perf_counter`` around that call
    only. Advances the progress bar (:func:`frame_progress`) and closes it.

    Raises:
        SiamtrackError: a frame cannot be read, or has another size than frame 0 (:func:`same_size`).
    """
    bar = frame_progress(seq, progress)
    reader = same_size(reader)
    try:
        for i, path in enumerate(seq.frames):
            frame = reader(path)
            t0 = time.perf_counter()
            if i == 0:
                tracker.init(frame, seq.init_box)
                result = None
            else:
                result = tracker.update(frame)
            seconds = time.perf_counter() - t0
            yield i, frame, result, seconds
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()

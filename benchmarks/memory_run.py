"""Memory of a long run: RSS at 10% and 90% of a 20,000-frame headless run must differ by under 2 MB.

``python -m siamtrack.benchmarks.memory_run [--frames 20000] [--model nanotrack] [--output out.mp4]``
tracks a synthetic target through a synthetic source (:class:`SyntheticSource`:
a textured square moving over a fixed textured background, generated frame by
frame, so the source itself holds nothing), with ``--save-boxes`` (and
``--save-masks`` for mask models, ``--output`` when given) streaming to
temporary files, exactly as ``siamtrack run SOURCE --no-show`` does
(:func:`siamtrack.runner.loop.run_tracking`). It prints the process's resident
set size (``/proc/self/statm``, Linux) when the frames at 10% and at 90% of
the run are read, and their difference; exit code 1 when the difference is
2 MB or more. A run that kept a little per frame (0.5 KB) would grow by
8 MB between the two points.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Iterator

import numpy as np

from siamtrack.runner.sources import FrameSource

__all__ = ["SyntheticSource", "rss_bytes", "main"]

LIMIT_BYTES = 2 * 1024 * 1024


def rss_bytes() -> int | None:
    """Resident set size of this process in bytes (``/proc/self/statm``), ``None`` where unavailable."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class SyntheticSource(FrameSource):
    """``n`` BGR ``uint8`` frames of ``size`` = ``(W, H)`` pixels, made one at a time.

    A fixed random background (seeded) and a 60x60 textured square whose
    top-left corner moves on a Lissajous path; :attr:`init_box` is its first
    ``[x, y, w, h]`` (0-based pixels). ``on_frame(index)``, when given, is
    called as frame ``index`` (0-based) is made, e.g. to sample memory.
    """

    def __init__(self, n: int, size: tuple[int, int] = (480, 360), on_frame=None, seed: int = 0):
        self.n = int(n)
        self.size = (int(size[0]), int(size[1]))
        self.name = f"synthetic {self.n} frames"
        self.fps = 25.0
        self.frame_count = self.n
        self.on_frame = on_frame
        rng = np.random.default_rng(seed)
        w, h = self.size
        self._background = (rng.integers(60, 120, (h // 8, w // 8, 3), dtype=np.uint8)
                            .repeat(8, axis=0).repeat(8, axis=1))
        self._patch = rng.integers(0, 256, (60, 60, 3), dtype=np.uint8)
        self.init_box = np.array([*self._corner(0), 60.0, 60.0])

    def _corner(self, i: int) -> tuple[float, float]:
        w, h = self.size
        x = (w - 60) / 2 * (1 + 0.8 * np.sin(i * 0.013))
        y = (h - 60) / 2 * (1 + 0.8 * np.sin(i * 0.021 + 1.0))
        return float(int(x)), float(int(y))

    def _frames(self) -> Iterator[np.ndarray]:
        for i in range(self.n):
            if self.on_frame is not None:
                self.on_frame(i)
            frame = self._background.copy()
            x, y = (int(v) for v in self._corner(i))
            frame[y:y + 60, x:x + 60] = self._patch
            yield frame


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--model", default="nanotrack")
    parser.add_argument("--weights")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", help="also write the annotated video here")
    args = parser.parse_args(argv)

    import torch

    from siamtrack.models.presets import get_preset
    from siamtrack.runner.loop import run_tracking
    from siamtrack.tracker.factory import create_tracker

    torch.set_num_threads(args.threads)
    preset = get_preset(args.model)
    marks = {int(args.frames * 0.1): None, int(args.frames * 0.9): None}

    def sample(i):
        if i in marks:
            marks[i] = rss_bytes()

    src = SyntheticSource(args.frames, on_frame=sample)
    with tempfile.TemporaryDirectory() as tmp:
        summary = run_tracking(
            src, lambda: create_tracker(preset["name"], weights=args.weights), init_box=src.init_box,
            output=args.output, save_boxes=os.path.join(tmp, "boxes.txt"), show=False, progress=False,
            save_masks=os.path.join(tmp, "masks") if preset.get("mask") else None)
    (i10, r10), (i90, r90) = sorted(marks.items())
    if r10 is None or r90 is None:
        print("RSS unavailable on this system (/proc/self/statm)")
        return 1
    growth = r90 - r10
    print(f"{preset['name']}: {summary.frames} frames, tracker {summary.tracker_fps:.0f} fps")
    print(f"RSS at frame {i10 + 1} (10%): {r10 / 2**20:.2f} MiB")
    print(f"RSS at frame {i90 + 1} (90%): {r90 / 2**20:.2f} MiB")
    print(f"difference: {growth / 2**20:+.3f} MiB ({growth / max(1, i90 - i10) :+.1f} bytes per frame); "
          f"limit {LIMIT_BYTES / 2**20:.0f} MiB: {'ok' if growth < LIMIT_BYTES else 'FAILED'}")
    return 0 if growth < LIMIT_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())

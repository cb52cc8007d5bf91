"""Speed of siamtrack's NanoTrack against OpenCV's ``cv2.TrackerNano`` on the same frames.

Both trackers use the NanoTrack v2 weights (siamtrack the official ``.pth``
on each backend installed: torch, OpenVINO fp32, ONNX Runtime fp32, and
OpenVINO bf16 on CPUs with native bf16; OpenCV the ONNX pair exported from
it, ``nanotrack_backbone_sim.onnx`` + ``nanotrack_head_sim.onnx``). The frames are decoded into memory first; only
``update()`` calls are timed (``time.perf_counter``), after 5 warm-up frames.
For each thread count both trackers get the same number of threads (torch's
``set_num_threads`` and OpenCV's ``setNumThreads``); they are timed in
alternating rounds on the same machine and the best round of each is kept,
so background load affects both alike.

Usage::

    python -m siamtrack.benchmarks.speed_nanotrack [--frames DIR] [--rounds 8] [--threads 1 2]

Prints, per thread count, frames per second of each and its ratio to OpenCV's.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import torch

from siamtrack.boxes import axis_aligned_init_box, read_boxes
from siamtrack.runner.sources import FolderSource
from siamtrack.tracker.factory import create_tracker

WARMUP = 5


def default_shared() -> Path:
    """``$SIAMTRACK_SHARED`` or ``../shared`` next to the repository."""
    env = os.environ.get("SIAMTRACK_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def time_updates(tracker, frames, box) -> float:
    """Seconds spent in ``tracker.update`` over ``frames[1 + WARMUP:]`` after init on ``frames[0]``."""
    tracker.init(frames[0], box)
    for f in frames[1 : 1 + WARMUP]:
        tracker.update(f)
    total = 0.0
    for f in frames[1 + WARMUP :]:
        t0 = time.perf_counter()
        tracker.update(f)
        total += time.perf_counter() - t0
    return total


def main(argv=None) -> None:
    shared = default_shared()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", default=str(shared / "data" / "vot" / "bag"), help="folder of frames (VOT bag)")
    ap.add_argument("--weights", default=str(shared / "weights" / "nanotrack" / "nanotrackv2.pth"))
    ap.add_argument("--onnx-dir", default=str(shared / "weights" / "nanotrack" / "v2"))
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="thread counts to compare at (each tracker gets the same number)")
    args = ap.parse_args(argv)

    frames = list(FolderSource(args.frames))
    gt = read_boxes(Path(args.frames) / "groundtruth.txt")
    box = axis_aligned_init_box(gt[0])

    from siamtrack.backends.runtimes import cpu_has_bf16, runtime_available

    configs = [("torch", "fp32")] + [(b, "fp32") for b in ("openvino", "onnxruntime") if runtime_available(b)]
    if runtime_available("openvino") and cpu_has_bf16():
        configs.append(("openvino", "bf16"))
    params = cv2.TrackerNano_Params()
    params.backbone = str(Path(args.onnx_dir) / "nanotrack_backbone_sim.onnx")
    params.neckhead = str(Path(args.onnx_dir) / "nanotrack_head_sim.onnx")

    class OpenCVNano:  # fresh cv2 tracker per round, integer init box as OpenCV needs
        def init(self, frame, b):
            self.t = cv2.TrackerNano.create(params)
            self.t.init(frame, tuple(int(round(v)) for v in b))

        def update(self, frame):
            return self.t.update(frame)

    theirs = OpenCVNano()
    n = len(frames) - 1 - WARMUP
    print(f"frames: {len(frames)} from {args.frames} ({frames[0].shape[1]}x{frames[0].shape[0]}), "
          f"{n} timed per round, best of {args.rounds} alternating rounds; torch {torch.__version__}, "
          f"OpenCV {cv2.__version__}")
    for threads in args.threads:
        torch.set_num_threads(threads)  # graph backends take their thread count when created
        cv2.setNumThreads(threads)
        ours = {f"siamtrack {b} {p}": create_tracker("nanotrack-v2", weights=args.weights, backend=b, precision=p)
                for b, p in configs}
        best = {name: float("inf") for name in [*ours, "cv2.TrackerNano (v2 ONNX)"]}
        for _ in range(args.rounds):
            for name, tracker in ours.items():
                best[name] = min(best[name], time_updates(tracker, frames, box))
            best["cv2.TrackerNano (v2 ONNX)"] = min(best["cv2.TrackerNano (v2 ONNX)"], time_updates(theirs, frames, box))
        fps_cv2 = n / best["cv2.TrackerNano (v2 ONNX)"]
        print(f"threads {threads} (torch {torch.get_num_threads()}, OpenCV {cv2.getNumThreads()}):")
        for name, seconds in best.items():
            fps = n / seconds
            print(f"  {name:32s} {fps:8.1f} fps  ({1000 / fps:.2f} ms/frame)  x{fps / fps_cv2:.2f} cv2.TrackerNano")

if __name__ == "__main__":
    main()

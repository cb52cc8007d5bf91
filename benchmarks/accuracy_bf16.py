"""NanoTrack v1 / v2 / v3 on OpenVINO: bf16 against fp32, mean IoU on every shared OTB and VOT sequence.

Whole sequences, in-process (``create_tracker(..., backend="openvino", precision=...)``), frames decoded once.
Conventions as the NanoTrack fixtures' ``summary.tsv`` (``../shared/fixtures/README.md``): every frame counts, the
first with the init box; IoU axis-aligned and continuous; VOT init = :func:`~siamtrack.boxes.axis_aligned_init_box`
of the frame-1 polygon, ground truth = the polygons' bounding rectangles; OTB init and ground truth = the
loader's rows (Football1: its 74 annotated frames).

Columns: mean IoU of fp32 at 1 thread, of fp32 at 2 threads (the trajectory's own chaos: a 1e-4 px difference
can flip a later decision, see the fixtures README, "Parity advice"; OpenVINO fp32 is bitwise the same at 1 and 2
threads, so the ONNX Runtime column is the probe of that chaos), of bf16 at 1 thread, ``d bf16`` = bf16 -
fp32 (both 1 thread), ``d t2`` and ``d ort`` = fp32 at 2 threads / fp32 on ONNX Runtime
(the same graph, other kernels: differences of ~1e-5) - fp32 on OpenVINO, ``d eps`` = fp32 with its network outputs
perturbed by a relative 1e-3 (``--perturb``, :func:`perturbed`: ten times below bf16's error) - fp32, then the per-frame box difference bf16 vs fp32 (max over ``x, y, w, h`` in px): median,
maximum, and the first frame where it exceeds 1 px. A sequence where ``|d bf16|`` is large but fp32 itself moves
as much between thread counts flips on chaos, not on bf16 error alone: both figures are printed.

Usage::

    python -m siamtrack.benchmarks.accuracy_bf16 [--versions 1 2 3] [--sequences bag Crossing ...] [--no-threads2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from siamtrack.boxes import axis_aligned_init_box, iou_xywh, polygon_bounds

__all__ = ["shared_sequences", "perturbed", "track", "main"]


def _shared() -> Path:
    from siamtrack.benchmarks.speed import default_shared

    return default_shared()


def shared_sequences(shared: Path | None = None, names=None) -> list:
    """``[(name, frame paths, init box, ground truth (N, 4))]`` for every shared OTB and VOT sequence."""
    from siamtrack.benchmarks.datasets import load_dataset

    shared = shared or _shared()
    out = []
    for kind, root in (("otb", shared / "data" / "otb"), ("vot2018", shared / "data" / "vot")):
        for seq in load_dataset(kind, str(root)).sequences:
            if names and seq.name not in names:
                continue
            if kind == "otb":
                gt = np.asarray(seq.groundtruth, dtype=np.float64)
                out.append((f"otb/{seq.name}", list(seq.frames)[:len(gt)], gt[0], gt))
            else:
                polys = np.asarray(seq.groundtruth, dtype=np.float64)
                out.append((f"vot/{seq.name}", list(seq.frames), axis_aligned_init_box(polys[0]),
                            np.array([polygon_bounds(p) for p in polys])))
    return out


def perturbed(model, eps: float, seed: int = 0):
    """``model`` whose ``track`` outputs are multiplied by ``1 + eps * u`` (``u`` uniform in [-1, 1], a fixed
    seed): an fp32 run with a relative error far below bf16's (2**-9 per operation, ~1e-2 at the outputs), the
    probe of how much a whole-sequence mean IoU moves on a perturbation alone."""
    rng = np.random.default_rng(seed)
    track = model.track

    def noisy(state, x):
        return tuple(o * (1 + eps * rng.uniform(-1, 1, o.shape)).astype(np.float32) for o in track(state, x))

    model.track = noisy
    return model


def track(preset: str, weights, frames: list, init, precision: str, threads: int = 1,
          backend: str = "openvino", perturb: float = 0.0) -> np.ndarray:
    """The ``(N, 4)`` boxes of one whole run (frame 0 = the init box) on ``backend`` at ``precision``
    (``perturb``: the network outputs perturbed by that relative amount, :func:`perturbed`)."""
    from siamtrack.tracker.factory import create_tracker

    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # the graph backends take torch's thread count
    try:
        tracker = create_tracker(preset, weights=weights, backend=backend, precision=precision)
    finally:
        torch.set_num_threads(before)
    if perturb:
        perturbed(tracker.model, perturb)
    tracker.init(frames[0], np.asarray(init, dtype=np.float64))
    return np.array([np.asarray(init, dtype=np.float64)] + [tracker.update(f).box for f in frames[1:]])


def mean_iou(boxes: np.ndarray, gt: np.ndarray) -> float:
    n = min(len(boxes), len(gt))
    return float(iou_xywh(boxes[:n], gt[:n]).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--versions", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--sequences", nargs="+", default=None, help="sequence names (default: all)")
    ap.add_argument("--weights-dir", default=None, help="default: ../shared/weights/nanotrack")
    ap.add_argument("--no-threads2", action="store_true", help="skip the fp32 run at 2 threads")
    ap.add_argument("--no-ort", action="store_true", help="skip the fp32 run on ONNX Runtime")
    ap.add_argument("--perturb", type=float, default=1e-3,
                    help="relative perturbation of the fp32 outputs for the chaos probe column 'd eps' (0: skip)")
    args = ap.parse_args(argv)
    shared = _shared()
    wdir = Path(args.weights_dir) if args.weights_dir else shared / "weights" / "nanotrack"
    seqs = shared_sequences(shared, args.sequences)
    print(f"{'model':12s} {'sequence':15s} {'frames':>6s} {'fp32 t1':>8s} {'fp32 t2':>8s} {'bf16 t1':>8s} "
          f"{'d bf16':>7s} {'d t2':>7s} {'d ort':>7s} {'d eps':>7s}  box diff px: median    max  first>1px")
    worst = 0.0
    for v in args.versions:
        preset, weights = f"nanotrack-v{v}", wdir / f"nanotrackv{v}.pth"
        for name, paths, init, gt in seqs:
            frames = [cv2.imread(str(p)) for p in paths]
            b32 = track(preset, weights, frames, init, "fp32")
            b16 = track(preset, weights, frames, init, "bf16")
            m32, m16 = mean_iou(b32, gt), mean_iou(b16, gt)
            m32t2 = float("nan") if args.no_threads2 else mean_iou(track(preset, weights, frames, init, "fp32", 2), gt)
            mort = float("nan") if args.no_ort else mean_iou(
                track(preset, weights, frames, init, "fp32", backend="onnxruntime"), gt)
            meps = float("nan") if not args.perturb else mean_iou(
                track(preset, weights, frames, init, "fp32", perturb=args.perturb), gt)
            diff = np.abs(b16 - b32).max(axis=1)
            over = np.nonzero(diff > 1.0)[0]
            worst = max(worst, abs(m16 - m32))
            print(f"{preset:12s} {name:15s} {len(frames):6d} {m32:8.4f} {m32t2:8.4f} {m16:8.4f} {m16 - m32:+7.4f} "
                  f"{m32t2 - m32:+7.4f} {mort - m32:+7.4f} {meps - m32:+7.4f}  {np.median(diff):18.3f} {diff.max():6.1f}  "
                  f"{over[0] if len(over) else '-':>9}", flush=True)
    print(f"largest |mean IoU bf16 - fp32|: {worst:.4f} (target 0.01)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

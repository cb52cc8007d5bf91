"""Accuracy of the CFNet presets (or any preset) on the shared real sequences, through ``siamtrack run``.

For each sequence of ``../shared/data/otb`` and ``vot/bag``: ``siamtrack run
<folder> --model M --no-show --init <frame-1 box> --save-boxes <file>``
(a subprocess, exactly as a user runs it), then per-sequence mean IoU and
success AUC against the ground truth. Conventions as the NanoTrack fixtures'
``summary.tsv`` (``../shared/fixtures/README.md``): every frame counts, the
first one with the init box; IoU axis-aligned and continuous
(:func:`siamtrack.boxes.iou_xywh`); success AUC = mean over 21 thresholds
``0, 0.05, .., 1`` of the fraction of frames with IoU > threshold; OTB init
and ground truth = the ``groundtruth_rect.txt`` rows minus 1 (1-based);
VOT init = :func:`~siamtrack.boxes.axis_aligned_init_box` of the frame-1
polygon, ground truth = the polygons' bounding rectangles; Football1 is
scored on its 74 annotated frames.

Usage::

    python -m siamtrack.benchmarks.accuracy_fc [--model cfnet-conv2 cfnet-conv1] [--weights-dir DIR] [--out DIR]

``--weights-dir`` (default ``../shared/weights/cfnet``) is passed as
``$SIAMTRACK_WEIGHTS``. Prints one table row per sequence and model.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from siamtrack.benchmarks.speed import default_shared
from siamtrack.boxes import axis_aligned_init_box, iou_xywh, polygon_bounds, read_boxes

SEQUENCES = ["otb/Basketball", "otb/Couple", "otb/Crossing", "otb/Football1", "vot/bag"]


def sequence_truth(shared: Path, seq: str):
    """``(folder, init box, ground truth (N, 4))`` in 0-based ``[x, y, w, h]``."""
    root = shared / "data" / seq
    if seq.startswith("otb/"):
        gt = read_boxes(root / "groundtruth_rect.txt")
        gt[:, :2] -= 1
        return root, gt[0], gt
    polys = read_boxes(root / "groundtruth.txt")
    return root, axis_aligned_init_box(polys[0]), np.array([polygon_bounds(p) for p in polys])


def scores(boxes: np.ndarray, gt: np.ndarray) -> tuple:
    """``(mean IoU, success AUC)`` over the annotated frames."""
    n = min(len(boxes), len(gt))
    iou = iou_xywh(boxes[:n], gt[:n])
    return float(iou.mean()), float(np.mean([(iou > t).mean() for t in np.linspace(0, 1, 21)]))


def run_cli(folder: Path, model: str, init, out: Path, env: dict) -> str:
    """``siamtrack run`` on ``folder``; returns its summary line (raises on failure)."""
    cmd = [sys.executable, "-m", "siamtrack.cli", "run", str(folder), "--model", model, "--no-show", "--quiet",
           "--init", ",".join(f"{v:.4f}" for v in init), "--save-boxes", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip().splitlines()[-1]


def main(argv=None) -> None:
    shared = default_shared()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", nargs="+", default=["cfnet-conv2", "cfnet-conv1"])
    ap.add_argument("--weights-dir", default=str(shared / "weights" / "cfnet"))
    ap.add_argument("--sequences", nargs="+", default=SEQUENCES)
    ap.add_argument("--out", default=None, help="folder for the box files (default: a temporary one)")
    args = ap.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["SIAMTRACK_WEIGHTS"] = args.weights_dir
    out = Path(args.out or tempfile.mkdtemp(prefix="siamtrack-accuracy-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"{'model':12s} {'sequence':16s} {'frames':>6s} {'mean IoU':>9s} {'AUC':>6s}  run")
    for model in args.model:
        for seq in args.sequences:
            folder, init, gt = sequence_truth(shared, seq)
            boxes_file = out / f"{model}__{seq.replace('/', '__')}.txt"
            summary = run_cli(folder, model, init, boxes_file, env)
            miou, auc = scores(read_boxes(boxes_file), gt)
            print(f"{model:12s} {seq:16s} {min(len(gt), len(read_boxes(boxes_file))):6d} {miou:9.3f} {auc:6.3f}  "
                  f"{summary}", flush=True)


if __name__ == "__main__":
    main()

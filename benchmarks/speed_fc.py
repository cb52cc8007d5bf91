"""CPU speed of SiamFC and CFNet (conv1, conv2), beside the reference's recorded speed where there is one.

Protocol of the SiamFC fixture's ``speed_cpu`` entry
(``../shared/fixtures/siamfc_alexnet/manifest.json``): frames of ``vot/bag``
decoded into memory first, init on frame 1, ``update`` on frames 2..5 as
warm-up, frames 6..40 timed (crops + network + peak search), best of
``--rounds`` runs. SiamFC runs with the fixture's synthetic weights (no
official checkpoint on this machine; speed does not depend on the values),
CFNet with the real networks of ``../shared/weights/cfnet``. The reference
figure quoted for SiamFC is siamfc-pytorch's fps measured with the same
number of torch threads (1 or 2) on this kind of machine (a busy, shared VM:
the row ``siamfc-refnet`` runs the same tracker with the network executed as
the reference executes it, to tell code from machine); the CFNet reference
runs in MATLAB on a GPU, so there is no CPU figure to compare.

Usage::

    python -m siamtrack.benchmarks.speed_fc [--threads 1] [--rounds 3] [--preset siamfc cfnet-conv1 cfnet-conv2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from siamtrack.benchmarks.timing import best_fps
from siamtrack.benchmarks.speed_nanotrack import default_shared
from siamtrack.boxes import axis_aligned_init_box, read_boxes
from siamtrack.models.checkpoint import load_strict
from siamtrack.models.presets import get_preset
from siamtrack.models.siamese import build_model
from siamtrack.runner.sources import FolderSource
from siamtrack.tracker.factory import create_tracker
from siamtrack.tracker.registry import TRACKERS


def siamfc_tracker(shared: Path, threads: int, prepare: bool = True):
    """SiamFC with the fixture's synthetic weights; returns ``(tracker, reference fps or None)``.

    ``prepare=False`` leaves the network as the reference runs it (eval mode, BatchNorm not folded, NCHW):
    measured here, it calibrates the recorded reference figure against this machine's current speed."""
    sys.path.insert(0, str(shared / "tools"))
    from synth_weights import synth_state_dict

    manifest = json.loads((shared / "fixtures" / "siamfc_alexnet" / "manifest.json").read_text())
    preset = get_preset("siamfc")
    model = build_model(preset["model"])
    load_strict(model, synth_state_dict(manifest["keys"]), preset["name"])
    if prepare:
        model.prepare_inference()
    else:
        model.eval()
    speed = manifest.get("speed_cpu", {})
    ref = next((v.get("fps_median") for v in speed.values() if isinstance(v, dict) and v.get("torch_threads") == threads),
               None)
    return TRACKERS.get(preset["tracker"])(model, preset["track"]), ref


def main(argv=None) -> None:
    shared = default_shared()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--preset", nargs="*", default=["siamfc", "siamfc-refnet", "cfnet-conv1", "cfnet-conv2"],
                    help="siamfc-refnet: siamfc with the network as the reference runs it (unfused BN, NCHW)")
    ap.add_argument("--cfnet-dir", default=str(shared / "weights" / "cfnet"))
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    bag = shared / "data" / "vot" / "bag"
    frames = list(FolderSource(str(bag)))[:40]
    box = axis_aligned_init_box(read_boxes(bag / "groundtruth.txt")[0])
    print(f"vot/bag frames 6..40 timed (decoded beforehand), torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), best of {args.rounds}")
    print(f"{'preset':14s} {'siamtrack fps':>14s} {'ms/frame':>9s} {'reference fps':>14s} {'ratio':>7s}")
    for name in args.preset:
        if name in ("siamfc", "siamfc-refnet"):
            tracker, ref = siamfc_tracker(shared, args.threads, prepare=name == "siamfc")
        else:
            tracker = create_tracker(name, weights=Path(args.cfnet_dir) / get_preset(name)["weights"]["file"])
            ref = None
        fps = best_fps(tracker, frames, box, args.rounds)
        ref_text = f"{ref:14.2f}" if ref else f"{'n/a':>14s}"
        ratio = f"{fps / ref:7.2f}" if ref else f"{'':>7s}"
        print(f"{name:14s} {fps:14.2f} {1000 / fps:9.1f} {ref_text} {ratio}", flush=True)


if __name__ == "__main__":
    main()

"""CPU speed of every SiamRPN-family preset beside the reference implementation's recorded speed.

No official SiamRPN / SiamRPN++ / DaSiamRPN weights exist on this machine, so
each preset runs with the deterministic synthetic weights of its fixture
(``../shared/fixtures/<fixture>``, conditioned variant: realistic activations,
the tracker follows the target); presets without a fixture get synthetic
weights of their own key layout. Speed does not depend on the weight values.

Protocol, as the fixtures' ``speed`` entries: frames of ``vot/bag`` decoded
first, init on frame 1, ``update`` on frames 2..5 as warm-up, frames 6..40
timed (crop + network + post-processing), best of ``--rounds`` runs. The
reference figures were measured on this kind of machine while it was loaded
(quoted as recorded; compare side by side with care).

Usage::

    python -m siamtrack.benchmarks.speed_presets [--threads 2] [--rounds 1] [--preset NAME ...]
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
from siamtrack.models.presets import PRESETS, get_preset
from siamtrack.models.siamese import build_model
from siamtrack.runner.sources import FolderSource
from siamtrack.tracker.registry import TRACKERS

FIXTURE_OF = {  # preset -> fixture holding its reference speed and synthetic-weight recipe
    "siamrpn-alex": "siamrpn_alex_dwxcorr",
    "siamrpn-alex-upchannel": "siamrpn_alex_upchannel",
    "siamrpn++-mobilev2": "siamrpn_mobilev2_l234_dwxcorr",
    "siamrpn++-r50": "siamrpn_r50_l234_dwxcorr",
    "siamrpn": "dasiamrpn_vot",
    "siamrpn-big": "dasiamrpn_big",
    "siamrpn-otb": "dasiamrpn_otb",
    # SiamMask: pysot siammask_r50_l3, foolwood/SiamMask sharp (SiamMask_VOT_LD.pth: the VOT network and cost).
    "siammask": "siammask_r50_l3",
    "siammask-vot": "siammask_sharp_vot",
    "siammask-vot-ld": "siammask_sharp_vot",
    "siammask-davis": "siammask_sharp_davis",
}


def synthetic_tracker(shared: Path, name: str):
    """The preset's tracker with synthetic weights; returns ``(tracker, reference fps or None)``."""
    sys.path.insert(0, str(shared / "tools"))
    from synth_weights import synth_state_dict

    preset = get_preset(name)
    model = build_model(preset["model"])
    fixture = FIXTURE_OF.get(name)
    ref_fps = None
    if fixture and (shared / "fixtures" / fixture).is_dir():
        manifest = json.loads((shared / "fixtures" / fixture / "manifest.json").read_text())
        sd = synth_state_dict(manifest["keys"])
        for key, e in manifest.get("conditioned", {}).get("log2_scale", {}).items():
            sd[key] = sd[key] * 2.0 ** e
        # pysot fixtures: speed_cond.fps_bag_6_40; DaSiamRPN fixtures: speed_cpu.cond_weights.fps_median (bag);
        # SiamMask sharp fixtures also record the reference with 1 torch thread (cond_weights_threads1).
        speed = manifest.get("speed_cond") or manifest.get("speed") or {}
        cpu = manifest.get("speed_cpu", {})
        if torch.get_num_threads() == 1 and "cond_weights_threads1" in cpu:
            cpu = dict(cpu, cond_weights=cpu["cond_weights_threads1"])
        ref_fps = speed.get("fps_bag_6_40") or cpu.get("cond_weights", {}).get("fps_median")
    else:
        layout = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
        sd = synth_state_dict(layout)
    load_strict(model, sd, preset["name"])
    model.prepare_inference()
    return TRACKERS.get(preset["tracker"])(model, preset["track"]), ref_fps


def main(argv=None) -> None:
    shared = default_shared()
    names = [n for n in sorted(PRESETS) if not n.startswith(("nanotrack", "siamfc", "cfnet"))]  # see speed_fc.py
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (the references ran with 2)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--preset", nargs="*", default=names, help="presets to time (default: all but NanoTrack)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    bag = shared / "data" / "vot" / "bag"
    frames = list(FolderSource(str(bag)))[:40]
    box = axis_aligned_init_box(read_boxes(bag / "groundtruth.txt")[0])
    print(f"vot/bag frames 6..40 timed, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"best of {args.rounds}")
    print(f"{'preset':24s} {'siamtrack fps':>14s} {'reference fps':>14s} {'ratio':>7s}")
    for name in args.preset:
        tracker, ref = synthetic_tracker(shared, name)
        fps = best_fps(tracker, frames, box, args.rounds)
        ref_text = f"{ref:14.2f}" if ref else f"{'n/a':>14s}"
        ratio = f"{fps / ref:7.2f}" if ref else f"{'':>7s}"
        print(f"{name:24s} {fps:14.2f} {ref_text} {ratio}", flush=True)


if __name__ == "__main__":
    main()

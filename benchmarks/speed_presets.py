"""CPU speed of every SiamRPN-family preset on each backend, side by side in alternating rounds.

No official SiamRPN / SiamRPN++ / DaSiamRPN / SiamMask weights exist on this
machine, so each preset runs with the deterministic synthetic weights of its
fixture (``../shared/fixtures/<fixture>``, conditioned variant: realistic
activations, the tracker follows the target), saved to a temporary file in the
official layout; presets without a fixture get synthetic weights of their own
key layout. Speed does not depend on the weight values.

Protocol: frames of ``vot/bag`` decoded first, init on frame 1, ``update`` on
frames 2..5 as warm-up, frames 6..40 timed (crop + network + post-processing,
the whole tracker), for every backend installed (torch fp32, OpenVINO fp32,
ONNX Runtime fp32, OpenVINO bf16 on CPUs with native bf16; graph backends
only for presets with an exported form), one round of each in turn,
``--rounds`` times; the best round of each is printed. Compare within one run
only: this machine drifts by +-20% between runs.

Usage::

    python -m siamtrack.benchmarks.speed_presets [--threads 2] [--rounds 3] [--preset NAME ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from siamtrack.benchmarks.timing import best_fps
from siamtrack.benchmarks.speed_nanotrack import default_shared
from siamtrack.boxes import axis_aligned_init_box, read_boxes
from siamtrack.models.presets import PRESETS, get_preset
from siamtrack.models.siamese import build_model
from siamtrack.runner.sources import FolderSource

FIXTURE_OF = {  # preset -> fixture holding its synthetic-weight recipe
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


def synthetic_weights(shared: Path, name: str, folder: Path) -> Path:
    """The preset's synthetic weights saved under its official file name in ``folder``."""
    sys.path.insert(0, str(shared / "tools"))
    from synth_weights import synth_state_dict

    preset = get_preset(name)
    fixture = FIXTURE_OF.get(name)
    if fixture and (shared / "fixtures" / fixture).is_dir():
        manifest = json.loads((shared / "fixtures" / fixture / "manifest.json").read_text())
        sd = synth_state_dict(manifest["keys"])
        for key, e in manifest.get("conditioned", {}).get("log2_scale", {}).items():
            sd[key] = sd[key] * 2.0 ** e
    else:
        model = build_model(preset["model"])
        sd = synth_state_dict([[k, list(v.shape), str(v.dtype).replace("torch.", "")]
                               for k, v in model.state_dict().items()])
    path = folder / preset["weights"]["file"]
    torch.save(sd, path)
    return path


def configs(preset: dict) -> list[tuple[str, str]]:
    """``(backend, precision)`` pairs this machine can run the preset on."""
    from siamtrack.backends import graph_backend_supported
    from siamtrack.backends.runtimes import cpu_has_bf16, runtime_available

    out = [("torch", "fp32")]
    if graph_backend_supported(preset):
        out += [(b, "fp32") for b in ("openvino", "onnxruntime") if runtime_available(b)]
        if runtime_available("openvino") and cpu_has_bf16():
            out.append(("openvino", "bf16"))
    return out


def main(argv=None) -> None:
    from siamtrack.tracker.factory import create_tracker

    shared = default_shared()
    names = [n for n in sorted(PRESETS) if not n.startswith(("nanotrack", "siamfc", "cfnet"))]  # see speed_fc.py
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads of every backend")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--preset", nargs="*", default=names, help="presets to time (default: all but NanoTrack)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)  # the graph backends take their thread count when created
    bag = shared / "data" / "vot" / "bag"
    frames = list(FolderSource(str(bag)))[:40]
    box = axis_aligned_init_box(read_boxes(bag / "groundtruth.txt")[0])
    print(f"vot/bag frames 6..40 timed, {args.threads} threads, best of {args.rounds} alternating rounds; "
          f"torch {torch.__version__}")
    print(f"{'preset':24s} {'backend':18s} {'fps':>8s} {'ms/frame':>9s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.preset:
            preset = get_preset(name)
            weights = synthetic_weights(shared, name, Path(tmp))
            trackers = {f"{b} {p}": create_tracker(name, weights=weights, backend=b, precision=p)
                        for b, p in configs(preset)}
            best = {k: 0.0 for k in trackers}
            for _ in range(args.rounds):
                for k, tracker in trackers.items():
                    best[k] = max(best[k], best_fps(tracker, frames, box, 1))
            for k, fps in best.items():
                print(f"{name:24s} {k:18s} {fps:8.2f} {1000 / fps:9.1f}", flush=True)


if __name__ == "__main__":
    main()

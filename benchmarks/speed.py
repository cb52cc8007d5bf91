"""One speed benchmark: every preset x backend x precision x thread count, side by side in one run.

Protocol. The ``vot/bag`` frames are decoded into memory first. For one preset at one thread count
(``torch.set_num_threads`` and ``cv2.setNumThreads``; graph backends take torch's count when created) every
tracker of that group is built: siamtrack on each backend x precision this machine runs (torch fp32 / bf16,
OpenVINO fp32 / bf16, ONNX Runtime fp32; bf16 only on CPUs with native bf16), and the outside references where there is one:

- NanoTrack v2: OpenCV's ``cv2.TrackerNano`` with the official ONNX pair (``../shared/weights/nanotrack/v2``) and
  with the pair ``siamtrack export --model nanotrack-v2 --opencv`` writes;
- pysot presets (``siamrpn-alex``, ``siamrpn-alex-upchannel``, ``siamrpn++-mobilev2``, ``siamrpn++-r50``,
  ``siamrpn++-r50-otb``, ``siamrpn++-lt``, ``siammask``), given ``--pysot DIR`` (a checkout of STVIR/pysot, never
  imported otherwise: :mod:`.pysot_reference`): pysot's own tracker with the same synthetic weights.

Each tracker is first run once (``init`` + two updates, the second timed: the cost that plans the rounds).
Then ``--rounds`` rounds: in each round every tracker of the group runs once in turn (``init`` on frame 1,
``WARMUP`` untimed updates, then ``--frames`` timed updates, ``time.perf_counter`` around the whole
``update`` / ``track`` call: crop + network + post-processing), so drift and background load hit all alike.
Where all rounds of a group would take longer than ``--budget`` seconds (the ResNet-50 presets), every
tracker of that group gets fewer updates per round (at least 1 warm-up + 1 timed; the table's ``frames``
column says how many). ``siamrpn++-lt`` is left out by default (:data:`NOT_BY_DEFAULT`).
Best and median round are kept; the table gives the best round's fps and ms/frame, the median round's fps, and
the ratio of the best fps to the reference's best fps. Speed does not depend on the weight values; the
synthetic weights are the fixtures' "conditioned" ones (``../shared/fixtures/<name>/manifest.json``), on which
the trackers follow the target as real ones would (SiamFC: its fixture's plain weights, not degenerate);
``siamrpn++-r50-otb`` and ``siamrpn++-lt`` have no fixture: weights of their own key layout, conditioned with
the ``siamrpn++-r50`` exponents where name and shape match (:data:`BORROW_CONDITIONING`; on the long-term
tracker that is not enough: it loses the target). NanoTrack and CFNet run their real weights. Boxes of siamtrack
torch fp32 and pysot on the same frames are compared (max abs difference, px).

Time to first frame: for each preset x backend (fp32), from ``create_tracker`` to the first ``update``'s result
(weights load, graph export + compile, ``init``, one ``update``), in this process (modules already imported),
once with an empty ``SIAMTRACK_GRAPH_CACHE`` (cold) and once more with the cache it left (warm).

Only compare numbers from one run: this kind of machine drifts by +-20% between runs.

Usage::

    python -m siamtrack.benchmarks.speed [--presets ...] [--backends ...] [--precisions ...] [--threads 1 2]
        [--rounds R] [--frames N] [--budget S] [--pysot DIR] [--json FILE] [--quick] [--no-ttff] [--no-cv2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from siamtrack.benchmarks.timing import WARMUP, alternate, time_to_first_frame
from siamtrack.boxes import axis_aligned_init_box, read_boxes
from siamtrack.models.presets import PRESETS, get_preset
from siamtrack.runner.sources import FolderSource

DEFAULT_ROUNDS = 3
DEFAULT_FRAMES = 10
DEFAULT_BUDGET_S = 20.0
#: not in the default preset list: on synthetic weights of its own layout (no fixture) the long-term tracker
#: loses the target on the first frame and searches 831x831 crops from then on (about 20 s per update with
#: ResNet-50 here); ``--presets siamrpn++-lt`` runs it.
NOT_BY_DEFAULT = ("siamrpn++-lt",)
BACKENDS = ("torch", "openvino", "onnxruntime")
PRECISIONS = ("fp32", "bf16")

FIXTURE_OF = {  # preset -> fixture holding its synthetic-weight recipe (conditioned variant)
    "siamrpn-alex": "siamrpn_alex_dwxcorr",
    "siamrpn-alex-upchannel": "siamrpn_alex_upchannel",
    "siamrpn++-mobilev2": "siamrpn_mobilev2_l234_dwxcorr",
    "siamrpn++-r50": "siamrpn_r50_l234_dwxcorr",
    "siamrpn": "dasiamrpn_vot",
    "siamrpn-big": "dasiamrpn_big",
    "siamrpn-otb": "dasiamrpn_otb",
    "siammask": "siammask_r50_l3",
    "siammask-vot": "siammask_sharp_vot",
    "siammask-vot-ld": "siammask_sharp_vot",
    "siammask-davis": "siammask_sharp_davis",
    "siamfc": "siamfc_alexnet",
}
#: presets without a fixture of their own: synthetic weights of their own key layout, conditioned with the
#: exponents of this fixture where a key of the same name and shape is listed there.
BORROW_CONDITIONING = {"siamrpn++-r50-otb": "siamrpn_r50_l234_dwxcorr", "siamrpn++-lt": "siamrpn_r50_l234_dwxcorr"}
#: pysot presets -> the pysot experiment whose config.yaml builds the reference (fixtures carry the full config)
PYSOT_EXPERIMENT = {
    "siamrpn-alex": "siamrpn_alex_dwxcorr",
    "siamrpn-alex-upchannel": None,  # not a pysot experiment: the fixture's full config
    "siamrpn++-mobilev2": "siamrpn_mobilev2_l234_dwxcorr",
    "siamrpn++-r50": "siamrpn_r50_l234_dwxcorr",
    "siamrpn++-r50-otb": "siamrpn_r50_l234_dwxcorr_otb",
    "siamrpn++-lt": "siamrpn_r50_l234_dwxcorr_lt",
    "siammask": "siammask_r50_l3",
}


def default_shared() -> Path:
    """``$SIAMTRACK_SHARED`` or ``../shared`` next to the repository."""
    env = os.environ.get("SIAMTRACK_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


# ----------------------------------------------------------------------------------------------- weights


def _manifest(shared: Path, fixture: str) -> dict | None:
    path = shared / "fixtures" / fixture / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else None


def synthetic_state_dict(shared: Path, name: str) -> dict:
    """The preset's deterministic synthetic weights (``../shared/tools/synth_weights.py``): its fixture's
    conditioned weights, else weights of its own key layout (conditioned as in :data:`BORROW_CONDITIONING`)."""
    sys.path.insert(0, str(shared / "tools"))
    from synth_weights import synth_state_dict

    fixture = FIXTURE_OF.get(name)
    manifest = _manifest(shared, fixture) if fixture else None
    if manifest:
        sd = synth_state_dict(manifest["keys"])
        scales = manifest.get("conditioned", {}).get("log2_scale", {})
    else:
        from siamtrack.models.siamese import build_model

        model = build_model(get_preset(name)["model"])
        sd = synth_state_dict([[k, list(v.shape), str(v.dtype).replace("torch.", "")]
                               for k, v in model.state_dict().items()])
        donor = _manifest(shared, BORROW_CONDITIONING[name]) if name in BORROW_CONDITIONING else None
        shapes = {k: s for k, s, _ in donor["keys"]} if donor else {}
        scales = {k: e for k, e in (donor or {}).get("conditioned", {}).get("log2_scale", {}).items()
                  if k in sd and list(sd[k].shape) == shapes.get(k)}
    for key, e in scales.items():
        sd[key] = sd[key] * 2.0 ** e
    return sd


def weights_file(shared: Path, name: str, folder: Path) -> tuple[Path, dict | None]:
    """``(weights path, state dict or None)`` for preset ``name``: the real checkpoint for NanoTrack / CFNet
    (state dict None), else the synthetic weights saved under the official file name in ``folder``."""
    preset = get_preset(name)
    if name.startswith("nanotrack"):
        return shared / "weights" / "nanotrack" / preset["weights"]["file"], None
    if name.startswith("cfnet"):
        return shared / "weights" / "cfnet" / preset["weights"]["file"], None
    sd = synthetic_state_dict(shared, name)
    saved = sd
    if preset["tracker"] == "dasiamrpn":  # the official .model files have no BatchNorm counters
        saved = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    path = folder / preset["weights"]["file"]
    torch.save(saved, path)
    return path, sd


# ---------------------------------------------------------------------------------------------- trackers


def configs(preset: dict, backends, precisions) -> list[tuple[str, str]]:
    """``(backend, precision)`` pairs of ``backends`` x ``precisions`` this machine runs ``preset`` on."""
    from siamtrack.backends.runtimes import cpu_has_bf16, runtime_available

    out = []
    for b in backends:
        if b != "torch" and not runtime_available(b):
            continue
        for p in precisions:
            if p == "bf16" and (b == "onnxruntime" or not cpu_has_bf16()):
                continue
            out.append((b, p))
    return out


class OpenCVNano:
    """``cv2.TrackerNano`` with an ONNX pair behind the ``init`` / ``update(frame).box`` interface: a fresh
    OpenCV tracker per ``init``, given the integer box OpenCV needs."""

    def __init__(self, backbone: Path, neckhead: Path):
        self.params = cv2.TrackerNano_Params()
        self.params.backbone, self.params.neckhead = str(backbone), str(neckhead)
        self.t = None

    def init(self, frame, box) -> None:
        """Create the OpenCV tracker and init it on ``frame`` with ``round``ed ``[x, y, w, h]``."""
        self.t = cv2.TrackerNano.create(self.params)
        self.t.init(frame, tuple(int(round(float(v))) for v in box))

    def update(self, frame):
        """One OpenCV update; ``box`` as OpenCV returns it."""
        _, box = self.t.update(frame)
        return _Result(np.asarray(box, dtype=np.float64))


class _Result:
    __slots__ = ("box",)

    def __init__(self, box):
        self.box = box


def export_opencv_pair(weights: Path, folder: Path) -> tuple[Path, Path]:
    """``siamtrack export --model nanotrack-v2 --opencv`` into ``folder``; returns (backbone, head) ONNX."""
    subprocess.run([sys.executable, "-m", "siamtrack.cli", "export", "--model", "nanotrack-v2", "--weights",
                    str(weights), "--out", str(folder), "--opencv"], check=True, stdout=subprocess.DEVNULL)
    onnx = sorted(p.name for p in folder.glob("*.onnx"))
    backbone = next(folder / n for n in onnx if "backbone" in n)
    head = next(folder / n for n in onnx if "head" in n)
    return backbone, head


# ---------------------------------------------------------------------------------------------- timing


def plan_round(cost: float, rounds: int, frames_max: int, budget_s: float | None,
               warmup: int = WARMUP) -> tuple[int, int]:
    """``(warm-up, timed)`` updates per round: ``warmup`` + ``frames_max``, fewer where ``rounds`` rounds would
    pass ``budget_s`` given ``cost`` = seconds of one update of every tracker of the group (at least 1 warm-up
    + 1 timed update)."""
    per_round = warmup + frames_max
    if budget_s and cost > 0:
        per_round = max(2, min(per_round, int(budget_s / (rounds * cost))))
    w = min(warmup, per_round - 1)
    return w, per_round - w



# ---------------------------------------------------------------------------------------------- the run


def parse_args(argv=None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    shared = default_shared()
    ap = argparse.ArgumentParser(prog="python -m siamtrack.benchmarks.speed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=[n for n in sorted(PRESETS) if n not in NOT_BY_DEFAULT],
                    metavar="NAME", help="default: every preset but %s" % ", ".join(NOT_BY_DEFAULT))
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    ap.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="alternating rounds (best and median kept)")
    ap.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="timed updates per round (at most)")
    ap.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, metavar="S",
                    help="seconds per preset x thread-count group: fewer frames per round where all rounds of "
                         "its trackers would take longer (at least 1 warm-up + 1 timed); 0: always --frames")
    ap.add_argument("--pysot", metavar="DIR", help="checkout of STVIR/pysot: its trackers as the reference")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--no-ttff", action="store_true", help="skip the time to first frame (cold / warm cache)")
    ap.add_argument("--no-cv2", action="store_true", help="skip the cv2.TrackerNano references")
    ap.add_argument("--quick", action="store_true",
                    help="quick look: NanoTrack v2 and siamrpn-alex only, 1 round of 5 frames, 1 thread")
    ap.add_argument("--sequence", default=str(shared / "data" / "vot" / "bag"), help="folder of frames")
    args = ap.parse_args(argv)
    if args.quick:
        args.presets, args.rounds, args.frames, args.threads = ["nanotrack-v2", "siamrpn-alex"], 1, 5, [1]
        args.budget = 0
    for name in args.presets:
        get_preset(name)  # unknown names fail before anything runs
    if args.rounds < 1 or args.frames < 1 or any(t < 1 for t in args.threads):
        ap.error("--rounds, --frames and --threads must be >= 1")
    return args


def _stats(seconds: list, n: int) -> dict:
    best, median = min(seconds), statistics.median(seconds)
    return {"fps": n / best, "ms_per_frame": 1000 * best / n, "fps_median": n / median,
            "ms_per_frame_median": 1000 * median / n, "rounds_s": seconds}


def run(args: argparse.Namespace, out=sys.stdout) -> dict:
    """Run the benchmark of ``args`` (:func:`parse_args`), printing progress and the table to ``out``.

    Returns the results (what ``--json`` writes): ``settings``, ``environment``, ``rows`` (one per preset x
    backend x precision x threads, references included with ``"reference": true``), ``ttff``, ``box_diff``,
    ``errors``."""
    from siamtrack.backends.runtimes import cpu_has_bf16, runtime_available
    from siamtrack.tracker.factory import create_tracker

    try:  # cv2.dnn's per-network "Targets are not supported" warnings would bury the table
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # pragma: no cover - OpenCV without cv2.utils.logging
        pass
    shared = default_shared()
    seq = Path(args.sequence)
    n_needed = 1 + WARMUP + args.frames
    frames = list(FolderSource(str(seq)))[:n_needed]
    if len(frames) < n_needed:
        raise SystemExit(f"{seq}: {len(frames)} frames, {n_needed} needed (1 init + {WARMUP} warm-up + --frames)")
    box = axis_aligned_init_box(read_boxes(seq / "groundtruth.txt")[0])
    pysot_info = None
    if args.pysot:
        from siamtrack.benchmarks.pysot_reference import load_pysot

        pysot_info = load_pysot(args.pysot)
    env = {"python": platform.python_version(), "torch": torch.__version__, "opencv": cv2.__version__,
           "numpy": np.__version__, "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "cpu_bf16": cpu_has_bf16(), "runtimes": {b: runtime_available(b) for b in BACKENDS[1:]},
           "loadavg": os.getloadavg(), "pysot": pysot_info}
    for b in ("openvino", "onnxruntime"):
        if env["runtimes"][b]:
            env[b] = __import__(b).__version__
    settings = {"presets": args.presets, "backends": args.backends, "precisions": args.precisions,
                "threads": args.threads, "rounds": args.rounds, "frames_timed": args.frames, "warmup": WARMUP,
                "budget_s": args.budget,
                "sequence": str(seq), "ttff": not args.no_ttff}
    print(f"siamtrack speed: {seq.name} frames decoded first ({frames[0].shape[1]}x{frames[0].shape[0]}), "
          f"init frame 1, {WARMUP} warm-up + {args.frames} timed updates per round, {args.rounds} alternating "
          f"rounds (best and median), threads {args.threads}, "
          + (f"fewer frames where a preset x threads group would pass {args.budget:g} s; " if args.budget else "")
          + f"torch {env['torch']}, OpenCV {env['opencv']}, "
          f"openvino {env.get('openvino', '-')}, onnxruntime {env.get('onnxruntime', '-')}, "
          f"native bf16 {env['cpu_bf16']}, load {env['loadavg'][0]:.2f}", file=out, flush=True)
    if pysot_info:
        print(f"pysot reference: {pysot_info['dir']} ({pysot_info['commit'] or 'commit unknown'}); "
              + "; ".join(pysot_info["notes"]), file=out, flush=True)
    results = {"settings": settings, "environment": env, "rows": [], "ttff": [], "box_diff": [], "errors": []}
    old_cache = os.environ.get("SIAMTRACK_GRAPH_CACHE")
    old_threads = torch.get_num_threads()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="siamtrack-speed-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "graphs"
        os.environ["SIAMTRACK_GRAPH_CACHE"] = str(cache)
        try:
            for name in args.presets:
                _run_preset(name, args, shared, frames, box, tmp, cache, results, create_tracker, out)
        finally:
            if old_cache is None:
                os.environ.pop("SIAMTRACK_GRAPH_CACHE", None)
            else:
                os.environ["SIAMTRACK_GRAPH_CACHE"] = old_cache
            torch.set_num_threads(old_threads)
    results["wall_s"] = time.perf_counter() - t_start
    print_table(results, out)
    return results


def _run_preset(name, args, shared, frames, box, tmp, cache, results, create_tracker, out) -> None:
    preset = get_preset(name)
    pairs = configs(preset, args.backends, args.precisions)
    folder = tmp / name
    folder.mkdir()
    try:
        weights, sd = weights_file(shared, name, folder)
        if not weights.is_file():
            raise FileNotFoundError(f"no weights file {weights}")
    except Exception as e:  # noqa: BLE001 - a preset that cannot run is reported, the others still run
        results["errors"].append({"preset": name, "error": f"{type(e).__name__}: {e}"})
        print(f"{name}: skipped ({type(e).__name__}: {e})", file=out, flush=True)
        return
    t0 = time.perf_counter()
    torch.set_num_threads(args.threads[0])
    cv2.setNumThreads(args.threads[0])
    if not args.no_ttff:  # fp32 per backend: cold = an empty graph cache of its own, warm = that cache again
        for b in dict.fromkeys(b for b, _ in pairs):
            own = tmp / "cold" / name / b
            os.environ["SIAMTRACK_GRAPH_CACHE"] = str(own)
            entry = {"preset": name, "backend": b, "precision": "fp32", "threads": args.threads[0]}
            try:
                for kind in ("cold", "warm"):
                    entry[f"{kind}_s"] = time_to_first_frame(
                        lambda: create_tracker(name, weights=weights, backend=b, precision="fp32"), frames, box)
            except Exception as e:  # noqa: BLE001
                entry["error"] = f"{type(e).__name__}: {e}"
            results["ttff"].append(entry)
            if b != "torch" and "error" not in entry:
                cache = own  # holds this preset's exported graphs: the timed trackers are built from it
        os.environ["SIAMTRACK_GRAPH_CACHE"] = str(cache)
    refs = {}
    if name == "nanotrack-v2" and not args.no_cv2:
        refs["cv2.TrackerNano official-onnx"] = lambda: OpenCVNano(
            shared / "weights" / "nanotrack" / "v2" / "nanotrack_backbone_sim.onnx",
            shared / "weights" / "nanotrack" / "v2" / "nanotrack_head_sim.onnx")
        try:
            pair = export_opencv_pair(weights, folder / "opencv")
            refs["cv2.TrackerNano exported-onnx"] = lambda: OpenCVNano(*pair)
        except Exception as e:  # noqa: BLE001
            results["errors"].append({"preset": name, "backend": "cv2 exported pair",
                                      "error": f"{type(e).__name__}: {e}"})
    if args.pysot and name in PYSOT_EXPERIMENT and sd is not None:
        from siamtrack.benchmarks.pysot_reference import PysotTracker

        fixture = FIXTURE_OF.get(name)
        manifest = _manifest(shared, fixture) if fixture else None
        experiment = PYSOT_EXPERIMENT[name]
        config_file = None
        if not manifest and experiment:
            config_file = str(Path(args.pysot) / "experiments" / experiment / "config.yaml")
        config = manifest["config"] if manifest else None
        refs["pysot"] = lambda: PysotTracker(args.pysot, sd, config=config, config_file=config_file)
    for threads in args.threads:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        trackers = {}
        for b, p in pairs:
            try:
                trackers[f"{b} {p}"] = create_tracker(name, weights=weights, backend=b, precision=p)
            except Exception as e:  # noqa: BLE001
                results["errors"].append({"preset": name, "backend": b, "precision": p, "threads": threads,
                                          "error": f"{type(e).__name__}: {e}"})
        for k, make in refs.items():
            try:
                trackers[k] = make()
            except Exception as e:  # noqa: BLE001
                results["errors"].append({"preset": name, "backend": k, "threads": threads,
                                          "error": f"{type(e).__name__}: {e}"})
        cost = 0.0  # calibration: init + two updates each, the second timed (the first can include one-off
        for k in list(trackers):  # set-up); a tracker that fails there is reported and left out
            try:
                trackers[k].init(frames[0], box)
                trackers[k].update(frames[1])
                t1 = time.perf_counter()
                trackers[k].update(frames[2])
                cost += time.perf_counter() - t1
            except Exception as e:  # noqa: BLE001
                results["errors"].append({"preset": name, "backend": k, "threads": threads,
                                          "error": f"{type(e).__name__}: {e}"})
                del trackers[k]
        warmup, n = plan_round(cost, args.rounds, args.frames, args.budget)
        timed = alternate(trackers, frames, box, args.rounds, n, warmup)
        del trackers
        ref_fps = {k: n / min(v["seconds"]) for k, v in timed.items() if k in refs}
        for k, v in timed.items():
            is_ref = k in refs
            backend, precision = (k, "") if is_ref else k.split()
            row = {"preset": name, "backend": backend, "precision": precision, "threads": threads,
                   "reference": is_ref, "warmup": warmup, "frames": n, **_stats(v["seconds"], n)}
            if not is_ref:
                row["ratio"] = {r: row["fps"] / f for r, f in ref_fps.items()}
            results["rows"].append(row)
        if "pysot" in timed and "torch fp32" in timed:
            diff = float(np.abs(timed["pysot"]["boxes"] - timed["torch fp32"]["boxes"]).max())
            results["box_diff"].append({"preset": name, "threads": threads, "against": "torch fp32",
                                        "max_abs_px": diff})
        line = ", ".join(f"{k} {n / min(v['seconds']):.1f}" for k, v in timed.items())
        print(f"  {name} t{threads} ({warmup}+{n} frames x {args.rounds} rounds): {line} fps", file=out, flush=True)
    print(f"{name}: done in {time.perf_counter() - t0:.0f} s", file=out, flush=True)


def _ratio_text(ratio: dict) -> str:
    short = {"cv2.TrackerNano official-onnx": "cv2 official", "cv2.TrackerNano exported-onnx": "cv2 exported",
             "pysot": "pysot"}
    return ", ".join(f"x{v:.2f} {short.get(k, k)}" for k, v in ratio.items())


def print_table(results: dict, out=sys.stdout) -> None:
    """The results as text tables: speed (one row per preset x backend x precision x threads, references
    marked ``*``), time to first frame, pysot box agreement, errors."""
    s = results["settings"]
    print(f"\nSpeed: whole tracker update, best of {s['rounds']} alternating rounds (median-round fps beside "
          f"it); frames = warm-up + timed updates per round; ratio = best fps / the reference's best fps in the "
          f"same group; * = outside reference", file=out)
    head = f"{'preset':24s} {'backend':30s} {'prec':5s} {'thr':>3s} {'frames':>6s} {'fps':>8s} {'ms/frame':>9s} " \
           f"{'fps med':>8s}  vs reference"
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in results["rows"]:
        backend = ("* " + r["backend"]) if r["reference"] else r["backend"]
        print(f"{r['preset']:24s} {backend:30s} {r['precision']:5s} {r['threads']:3d} "
              f"{'%d+%d' % (r['warmup'], r['frames']):>6s} {r['fps']:8.2f} "
              f"{r['ms_per_frame']:9.1f} {r['fps_median']:8.2f}  {_ratio_text(r.get('ratio', {}))}", file=out)
    if results["ttff"]:
        print("\nTime to first frame (create_tracker -> first update's result, fp32, s): cold = empty graph "
              "cache (ONNX export + compile), warm = the same cache again", file=out)
        print(f"{'preset':24s} {'backend':12s} {'thr':>3s} {'cold s':>8s} {'warm s':>8s}", file=out)
        for e in results["ttff"]:
            if "error" in e:
                print(f"{e['preset']:24s} {e['backend']:12s} {e['threads']:3d}  error: {e['error']}", file=out)
            else:
                print(f"{e['preset']:24s} {e['backend']:12s} {e['threads']:3d} {e['cold_s']:8.2f} "
                      f"{e['warm_s']:8.2f}", file=out)
    if results["box_diff"]:
        print("\npysot vs siamtrack torch fp32, same weights and frames: max |box difference| (px)", file=out)
        for d in results["box_diff"]:
            print(f"{d['preset']:24s} t{d['threads']}: {d['max_abs_px']:.4g}", file=out)
    for e in results["errors"]:
        print(f"error: {e}", file=out)
    print(f"\nwall time {results.get('wall_s', 0):.0f} s", file=out, flush=True)


def main(argv=None) -> None:
    """``python -m siamtrack.benchmarks.speed``: run, print the tables, write ``--json``."""
    args = parse_args(argv)
    results = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", flush=True)


if __name__ == "__main__":
    main()

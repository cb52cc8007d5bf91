"""Scoring a tracker's result files against a dataset's ground truth.

``evaluate(dataset, tdir, tracker, experiment)`` reads the files of
:mod:`siamtrack.benchmarks.results` (so result folders of other toolkits in
the same layouts are scored the same way) and returns a JSON-ready dict::

    {"tracker": name, "overall": {...}, "sequences": {seq: {...}}, "curves": {...}, "fps": float | None}

with the measures of :mod:`siamtrack.benchmarks.measures` for the dataset's
kind: OTB ``success`` (AUC), ``precision`` (20 px), ``norm_precision``;
VOT baseline ``accuracy``, ``robustness`` (vot-toolkit 0.9.0's R:
length-weighted failures per sequence), ``ar_robustness``, ``failures``,
``failure_rate``, ``eao`` (and per tag ``tags``: accuracy and failures on the
tagged frames); VOT unsupervised ``ao`` (VOT measures as vot-toolkit
0.9.0 computes them, :mod:`siamtrack.benchmarks.measures.vot`); GOT-10k
``ao``, ``sr50``, ``sr75``; DAVIS ``J_mean``, ``J_recall``, ``J_decay``,
``F_mean``, ``F_recall``, ``F_decay``. ``fps`` is frames / seconds in the
tracker over the times files (``None`` without them).
"""

from __future__ import annotations

import glob
import os
import warnings

import numpy as np

from siamtrack.benchmarks import results as res
from siamtrack.benchmarks.datasets.base import image_size
from siamtrack.benchmarks.measures import davis as mdavis
from siamtrack.benchmarks.measures import got10k as mgot
from siamtrack.benchmarks.measures import otb as motb
from siamtrack.benchmarks.measures import vot as mvot
from siamtrack.errors import SiamtrackError

__all__ = ["evaluate"]


class _Speed:
    def __init__(self):
        self.frames = 0
        self.seconds = 0.0

    def add(self, path: str) -> None:
        t = res.read_times(path)
        if t is not None:
            t = t[np.isfinite(t) & (t > 0)]
            self.frames += t.size
            self.seconds += float(t.sum())

    @property
    def fps(self):
        return self.frames / self.seconds if self.seconds > 0 else None


def _otb(ds, tdir, name):
    per, speed = {}, _Speed()
    for seq in ds.sequences:
        box_file, time_file = res.otb_paths(tdir, seq.name)
        boxes = res.read_boxes(box_file, len(seq), name, seq.name)
        per[seq.name] = motb.sequence_curves(boxes, seq.groundtruth)
        speed.add(time_file)
    overall = motb.summarise(list(per.values()))
    pick = {"success": "success_score", "precision": "precision_score", "norm_precision": "norm_precision_score"}
    return {
        "overall": {k: overall[v] for k, v in pick.items()} | {"frames": overall["frames"]},
        "sequences": {s: {k: p[v] for k, v in pick.items()} | {"frames": p["frames"]} for s, p in per.items()},
        "curves": {"success": overall["success_curve"].tolist(), "precision": overall["precision_curve"].tolist(),
                   "norm_precision": overall["norm_precision_curve"].tolist()},
        "fps": speed.fps,
    }


def _vot_runs(tdir, experiment, seq, name):
    """All result files ``<seq>_NNN.txt`` of a sequence, as the toolkit's ``MultiRunExperiment.gather``."""
    folder = os.path.join(tdir, experiment, seq.name)
    files = sorted(glob.glob(os.path.join(glob.escape(folder), f"{glob.escape(seq.name)}_[0-9][0-9][0-9].txt")))
    if not files:
        raise SiamtrackError(f"{folder}: results of {name} for sequence {seq.name} not found "
                             f"(run the tracker, or --resume an interrupted run)")
    runs = [res.read_vot(f, len(seq), name, seq.name) for f in files]
    return runs, os.path.join(folder, f"{seq.name}_time.txt")


def _tag_breakdown(ds, tag_in) -> dict:
    """Accuracy and failures on the frames of each VOT tag (and ``empty``: frames without any tag), pooled over
    sequences as got10k ``ExperimentVOT.report`` does per tag (frame means over repetitions of the overlaps
    :func:`~siamtrack.benchmarks.measures.vot.accuracy_mask` keeps). Not a measure of the vot-toolkit 0.9.0
    stacks: a breakdown only."""
    names = sorted({t for s in ds.sequences for t in s.tags})
    ov, fl, masks = [], [], {t: [] for t in names + ["empty"]}
    for seq in ds.sequences:
        r = tag_in[seq.name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)  # frames without any valid overlap: nan
            ov.append(np.nanmean(r["overlaps"], axis=0))
        fl.append(r["failure_frames"].mean(axis=0))
        any_tag = np.zeros(len(seq), bool)
        for t in names:
            m = seq.tags.get(t, np.zeros(len(seq), bool))
            masks[t].append(m)
            any_tag |= m
        masks["empty"].append(~any_tag)
    ov, fl = np.concatenate(ov), np.concatenate(fl)
    out = {}
    for t, ms in masks.items():
        m = np.concatenate(ms)
        vals = ov[m & ~np.isnan(ov)]
        out[t] = {"frames": int(m.sum()), "accuracy": float(vals.mean()) if vals.size else None,
                  "failures": float(fl[m].sum())}
    return out


def _vot_baseline(ds, tdir, name):
    """The supervised experiment's A / R / EAO with vot-toolkit 0.9.0's definitions (see
    :mod:`siamtrack.benchmarks.measures.vot`; EAO over curve indices ``EAO_RANGES[year]``)."""
    ar_in, tag_in, fragments, speed = {}, {}, [], _Speed()
    for seq in ds.sequences:
        runs, time_file = _vot_runs(tdir, "baseline", seq, name)
        size = image_size(seq)
        ovs = [mvot.frame_overlaps(t, seq.groundtruth, size) for t in runs]
        fails = [mvot.failures(t) for t in runs]
        ar_in[seq.name] = {"accuracy": [mvot.trajectory_accuracy(o, t) for o, t in zip(ovs, runs)],
                           "failures": [len(f) for f in fails], "frames": len(seq)}
        tag_in[seq.name] = {
            "overlaps": np.array([np.where(mvot.accuracy_mask(t), o, np.nan) for o, t in zip(ovs, runs)]),
            "failure_frames": np.array([np.isin(np.arange(len(seq)), f) for f in fails], dtype=np.float64),
        }
        for o, t in zip(ovs, runs):
            fragments += mvot.eao_fragments(o, t)
        speed.add(time_file)
    ar = mvot.accuracy_robustness(ar_in)
    curve = mvot.eao_curve(fragments)
    low, high = mvot.EAO_RANGES[ds.year]
    eao = mvot.eao_score(curve, low, high)
    return {
        "overall": {"accuracy": ar["accuracy"], "robustness": ar["robustness"], "ar_robustness": ar["ar_robustness"],
                    "failures": ar["failures"], "failure_rate": ar["failure_rate"], "eao": eao,
                    "frames": ar["frames"], "eao_range": [low, high]},
        "sequences": ar["sequences"],
        "tags": _tag_breakdown(ds, tag_in),
        "curves": {"eao": [None if np.isnan(v) else float(v) for v in curve]},
        "fps": speed.fps,
    }


def _vot_unsupervised(ds, tdir, name):
    ao_in, speed = {}, _Speed()
    for seq in ds.sequences:
        runs, time_file = _vot_runs(tdir, "unsupervised", seq, name)
        size = image_size(seq)
        ao_in[seq.name] = {"accuracy": [mvot.trajectory_accuracy(mvot.frame_overlaps(t, seq.groundtruth, size), t)
                                        for t in runs], "frames": len(seq)}
        speed.add(time_file)
    ao = mvot.average_overlap(ao_in)
    return {"overall": {"ao": ao["ao"], "frames": ao["frames"]}, "sequences": ao["sequences"], "curves": {},
            "fps": speed.fps}


def _got10k(ds, tdir, name):
    per, pooled, speed = {}, [], _Speed()
    for seq in ds.sequences:
        folder = os.path.join(tdir, seq.name)
        files = sorted(glob.glob(os.path.join(glob.escape(folder), f"{glob.escape(seq.name)}_[0-9][0-9][0-9].txt")))
        if not files:
            raise SiamtrackError(f"{folder}: results of {name} for sequence {seq.name} not found "
                                 f"(run the tracker, or --resume an interrupted run)")
        runs = [res.read_boxes(f, len(seq), name, seq.name) for f in files]
        speed.add(os.path.join(folder, f"{seq.name}_time.txt"))
        if not ds.scored:
            continue
        ious = mgot.sequence_ious(runs, seq.groundtruth, seq.cover, image_size(seq))
        s = mgot.summarise(ious)
        per[seq.name] = {"ao": s["ao"], "sr50": s["sr50"], "sr75": s["sr75"], "frames": s["frames"]}
        pooled.append(ious)
    if not ds.scored:
        return {"overall": {}, "sequences": {}, "curves": {}, "fps": speed.fps,
                "note": "ground truth withheld: submit the result folder to the GOT-10k server"}
    s = mgot.summarise(np.concatenate(pooled))
    return {"overall": {"ao": s["ao"], "sr50": s["sr50"], "sr75": s["sr75"], "frames": s["frames"]},
            "sequences": per, "curves": {"success": s["success_curve"].tolist()}, "fps": speed.fps}


def _davis(ds, tdir, name):
    from siamtrack.benchmarks.datasets.davis import read_mask

    per, speed = {}, _Speed()
    for seq in ds.sequences:
        folder = res.davis_dir(tdir, seq.name)
        if not res.masks_done(folder, len(seq)):
            raise SiamtrackError(f"{folder}: {len(seq)} masks of {name} for sequence {seq.name} not found "
                                 f"(run the tracker, or --resume an interrupted run)")
        j, f = [], []
        for i in range(1, len(seq) - 1):  # first and last frames are not scored
            gt = read_mask(seq.masks[i])
            pred = read_mask(os.path.join(folder, f"{i:05d}.png"))
            if pred.shape != gt.shape:
                raise SiamtrackError(f"{folder}/{i:05d}.png: mask of size {pred.shape[::-1]}, "
                                     f"expected {gt.shape[::-1]}")
            j.append(mdavis.jaccard(gt, pred))
            f.append(mdavis.f_measure(gt, pred))
        js, fs = mdavis.statistics(np.array(j)), mdavis.statistics(np.array(f))
        per[seq.name] = {f"J_{k}": v for k, v in js.items()} | {f"F_{k}": v for k, v in fs.items()} | \
            {"frames": len(seq)}
        speed.add(os.path.join(tdir, "times", f"{seq.name}_time.txt"))
    keys = [f"{m}_{s}" for m in "JF" for s in ("mean", "recall", "decay")]
    overall = {k: float(np.nanmean([p[k] for p in per.values()])) for k in keys}
    return {"overall": overall | {"frames": sum(p["frames"] for p in per.values())},
            "sequences": per, "curves": {}, "fps": speed.fps}


def evaluate(ds, tdir: str, name: str, experiment: str = "baseline") -> dict:
    """Score the results in ``tdir`` of tracker ``name`` on dataset ``ds`` (see the module docstring).

    Raises:
        SiamtrackError: a result file is missing, incomplete or malformed (the message names it).
    """
    if ds.kind == "otb":
        out = _otb(ds, tdir, name)
    elif ds.kind == "vot":
        out = _vot_unsupervised(ds, tdir, name) if experiment == "unsupervised" else _vot_baseline(ds, tdir, name)
    elif ds.kind == "got10k":
        out = _got10k(ds, tdir, name)
    elif ds.kind == "davis":
        out = _davis(ds, tdir, name)
    else:
        raise SiamtrackError(f"unknown dataset kind {ds.kind!r}")
    return {"tracker": name, **out}

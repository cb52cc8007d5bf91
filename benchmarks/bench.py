"""Running trackers over a benchmark: one task per (tracker, sequence), resumable, optionally in parallel.

A task runs the dataset's protocol on one sequence (all its repetitions) and
writes the result files (:mod:`siamtrack.benchmarks.results`), each one
atomically as soon as it is complete. With ``resume`` a repetition whose file
is already complete is not run again, so a killed run continues where it
stopped. ``workers > 1`` runs sequences in that many worker processes
(forked from a clean ``forkserver`` process, never from this one); each
builds its tracker once. Results do not depend on the number of workers:
every repetition starts from a freshly initialised tracker, with the random
generators (``random``, numpy, torch) seeded from the sequence name and the
repetition number, and with the same torch thread count.

Repetitions (got10k ``ExperimentVOT`` / ``ExperimentGOT10k``): VOT baseline 15
and GOT-10k 3 for trackers whose ``stochastic`` attribute is true, 1
otherwise; OTB, VOT unsupervised and DAVIS run once. As the VOT toolkit
(toolkit-legacy ``estimate_expected_overlap.m`` ``is_deterministic``), the
VOT repetitions stop after 3 identical ones.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import random
import sys
import zlib
from dataclasses import dataclass

import numpy as np

from siamtrack.benchmarks import results as res
from siamtrack.errors import SiamtrackError

__all__ = ["TrackerSpec", "RunConfig", "run_task", "run_all", "repetitions"]


@dataclass
class TrackerSpec:
    """A tracker to evaluate.

    Attributes:
        name: its results folder name (the preset name, or the folder's).
        tdir: its results folder ``<results>/<dataset>/<name>``.
        preset: preset to run, or ``None`` to evaluate existing results only.
        weights: checkpoint path for the preset (``None``: the weights search folders).
    """

    name: str
    tdir: str
    preset: str | None = None
    weights: str | None = None


@dataclass
class RunConfig:
    """How to run: ``experiment`` (VOT: ``baseline`` / ``unsupervised``), ``device``, ``backend`` and
    ``precision`` (:mod:`siamtrack.backends`), ``threads`` per process, ``resume``, per-frame ``progress``
    bars, DAVIS ``mask_threshold`` override."""

    kind: str
    experiment: str = "baseline"
    device: str = "cpu"
    backend: str = "auto"
    precision: str = "fp32"
    threads: int = 1
    resume: bool = False
    progress: bool = False
    mask_threshold: float | None = None


def repetitions(kind: str, experiment: str, stochastic: bool) -> int:
    """Number of runs per sequence (got10k ``repetitions``: VOT 15, GOT-10k 3; 1 for deterministic trackers)."""
    if not stochastic:
        return 1
    if kind == "vot" and experiment == "baseline":
        return 15
    if kind == "got10k":
        return 3
    return 1


_TRACKERS: dict = {}


def _tracker(spec: TrackerSpec, cfg: RunConfig):
    """The spec's tracker, built once per process."""
    key = (spec.preset, spec.weights, cfg.device, cfg.backend, cfg.precision)
    if key not in _TRACKERS:
        import torch

        from siamtrack.tracker.factory import create_tracker

        torch.set_num_threads(cfg.threads)
        _TRACKERS[key] = create_tracker(spec.preset, weights=spec.weights, device=cfg.device, backend=cfg.backend,
                                        precision=cfg.precision)
    return _TRACKERS[key]


def _seed(seq_name: str, rep: int) -> None:
    """Seed ``random``, numpy and (when a tracker has loaded it) torch from the sequence and repetition."""
    s = zlib.crc32(f"{seq_name}/{rep}".encode())
    random.seed(s)
    np.random.seed(s)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(s)


def _mask_threshold(spec: TrackerSpec, tracker, cfg: RunConfig):
    """Threshold for probability masks: ``--mask-threshold``, the tracker's ``mask_threshold``, or the
    preset's ``track`` ``mask_threshold`` / ``seg_thr`` (SiamMask's name); ``None`` when none is known."""
    if cfg.mask_threshold is not None:
        return cfg.mask_threshold
    if getattr(tracker, "mask_threshold", None) is not None:
        return float(tracker.mask_threshold)
    from siamtrack.models.presets import get_preset

    track = get_preset(spec.preset).get("track", {})
    for key in ("mask_threshold", "seg_thr"):
        if key in track:
            return float(track[key])
    return None


def _time_columns(path: str, n: int, reps: int) -> list:
    old = res.read_times(path)
    cols = [np.full(n, np.nan) for _ in range(reps)]
    if old is not None and old.shape[0] == n:
        for r in range(min(reps, old.shape[1])):
            cols[r] = old[:, r]
    return cols


def _text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _run_repeated(seq, cfg: RunConfig, files: list, time_file: str, run_once, write_one,
                  time_fmt: str) -> tuple[int, float]:
    """Run (or, resuming, keep) each repetition file in turn, rewriting the times file after each run.

    Returns the number of repetitions actually run and the seconds they spent tracking.
    """
    n = len(seq)
    cols = _time_columns(time_file, n, len(files))
    texts, ran, seconds = [], 0, 0.0
    for r, path in enumerate(files):
        if r == 3 and len(set(texts)) == 1:  # the VOT toolkit's is_deterministic(sequence, 3, ...)
            break
        if not (cfg.resume and res.count_lines(path) == n):
            _seed(seq.name, r + 1)
            out, times = run_once()
            write_one(path, out)
            cols[r] = times
            res.write_times(time_file, cols[:r + 1], fmt=time_fmt)
            ran += 1
            seconds += float(np.nansum(times))
        texts.append(_text(path))
    return ran, seconds


def _one_pass(spec, seq, cfg, info, done: bool, run_and_write) -> dict:
    """A protocol run once: skipped when resuming a finished result, else run and written."""
    if cfg.resume and done:
        info["skipped"] = True
        return info
    tracker = _tracker(spec, cfg)
    _seed(seq.name, 1)
    info["seconds"] = float(np.sum(run_and_write(tracker)))
    return info


def _otb_task(spec, seq, cfg, info):
    from siamtrack.benchmarks.protocols.ope import run_ope

    box_file, time_file = res.otb_paths(spec.tdir, seq.name)

    def go(tracker):
        boxes, times, _ = run_ope(tracker, seq, cfg.progress)
        res.write_boxes(box_file, boxes)
        res.write_times(time_file, [times])
        return times
    return _one_pass(spec, seq, cfg, info, res.count_lines(box_file) == len(seq), go)


def _davis_task(spec, seq, cfg, info):
    from siamtrack.benchmarks.protocols.davis import run_masks

    folder = res.davis_dir(spec.tdir, seq.name)

    def go(tracker):
        masks, times = run_masks(tracker, seq, _mask_threshold(spec, tracker, cfg), cfg.progress,
                                 tracker_name=spec.name)
        res.write_masks(folder, masks)
        res.write_times(os.path.join(spec.tdir, "times", f"{seq.name}_time.txt"), [times])
        return times
    return _one_pass(spec, seq, cfg, info, res.masks_done(folder, len(seq)), go)


def _unsupervised_task(spec, seq, cfg, info):
    from siamtrack.benchmarks.protocols.ope import run_ope

    files, time_file = res.vot_paths(spec.tdir, "unsupervised", seq.name, 1)

    def go(tracker):
        _, times, regions = run_ope(tracker, seq, cfg.progress)
        res.write_vot(files[0], [np.array([1.0])] + regions[1:])  # VOT toolkit: "1" on the init frame
        res.write_times(time_file, [times], fmt="%.4f")
        return times
    return _one_pass(spec, seq, cfg, info, res.count_lines(files[0]) == len(seq), go)


def _repeated_task(spec, seq, cfg, info):
    """VOT baseline / GOT-10k: as many runs as the tracker needs (built first: its ``stochastic`` decides)."""
    from siamtrack.benchmarks.protocols.ope import run_ope
    from siamtrack.benchmarks.protocols.vot import run_baseline

    tracker = _tracker(spec, cfg)
    reps = repetitions(cfg.kind, cfg.experiment, bool(getattr(tracker, "stochastic", False)))
    if cfg.kind == "vot":
        files, time_file = res.vot_paths(spec.tdir, "baseline", seq.name, reps)
        ran, seconds = _run_repeated(seq, cfg, files, time_file,
                                     lambda: run_baseline(tracker, seq, progress=cfg.progress), res.write_vot, "%.4f")
    else:
        files, time_file = res.got10k_paths(spec.tdir, seq.name, reps)
        ran, seconds = _run_repeated(seq, cfg, files, time_file,
                                     lambda: run_ope(tracker, seq, cfg.progress)[:2], res.write_boxes, "%.8f")
    info["skipped"] = ran == 0
    info["seconds"] = seconds
    return info


def run_task(spec: TrackerSpec, seq, cfg: RunConfig) -> dict:
    """Run ``spec``'s tracker on one sequence with the dataset's protocol and write its results.

    Returns:
        ``{"tracker", "sequence", "frames", "seconds", "skipped"}``.

    Raises:
        SiamtrackError: unreadable frames, a rejected init box, a tracker
            without masks on DAVIS, unwritable result files.
    """
    info = {"tracker": spec.name, "sequence": seq.name, "frames": len(seq), "seconds": 0.0, "skipped": False}
    if cfg.kind == "otb":
        return _otb_task(spec, seq, cfg, info)
    if cfg.kind == "davis":
        return _davis_task(spec, seq, cfg, info)
    if cfg.kind == "vot" and cfg.experiment == "unsupervised":
        return _unsupervised_task(spec, seq, cfg, info)
    if cfg.kind in ("vot", "got10k"):
        return _repeated_task(spec, seq, cfg, info)
    raise SiamtrackError(f"unknown dataset kind {cfg.kind!r}")


def _raise_interrupted(signum, frame) -> None:
    from siamtrack.runner.interrupts import Interrupted

    raise Interrupted(signum)


def _init_worker(threads: int) -> None:
    import signal

    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    # SIGTERM (sent by run_all when the main process is interrupted) and Ctrl-C unwind the task, so its
    # temporary result files are deleted; finished files stay.
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGINT, _raise_interrupted)


def _pool_context():
    """``forkserver`` with torch and this module preloaded (a clean server process, forked per worker: torch
    is imported once and no worker inherits OpenMP state), else ``spawn``."""
    try:
        ctx = multiprocessing.get_context("forkserver")
    except ValueError:  # pragma: no cover - platforms without fork (Windows)
        return multiprocessing.get_context("spawn")
    ctx.set_forkserver_preload(["torch", "siamtrack.benchmarks.bench", "siamtrack.tracker.factory"])
    return ctx


def run_all(tasks: list, cfg: RunConfig, workers: int = 1, progress: bool = True) -> list[dict]:
    """Run ``tasks`` (``(TrackerSpec, Sequence)`` pairs); returns their infos in task order.

    ``workers == 1`` runs them here, with a frame bar under the sequence bar;
    more run in a process pool (sequence bar only). The first error
    stops the run (finished sequences stay written).
    """
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="sequences", unit="seq", disable=not progress, dynamic_ncols=True)
    infos: list = [None] * len(tasks)
    try:
        if workers <= 1 or len(tasks) <= 1:
            local = RunConfig(**{**cfg.__dict__, "progress": progress and cfg.progress})
            for i, (spec, seq) in enumerate(tasks):
                bar.set_postfix_str(f"{spec.name} / {seq.name}")
                infos[i] = run_task(spec, seq, local)
                bar.update()
            return infos
        sub = RunConfig(**{**cfg.__dict__, "progress": False})
        ctx = _pool_context()
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                    initargs=(cfg.threads,)) as pool:
            futures = {pool.submit(run_task, spec, seq, sub): i for i, (spec, seq) in enumerate(tasks)}
            try:
                for fut in cf.as_completed(futures):
                    i = futures[fut]
                    infos[i] = fut.result()
                    bar.set_postfix_str(f"{infos[i]['tracker']} / {infos[i]['sequence']}")
                    bar.update()
            except BaseException as e:
                from siamtrack.runner.interrupts import Interrupted

                if isinstance(e, Interrupted):  # stop the running sequences now, not when they finish
                    for proc in list((getattr(pool, "_processes", None) or {}).values()):
                        with contextlib.suppress(Exception):
                            proc.terminate()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return infos
    finally:
        bar.close()

"""VOT: loader (both layouts, tags), the baseline protocol's failures and re-initialisations, result files, A/R/EAO.

The protocol is driven (1) by a scripted tracker defined here that answers
with the ground-truth polygon except on one frame, so every code of the
trajectory and every measure is known in advance, and (2) by the real
NanoTrack with one forced failure. ``siamtrack bench --dataset vot2018`` runs
on a cut of two shared sequences (one per layout).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import nanotrack_weights
from siamtrack.benchmarks import results as res
from siamtrack.benchmarks.datasets import load_dataset
from siamtrack.benchmarks.evaluate import evaluate
from siamtrack.benchmarks.measures.vot_raster import raster_overlap
from siamtrack.benchmarks.protocols.vot import run_baseline
from siamtrack.boxes import axis_aligned_init_box
from siamtrack.cli import main
from siamtrack.tracker.base import Tracker, TrackResult

N = 40
FAIL_AT = 8


class Replay(Tracker):
    """Answers each frame with the ground-truth polygon (as a mask tracker's ``polygon``), or on the
    frames in ``far`` with a box far from the target; records its init calls (frame, box). The frame
    index comes from the reader (``frame_index``)."""

    def __init__(self, gt, far=()):
        self.gt, self.far, self.inits, self.k = np.asarray(gt), set(far), [], 0

    def init(self, frame, box):
        self.k = self.frame_index
        self.inits.append((self.k, np.asarray(box, float)))

    def update(self, frame):
        self.k += 1
        if self.k in self.far:
            return TrackResult(box=np.array([1000.0, 1000.0, 5.0, 5.0]), score=0.1)
        poly = self.gt[self.k]
        return TrackResult(box=np.array([0.0, 0.0, 1.0, 1.0]), score=1.0, polygon=poly)


@pytest.fixture(scope="module")
def vot_view(shared_dir, tmp_path_factory) -> Path:
    """bag (flat layout) and ball1 (color/ + sequence file + tags) cut to N frames, with list.txt."""
    root = tmp_path_factory.mktemp("vot_view")
    for seq in ("bag", "ball1"):
        src = shared_dir / "data" / "vot" / seq
        dst = root / seq
        dst.mkdir()
        img_src = src / "color" if (src / "color").is_dir() else src
        img_dst = dst / "color" if (src / "color").is_dir() else dst
        img_dst.mkdir(exist_ok=True)
        for p in sorted(img_src.glob("*.jpg"))[:N]:
            (img_dst / p.name).symlink_to(p)
        for f in src.iterdir():
            if f.suffix in (".txt", ".tag", ".label", ".value") or f.name == "sequence":
                (dst / f.name).write_text("".join(f.read_text().splitlines(keepends=True)[:N]))
    (root / "list.txt").write_text("bag\nball1\n")
    return root


def test_loader_reads_both_layouts_and_tags(shared_dir):
    ds = load_dataset("vot2018", str(shared_dir / "data/vot"))
    assert (ds.kind, ds.result_name, ds.year) == ("vot", "VOT2018", 2018)
    seqs = {s.name: s for s in ds.sequences}
    assert [s.name for s in ds.sequences] == ["bag", "ball1", "book", "car"]  # list.txt order
    assert {n: len(s) for n, s in seqs.items()} == {"bag": 196, "ball1": 105, "book": 175, "car": 252}
    assert seqs["ball1"].frames[0].endswith("ball1/color/00000001.jpg")
    assert seqs["bag"].frames[0].endswith("bag/00000001.jpg")
    assert sorted(seqs["ball1"].tags) == ["camera_motion", "illum_change", "motion_change", "size_change"]
    assert sorted(seqs["car"].tags) == ["camera_motion", "illum_change", "motion_change", "occlusion", "size_change"]
    assert seqs["car"].tags["occlusion"].sum() == 24 and seqs["bag"].tags == {}
    assert seqs["bag"].groundtruth.shape == (196, 8)
    np.testing.assert_array_equal(seqs["bag"].init_box, axis_aligned_init_box(seqs["bag"].groundtruth[0]))


def _frame_index_patch(tracker, seq):
    """Make Replay know the frame it is initialised on: wrap the reader to record the frame index."""
    index = {p: i for i, p in enumerate(seq.frames)}

    def reader(path):
        tracker.frame_index = index[path]
        return np.zeros((seq.size[1], seq.size[0], 3), np.uint8) if seq.size else np.zeros((360, 480, 3), np.uint8)
    return reader


def test_baseline_protocol_codes_and_measures(vot_view, tmp_path):
    ds = load_dataset("vot2018", str(vot_view), ["bag"])
    seq = ds.sequences[0]
    tracker = Replay(seq.groundtruth, far=[FAIL_AT])
    traj, times = run_baseline(tracker, seq, reader=_frame_index_patch(tracker, seq))
    codes = [int(t[0]) if t.size == 1 else -1 for t in traj]
    restart = FAIL_AT + 5
    assert codes == [1] + [-1] * (FAIL_AT - 1) + [2, 0, 0, 0, 0, 1] + [-1] * (N - restart - 1)
    assert [k for k, _ in tracker.inits] == [0, restart]
    np.testing.assert_array_equal(tracker.inits[1][1], axis_aligned_init_box(seq.groundtruth[restart]))
    assert np.isnan(times[FAIL_AT + 1:restart]).all() and np.isfinite(times[:FAIL_AT + 1]).all()
    # written in the toolkit layout, read back and scored
    tdir = res.tracker_dir(str(tmp_path), ds, "scripted")
    files, _ = res.vot_paths(tdir, "baseline", "bag", 1)
    res.write_vot(files[0], traj)
    lines = Path(files[0]).read_text().splitlines()
    assert lines[0] == "1" and lines[FAIL_AT] == "2" and lines[FAIL_AT + 1] == "0" and lines[restart] == "1"
    assert len(lines[1].split(",")) == 8 and Path(files[0]).name == "bag_001.txt"
    ev = evaluate(ds, tdir, "scripted")
    o = ev["overall"]
    # vot-toolkit 0.9.0 definitions: accuracy outside the 10-frame burn-in from each init (frames 10..39
    # minus 13..22 and the special frames); R = failures per sequence (length-weighted: one sequence)
    assert o["accuracy"] == pytest.approx(1.0, abs=1e-9) and o["failures"] == 1
    assert o["robustness"] == 1.0 and o["failure_rate"] == pytest.approx(1 / N)
    assert o["ar_robustness"] == pytest.approx(math.exp(-30 / N), abs=1e-12)
    assert ev["sequences"]["bag"]["robustness"] == 1.0 and ev["sequences"]["bag"]["frames"] == N
    assert list(ev["tags"]) == ["empty"] and ev["tags"]["empty"]["frames"] == N  # bag has no tag files
    assert ev["tags"]["empty"]["failures"] == 1 and ev["tags"]["empty"]["accuracy"] == pytest.approx(1.0)
    # EAO by hand (toolkit): fragment 0 = frames 0..7 (init, then overlap 1 on 1..7), failed: 0 at every
    # later index; fragment 1 = frames 13..39 (init, overlap 1 on 26 frames), defined at indices 0..26.
    # Index j (1 <= j <= 26): (min(j, 7) / j + 1) / 2; the curve ends with the longest fragment (27).
    curve = np.array([np.nan if v is None else v for v in ev["curves"]["eao"]])
    j = np.arange(1, N - restart)
    assert len(curve) == N - restart and curve[0] == 0.0
    np.testing.assert_allclose(curve[1:], (np.minimum(j, 7) / j + 1) / 2, atol=1e-12)
    assert math.isnan(o["eao"])  # the VOT2018 indices 100..356 are all beyond this curve


def test_real_tracker_forced_failure_is_reinitialised(vot_view, shared_dir):
    import torch

    from siamtrack.tracker.factory import create_tracker

    torch.set_num_threads(1)  # as siamtrack bench: two spinning threads collapse on a busy 2-core machine
    ds = load_dataset("vot2018", str(vot_view), ["ball1"])
    seq = ds.sequences[0]
    real = create_tracker("nanotrack", weights=nanotrack_weights(shared_dir, 2))

    class Forced(Tracker):
        def __init__(self):
            self.k, self.inits = 0, []

        def init(self, frame, box):
            self.inits.append(np.asarray(box, float))
            real.init(frame, box)

        def update(self, frame):
            self.k += 1
            r = real.update(frame)
            return TrackResult(box=np.array([1.0, 1.0, 5.0, 5.0]), score=0.0) if self.k == 5 else r

    t = Forced()
    traj, _ = run_baseline(t, seq)
    assert [int(x[0]) for x in traj[:11] if x.size == 1] == [1, 2, 0, 0, 0, 0, 1]
    assert len(t.inits) == 2
    after = [raster_overlap(traj[i], seq.groundtruth[i], seq.size) for i in range(11, N)]
    assert min(after) > 0.3  # tracking again after the re-initialisation


def test_cli_vot2018_baseline_and_unsupervised(vot_view, shared_dir, tmp_path):
    w = nanotrack_weights(shared_dir, 2)
    args = ["bench", "--dataset", "vot2018", "--root", str(vot_view), "--model", "nanotrack", "--weights", str(w),
            "--results-dir", str(tmp_path), "-q", "-v"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    head = r.output.splitlines()
    assert head[0].startswith("vot2018 (2 sequences, 80 frames, baseline)")
    assert head[1].split()[-5:] == ["A", "R", "Fail", "EAO", "fps"]
    rep = json.loads((tmp_path / "reports" / "VOT2018" / "report.json").read_text())["trackers"][0]
    total = next(ln for ln in head if "(all)" in ln).split()
    assert total[2] == f"{rep['overall']['accuracy']:.3f}" and 0.5 < rep["overall"]["accuracy"] <= 1
    o = rep["overall"]  # R: the toolkit's length-weighted failures per sequence (both sequences N frames)
    assert total[3] == f"{o['robustness']:.3f}" and o["robustness"] == pytest.approx(o["failures"] / 2)
    assert rep["overall"]["eao_range"] == [100, 356]
    assert (tmp_path / "reports" / "VOT2018" / "eao_curve.png").is_file()
    for seq in ("bag", "ball1"):
        lines = (tmp_path / "VOT2018" / "nanotrack-v2" / "baseline" / seq / f"{seq}_001.txt").read_text().splitlines()
        assert len(lines) == N and lines[0] == "1"
        assert all(ln in ("0", "1", "2") or len(ln.split(",")) == 4 for ln in lines[1:])
        times = tmp_path / "VOT2018" / "nanotrack-v2" / "baseline" / seq / f"{seq}_time.txt"
        assert len(times.read_text().split()) == N
    r = CliRunner().invoke(main, args + ["--experiment", "unsupervised", "--resume"])
    assert r.exit_code == 0, r.output
    assert "AO" in r.output.splitlines()[1]
    lines = (tmp_path / "VOT2018" / "nanotrack-v2" / "unsupervised" / "bag" / "bag_001.txt").read_text().splitlines()
    assert lines[0] == "1" and len(lines) == N and all(len(ln.split(",")) == 4 for ln in lines[1:])
    assert (tmp_path / "reports" / "VOT2018" / "report_unsupervised.json").is_file()


class Jitter(Tracker):
    """A stochastic double: the ground-truth box of each frame plus numpy-random noise (``noise=0``: the same
    every run although flagged stochastic). The frame index comes from the reader, as for Replay."""

    stochastic = True

    def __init__(self, gt, noise):
        self.gt, self.noise, self.k = np.asarray(gt), noise, 0

    def init(self, frame, box):
        self.k = 0

    def update(self, frame):
        self.k += 1
        box = axis_aligned_init_box(self.gt[self.k]) + np.random.uniform(-self.noise, self.noise, 4)
        return TrackResult(box=box, score=1.0)


@pytest.mark.parametrize("noise,expected_runs", [(3.0, 15), (0.0, 3)])
def test_stochastic_trackers_are_repeated(vot_view, tmp_path, noise, expected_runs):
    """15 seeded runs for a stochastic tracker (3 when the first 3 are identical, as the toolkit stops);
    the same files again on a second run: the seeds depend on sequence and repetition only."""
    from siamtrack.benchmarks import bench

    ds = load_dataset("vot2018", str(vot_view), ["bag"])
    seq = ds.sequences[0]
    seq.frames = seq.frames[:12]
    seq.groundtruth = seq.groundtruth[:12]
    key = ("jitter-double", None, "cpu", "auto", "fp32")
    outputs = []
    try:
        for run in ("a", "b"):
            bench._TRACKERS[key] = Jitter(seq.groundtruth, noise)
            tdir = str(tmp_path / run)
            info = bench.run_task(bench.TrackerSpec("jitter", tdir, "jitter-double"), seq, bench.RunConfig(kind="vot"))
            files = sorted((tmp_path / run / "baseline" / "bag").glob("bag_[0-9][0-9][0-9].txt"))
            assert len(files) == expected_runs and not info["skipped"]
            times = np.loadtxt(tmp_path / run / "baseline" / "bag" / "bag_time.txt", delimiter=",")
            assert times.shape == (12, expected_runs)
            outputs.append([f.read_text() for f in files])
    finally:
        bench._TRACKERS.pop(key, None)
    assert outputs[0] == outputs[1]
    assert len(set(outputs[0])) == (expected_runs if noise else 1)
    ev = evaluate(ds, str(tmp_path / "a"), "jitter")
    assert ev["overall"]["failures"] == 0 and 0.5 < ev["overall"]["accuracy"] <= 1.0

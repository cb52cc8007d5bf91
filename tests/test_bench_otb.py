"""``siamtrack bench`` on OTB: the acceptance run, got10k's own scoring of our result files, resume, workers.

The four shared OTB sequences are cut to their first 20 frames in a
temporary OTB-layout view (image symlinks + the first 20 ground-truth lines),
so NanoTrack (real v2 weights) runs 80 frames. got10k's ``ExperimentOTB``
scores the very files ``siamtrack bench`` wrote and must give the same AUC
and precision to 1e-6.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import nanotrack_weights
from siamtrack.cli import main

SEQS = ("Basketball", "Couple", "Crossing", "Football1")
N = 20
TRACKER = "nanotrack-v2"


def _view(shared: Path, root: Path, n: int = N) -> Path:
    for seq in SEQS:
        src = shared / "data" / "otb" / seq
        (root / seq / "img").mkdir(parents=True)
        for p in sorted((src / "img").glob("*.jpg"))[:n]:
            (root / seq / "img" / p.name).symlink_to(p)
        lines = [ln for ln in (src / "groundtruth_rect.txt").read_text().splitlines() if ln.strip()][:n]
        (root / seq / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    return root


def _bench(*args):
    result = CliRunner().invoke(main, ["bench", *map(str, args)])
    assert result.exit_code == 0, f"{result.output}\n{result.stderr}\n{result.exception!r}"
    return result


@pytest.fixture(scope="module")
def otb_view(shared_dir, tmp_path_factory) -> Path:
    return _view(shared_dir, tmp_path_factory.mktemp("otb_view"))


@pytest.fixture(scope="module")
def weights(shared_dir) -> Path:
    return nanotrack_weights(shared_dir, 2)


@pytest.fixture(scope="module")
def otb_run(otb_view, weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("otb_run")
    res = _bench("--dataset", "otb", "--root", otb_view, "--model", "nanotrack", "--weights", weights,
                 "--results-dir", out / "results", "-v", "-q")
    report = json.loads((out / "results" / "reports" / "OTB" / "report.json").read_text())
    return out / "results", res.output, report


def _box_files(results: Path) -> dict:
    return {s: (results / "OTB" / TRACKER / f"{s}.txt").read_bytes() for s in SEQS}


def test_acceptance_table_plots_and_reference_boxes(otb_run, shared_dir):
    results, output, report = otb_run
    lines = output.splitlines()
    assert lines[0].startswith("otb (4 sequences, 80 frames)")
    assert "AUC" in lines[1] and "Prec@20" in lines[1]
    ev = report["trackers"][0]
    assert ev["tracker"] == TRACKER and sorted(ev["sequences"]) == sorted(SEQS)
    for seq in SEQS:
        row = next(ln for ln in lines if ln.split()[:2] == [TRACKER, seq])
        assert f"{ev['sequences'][seq]['success']:.3f}" in row.split()
    total = next(ln for ln in lines if ln.split()[:2] == [TRACKER, "(all)"])
    assert total.split()[2:4] == [f"{ev['overall']['success']:.3f}", f"{ev['overall']['precision']:.3f}"]
    for name in ("success_plot.png", "precision_plot.png"):
        assert (results / "reports" / "OTB" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # layout: one x,y,w,h line per frame, the init box (ground truth, as is) first; times beside
    boxes = np.loadtxt(results / "OTB" / TRACKER / "Crossing.txt", delimiter=",")
    assert boxes.shape == (N, 4) and boxes[0].tolist() == [205, 151, 17, 50]
    assert np.loadtxt(results / "OTB" / TRACKER / "times" / "Crossing_time.txt").shape == (N,)
    # the boxes are the reference NanoTrack's (HonglinChu/SiamTrackers, in the fixture), to the 3 decimals written
    ref = json.loads((shared_dir / "fixtures/nanotrack_v2/results/otb__Crossing.json").read_text())
    np.testing.assert_allclose(boxes, np.array(ref["bbox"])[:N], atol=1e-3)


def test_got10k_scores_our_result_files_the_same(otb_run, otb_view, tmp_path, monkeypatch):
    import got10k.experiments.otb as gotb
    from got10k.datasets import OTB

    results, _, report = otb_run
    # got10k's ExperimentOTB builds OTB(..., download=True): keep it offline on the 4 sequences present.
    monkeypatch.setattr(gotb, "OTB", lambda root_dir, version, download=True: OTB(root_dir, version, download=False))
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "OTB2015").symlink_to(results / "OTB", target_is_directory=True)
    exp = gotb.ExperimentOTB(str(otb_view), version=2015, result_dir=str(tmp_path / "res"),
                             report_dir=str(tmp_path / "rep"))
    perf = exp.report([TRACKER])[TRACKER]
    ours = report["trackers"][0]
    assert sorted(perf["seq_wise"]) == sorted(SEQS)
    assert abs(perf["overall"]["success_score"] - ours["overall"]["success"]) < 1e-6
    assert abs(perf["overall"]["precision_score"] - ours["overall"]["precision"]) < 1e-6
    for seq in SEQS:
        assert abs(perf["seq_wise"][seq]["success_score"] - ours["sequences"][seq]["success"]) < 1e-6
    np.testing.assert_allclose(perf["overall"]["success_curve"], ours["curves"]["success"], atol=1e-12)
    assert 0.3 < ours["overall"]["success"] < 0.95


def test_resume_after_a_killed_run(otb_run, otb_view, weights, tmp_path):
    """A run killed after its first sequence, then a damaged file: --resume finishes with identical results."""
    results, output, _ = otb_run
    out = tmp_path / "results"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "siamtrack.cli", "bench", "--dataset", "otb", "--root",
                             str(otb_view), "--model", "nanotrack", "--weights", str(weights), "--results-dir",
                             str(out), "-q"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tdir = out / "OTB" / TRACKER
    deadline = time.time() + 120
    while not (tdir / "Basketball.txt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in tdir.glob("*.txt"))
    assert "Basketball.txt" in done and len(done) < 4, done  # killed part-way
    for p in tdir.glob("*.txt"):  # whatever exists is complete: files appear only when written in full
        assert len(p.read_text().splitlines()) == N
    # damage: a truncated file (e.g. copied by hand) and a stray temporary file of a killed writer
    first = sorted(tdir.glob("*.txt"))[0]
    first.write_text("".join(first.read_text().splitlines(keepends=True)[:5]))
    (tdir / ".Couple.tmp-deadbeef.txt").write_text("1,2,3,4\n")
    kept = {p.name: p.stat().st_mtime_ns for p in tdir.glob("*.txt") if p != first}
    res = _bench("--dataset", "otb", "--root", otb_view, "--model", "nanotrack", "--weights", weights,
                 "--results-dir", out, "--resume", "-v", "-q")
    assert _box_files(out) == _box_files(results)
    assert all((tdir / n).stat().st_mtime_ns == t for n, t in kept.items())  # finished sequences not run again
    scores = lambda text: [ln.split()[:5] for ln in text.splitlines()[3:8]]  # noqa: E731 (fps aside)
    assert scores(res.output) == scores(output)


def test_workers_give_identical_results_and_existing_folders_compare(otb_run, otb_view, weights, tmp_path):
    results, _, report = otb_run
    out = tmp_path / "results"
    _bench("--dataset", "otb", "--root", otb_view, "--model", "nanotrack", "--weights", weights,
           "--results-dir", out, "--workers", "2", "-q", "--no-plots")
    assert _box_files(out) == _box_files(results)
    # several trackers in one table and plot: a preset (already done: --resume) and a copied result folder
    shutil.copytree(results / "OTB" / TRACKER, tmp_path / "copy")
    res = _bench("--dataset", "otb", "--root", otb_view, "--model", f"nanotrack,{tmp_path / 'copy'}",
                 "--weights", weights, "--results-dir", out, "--resume", "-q")
    rep = json.loads((out / "reports" / "OTB" / "report.json").read_text())
    assert [t["tracker"] for t in rep["trackers"]] == [TRACKER, "copy"]
    assert rep["trackers"][1]["overall"] == rep["trackers"][0]["overall"] == report["trackers"][0]["overall"]
    assert [ln.split()[0] for ln in res.output.splitlines()[3:5]] == [TRACKER, "copy"]
    assert (out / "reports" / "OTB" / "success_plot.png").stat().st_size > 1000

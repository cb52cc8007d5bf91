"""`siamtrack trax` (TraX server) and `siamtrack vot-workspace` with the official VOT toolkit.

The toolkit (vot-toolkit 0.9.0, GPL) lives in its own virtual environment,
``.vot-venv/`` (``make vot-toolkit``), and is only driven through its ``vot``
command; the TraX client of the in-process tests is the ``vot-trax`` package
of the main environment (siamtrack's runtime dependency).
"""

import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import nanotrack_weights

REPO = Path(__file__).resolve().parent.parent
# book frames 1-120, nanotrack-v2: accuracy of `vot analysis` (pixel-raster overlaps; exact polygon areas give 0.53554)
ACC_RASTER = 0.54619
VOT = Path(os.environ.get("SIAMTRACK_VOT", REPO / ".vot-venv" / "bin" / "vot"))


def _siamtrack(*args, **kw):
    return subprocess.run([sys.executable, "-m", "siamtrack.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120, **kw)


def _one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("siamtrack: error: "), proc.stderr
    for w in words:
        assert w in lines[0]




# --------------------------------------------------------------------------- TraX server, driven in-process


@pytest.fixture(scope="module")
def trax():
    return pytest.importorskip("trax", reason="vot-trax is not installed (pip install vot-trax)")


def test_trax_session_matches_tracker(shared_dir, trax, tmp_path, one_thread):
    """A TraX session on real VOT frames gives the tracker's own boxes and scores; a bad frame ends it (exit 2)."""
    import cv2

    from siamtrack.benchmarks.datasets.vot import load_vot
    from siamtrack.boxes import axis_aligned_init_box
    from siamtrack.tracker.factory import create_tracker

    weights = nanotrack_weights(shared_dir, 2)
    seq = load_vot(str(shared_dir / "data" / "vot"), 2018).sequences[2]  # book: color/ layout, polygons
    assert seq.name == "book"
    proc = subprocess.Popen([sys.executable, "-m", "siamtrack.cli", "trax", "--model", "nanotrack", "--weights",
                             str(weights)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        from trax.client import Client

        log = []  # (a logger is required: vot-trax 4.0.2's Client fails with log=False)
        client = Client(stream=(proc.stdin.fileno(), proc.stdout.fileno()), timeout=120, log=log.append)
        assert client.region_formats == ["rectangle", "polygon"] and client.tracker_name == "siamtrack nanotrack-v2"
        assert client.channels == ["color"] and client.image_formats == ["path"]
        ref = create_tracker("nanotrack", weights=str(weights))

        # polygon start: the pysot axis-aligned box, answered with the init region itself, confidence 1
        poly = seq.groundtruth[0].reshape(-1, 2)
        img = {"color": trax.FileImage.create(seq.frames[0])}
        out, _ = client.initialize(img, [(trax.Polygon.create([tuple(map(float, p)) for p in poly]), {})], {})
        assert out[0][0].type == "polygon" and float(out[0][1]["confidence"]) == 1.0
        ref.init(cv2.imread(seq.frames[0]), axis_aligned_init_box(np.float32(seq.groundtruth[0])))
        for f in seq.frames[1:6]:
            out, _ = client.frame({"color": trax.FileImage.create(f)}, {}, [])
            r = ref.update(cv2.imread(f))
            assert out[0][0].type == "rectangle"
            np.testing.assert_allclose(out[0][0].bounds(), r.box, atol=1e-3)  # float32 text, 4 decimals
            assert float(out[0][1]["confidence"]) == pytest.approx(r.score, abs=1e-6)

        # rectangle re-initialisation on a later frame: 0-based x, y, w, h used as they are
        box = [172.0, 63.0, 84.0, 70.0]
        out, _ = client.initialize({"color": trax.FileImage.create(seq.frames[10])},
                                   [(trax.Rectangle.create(*box), {})], {})
        assert out[0][0].bounds() == tuple(box)
        ref.init(cv2.imread(seq.frames[10]), np.array(box))
        out, _ = client.frame({"color": trax.FileImage.create(seq.frames[11])}, {}, [])
        np.testing.assert_allclose(out[0][0].bounds(), ref.update(cv2.imread(seq.frames[11])).box, atol=1e-3)

        # an unreadable frame: the server quits with the reason, exits 2 with the one-line error
        missing = tmp_path / "missing.jpg"
        with pytest.raises(trax.TraxException, match="missing.jpg: cannot read the image"):
            client.frame({"color": trax.FileImage.create(str(missing))}, {}, [])
        assert proc.wait(timeout=60) == 2
        err = proc.stderr.read().decode().strip().splitlines()
        assert err[-1] == f"siamtrack: error: {missing}: cannot read the image"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_trax_bad_input_fails_before_handshake(tmp_path):
    for args, words in [(["--model", "nope"], ["unknown model 'nope'"]),
                        (["--model", "nanotrack", "--weights", tmp_path / "none.pth"],
                         ["none.pth", "no such file or folder"])]:
        proc = _siamtrack("trax", *args, stdin=subprocess.DEVNULL)
        _one_line_error(proc, *words)
        assert "@@TRAX" not in proc.stdout


def test_region_to_box(trax):
    from siamtrack.errors import SiamtrackError
    from siamtrack.runner.trax_server import region_to_box

    assert region_to_box(trax.Rectangle.create(10.5, 20.25, 30, 40)).tolist() == [10.5, 20.25, 30.0, 40.0]
    # axis-aligned rectangle polygon: pysot's box is its bounding box plus one pixel, same centre
    sq = trax.Polygon.create([(10.0, 20.0), (40.0, 20.0), (40.0, 60.0), (10.0, 60.0)])
    assert region_to_box(sq).tolist() == [10.0, 20.0, 31.0, 41.0]  # centre (25, 40): x = 25 - (31 - 1) / 2
    m = np.zeros((30, 40), np.uint8)
    m[5:9, 7:17] = 1
    assert region_to_box(trax.Mask.create(m, x=3, y=4)).tolist() == [10.0, 9.0, 10.0, 4.0]
    with pytest.raises(SiamtrackError, match="mask region is empty"):
        region_to_box(trax.Mask.create(np.zeros((5, 5), np.uint8)))
    with pytest.raises(SiamtrackError, match="degenerate"):
        region_to_box(trax.Rectangle.create(1, 2, 0, 5))


def test_answer_formats_for_mask_trackers(trax):
    """Mask trackers answer in the client's format (mask / polygon / rectangle); the others with their box."""
    from siamtrack.runner.trax_server import TraxTrackerServer
    from siamtrack.tracker.base import TrackResult

    mask = np.zeros((6, 8), bool)
    mask[2:4, 3:6] = True
    res = TrackResult(box=np.array([3.0, 2.0, 3.0, 2.0]), score=0.5, binary_mask=mask,
                      polygon=np.array([3.0, 2.0, 6.0, 2.0, 6.0, 4.0, 3.0, 4.0]))
    server = TraxTrackerServer(None, mask=True)
    assert server.formats() == ["rectangle", "polygon", "mask"]
    server._reply_as = "mask"
    m = server._answer(res)
    assert m.type == "mask" and np.array_equal(m.array(normalize=True)[:6, :8] > 0, mask)
    server._reply_as = "polygon"
    assert list(server._answer(res)) == [(3.0, 2.0), (6.0, 2.0), (6.0, 4.0), (3.0, 4.0)]
    server._reply_as = "rectangle"
    assert server._answer(res).bounds() == (3.0, 2.0, 3.0, 2.0)
    plain = TraxTrackerServer(None, mask=False)
    plain._reply_as = "polygon"
    assert plain.formats() == ["rectangle", "polygon"] and plain._answer(res).type == "rectangle"


# --------------------------------------------------------------------------- workspace layout and errors


@pytest.fixture(scope="module")
def workspace(shared_dir, tmp_path_factory):
    ws = tmp_path_factory.mktemp("vot") / "ws"
    proc = _siamtrack("vot-workspace", ws, "--stack", "vot2018", "--sequences", shared_dir / "data" / "vot",
                      "--model", "nanotrack", "--weights", nanotrack_weights(shared_dir, 2))
    assert proc.returncode == 0, proc.stderr
    assert "siamtrack_nanotrack" in proc.stdout
    return ws


def test_workspace_layout(workspace, shared_dir):
    ws = workspace
    assert (ws / "config.yaml").read_text().splitlines()[1:] == ["registry:", "- ./trackers.ini",
                                                                 "sequences: sequences", "stack: vot2018.yaml"]
    stack = (ws / "vot2018.yaml").read_text()
    for line in ["repetitions: 15", "skip_initialize: 5", "sensitivity: 30", "low: 100", "high: 356",
                 "type: siamtrack_votkit.SupervisedBaseline"]:
        assert line in stack
    assert "SupervisedExperiment" in (ws / "siamtrack_votkit.py").read_text()
    ini = configparser.ConfigParser()
    ini.read(ws / "trackers.ini")
    assert ini.sections() == ["siamtrack_nanotrack"]
    sec = ini["siamtrack_nanotrack"]
    assert sec["protocol"] == "trax" and int(sec["timeout"]) >= 30
    assert sec["command"].split() == [os.path.abspath(sys.executable), "-m", "siamtrack.cli", "trax", "--model",
                                      "nanotrack-v2", "--weights", str(nanotrack_weights(shared_dir, 2))]
    vot = shared_dir / "data" / "vot"
    assert (ws / "sequences" / "list.txt").read_text().split() == ["bag", "ball1", "book", "car"]
    # flat layout (bag: frames beside groundtruth.txt) and color/ layout (ball1) both become color/%08d.jpg links
    for name, first, n, size in [("bag", vot / "bag" / "00000001.jpg", 196, (480, 360)),
                                 ("ball1", vot / "ball1" / "color" / "00000001.jpg", 105, (1280, 720))]:
        d = ws / "sequences" / name
        frames = sorted((d / "color").iterdir())
        assert len(frames) == n and frames[-1].name == f"{n:08d}.jpg"
        assert all(f.is_symlink() for f in frames) and frames[0].resolve() == first.resolve()
        assert (d / "groundtruth.txt").resolve() == (vot / name / "groundtruth.txt").resolve()
        meta = dict(line.split("=", 1) for line in (d / "sequence").read_text().splitlines())
        assert meta["channels.color"] == "color/%08d.jpg"
        assert (int(meta["width"]), int(meta["height"]), int(meta["length"])) == (*size, n)
    assert (ws / "sequences" / "ball1" / "occlusion.tag").exists() is False
    assert (ws / "sequences" / "book" / "occlusion.tag").resolve() == (vot / "book" / "occlusion.tag").resolve()
    assert (ws / "sequences" / "car" / "occlusion.label").is_symlink()


def test_workspace_rewrite_keeps_results_and_errors(workspace, shared_dir, tmp_path):
    vot = shared_dir / "data" / "vot"
    w = nanotrack_weights(shared_dir, 2)
    ws = tmp_path / "ws"
    assert _siamtrack("vot-workspace", ws, "--sequences", vot, "--subset", "book", "--weights", w).returncode == 0
    keep = ws / "results" / "siamtrack_nanotrack" / "baseline" / "book" / "book_001.txt"
    keep.parent.mkdir(parents=True)
    keep.write_text("1\n")
    proc = _siamtrack("vot-workspace", ws, "--sequences", vot, "--subset", "ball1,car", "--weights", w)
    assert proc.returncode == 0, proc.stderr
    assert keep.read_text() == "1\n"
    assert (ws / "sequences" / "list.txt").read_text().split() == ["ball1", "car"]
    assert not (ws / "sequences" / "book").exists() and not list(ws.glob(".sequences*"))

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    for args, words in [
        (["--sequences", vot, "--weights", w, "--stack", "vot2019"], ["--stack vot2019", "unknown stack"]),
        (["--sequences", tmp_path / "nowhere", "--weights", w], ["nowhere", "not found"]),
        (["--sequences", vot, "--model", "nope"], ["unknown model 'nope'"]),
        (["--sequences", vot, "--model", "nanotrack,nanotrack-v3", "--weights", w], ["--weights", "single"]),
        (["--sequences", vot, "--weights", w, "--subset", "nosuch"], ["no sequence nosuch"]),
    ]:
        _one_line_error(_siamtrack("vot-workspace", tmp_path / "fresh", *args), *words)
        assert not (tmp_path / "fresh").exists()
    _one_line_error(_siamtrack("vot-workspace", tmp_path / "other", "--sequences", vot, "--weights", w),
                    "not empty and not a VOT workspace")
    # a sequences folder whose list names a missing sequence
    bad = tmp_path / "badvot"
    bad.mkdir()
    (bad / "list.txt").write_text("ghost\n")
    _one_line_error(_siamtrack("vot-workspace", tmp_path / "fresh", "--sequences", bad, "--weights", w),
                    "ghost", "not found")


# --------------------------------------------------------------------------- the VOT toolkit itself


@pytest.fixture(scope="module")
def vot_cmd():
    if not VOT.is_file():
        pytest.skip(f"VOT toolkit not installed at {VOT} (make vot-toolkit; SIAMTRACK_VOT=path/to/vot)")
    return str(VOT)


def _vot(vot_cmd, ws, *args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ws), VOT_RESULTS_BINARY="false")
    return subprocess.run([vot_cmd, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ws, env=env)


_TOOLKIT_OVERLAPS = """
import json, sys
from vot.region import calculate_overlap
from vot.region.shapes import Polygon, Rectangle
reg = lambda r: Rectangle(*r) if len(r) == 4 else Polygon(list(zip(r[0::2], r[1::2])))
d = json.load(sys.stdin)
print(json.dumps([calculate_overlap(reg(a), reg(b), tuple(d["size"])) for a, b in d["pairs"]]))
"""


def test_raster_overlap_equals_toolkit_calculate_overlap(vot_cmd):
    """siamtrack's VOT overlap (vot_raster.raster_overlap, used by bench's failure test, A, EAO) equals the
    toolkit's calculate_overlap(a, b, bounds=size) on random boxes and polygons, partly outside the image."""
    from siamtrack.benchmarks.measures.vot_raster import raster_overlap

    rng = np.random.default_rng(11)
    size = (160, 120)
    pairs = []
    for _ in range(300):
        pair, centre = [], rng.uniform(-20, [180, 140])
        for kind in rng.integers(0, 2, 2):
            r = rng.uniform(3, 40)
            c = centre + rng.normal(0, r / 3, 2)
            if kind:  # a convex or concave polygon of 4 to 6 vertices around c
                k = int(rng.integers(4, 7))
                ang = np.sort(rng.uniform(0, 2 * np.pi, k))
                rad = r * rng.uniform(0.4, 1.0, k)
                pair.append(np.round(np.column_stack([c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)]).ravel(),
                                     2).tolist())
            else:
                pair.append(np.round([c[0] - r / 2, c[1] - r / 2, *rng.uniform(1, 2 * r, 2)], 2).tolist())
        pairs.append(pair)
    pairs[0] = [[10.5, 20.5, 30, 40], [11.5, 21.5, 30, 40]]  # half-pixel coordinates: rounded half to even
    proc = subprocess.run([str(Path(vot_cmd).parent / "python"), "-c", _TOOLKIT_OVERLAPS], capture_output=True,
                          text=True, timeout=120, input=json.dumps({"size": size, "pairs": pairs}))
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = np.array(json.loads(proc.stdout))
    ours = np.array([raster_overlap(a, b, size) for a, b in pairs])
    assert 0.2 < np.mean(theirs > 0) < 0.9  # overlapping and disjoint pairs both present
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_vot_test_passes(vot_cmd, workspace):
    proc = _vot(vot_cmd, workspace, "--registry", workspace / "trackers.ini", "test", "siamtrack_nanotrack")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Test concluded successfuly" in out, out[-2000:]
    assert '"confidence=' in out  # the tracker's score travels with every state


def test_vot_evaluate_analysis_agree_with_siamtrack(vot_cmd, shared_dir, tmp_path, one_thread):
    """`vot evaluate` + `vot analysis` on the first 120 frames of book (one failure), scored again by siamtrack."""
    from siamtrack.benchmarks.datasets.vot import load_vot
    from siamtrack.benchmarks.protocols.vot import run_baseline
    from siamtrack.benchmarks.results import read_vot
    from siamtrack.benchmarks.vot_workspace import score_workspace
    from siamtrack.tracker.factory import create_tracker

    n = 120  # the test's budget: book is 175 frames long
    src = shared_dir / "data" / "vot" / "book"
    short = tmp_path / "vot" / "book"
    (short / "color").mkdir(parents=True)
    for i in range(1, n + 1):
        (short / "color" / f"{i:08d}.jpg").symlink_to(src / "color" / f"{i:08d}.jpg")
    (short / "groundtruth.txt").write_text("".join((src / "groundtruth.txt").read_text().splitlines(True)[:n]))
    (short.parent / "list.txt").write_text("book\n")
    weights = nanotrack_weights(shared_dir, 2)
    ws = tmp_path / "ws"
    assert _siamtrack("vot-workspace", ws, "--sequences", short.parent, "--weights", weights).returncode == 0
    proc = _vot(vot_cmd, ws, "evaluate", "--workspace", ws, "siamtrack_nanotrack")
    assert "Evaluation concluded successfuly" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]
    res = ws / "results" / "siamtrack_nanotrack" / "baseline" / "book"
    # 15 repetitions asked, 3 run: the toolkit stops a deterministic tracker after 3 equal trajectories
    assert sorted(p.name for p in res.glob("book_0*.txt")) == ["book_001.txt", "book_002.txt", "book_003.txt"]
    proc = _vot(vot_cmd, ws, "analysis", "--workspace", ws, "--format", "json", "--name", "t", "siamtrack_nanotrack")
    assert proc.returncode == 0 and "Analysis successful" in proc.stdout + proc.stderr, proc.stderr[-2000:]
    report = json.loads((ws / "analysis" / "t.json").read_text())["results"]["baseline"]
    assert [a["type"].rsplit(".", 1)[1] for a in report["parameters"]["analyses"]] == [
        "AverageAccuracyRobustness", "EAOScore", "EAOCurve"]
    (acc, fails, ar, length), eao = report["results"][0][0], report["results"][1][0][0]
    curve = np.array(report["results"][2][0][0], dtype=float)
    assert (fails, length) == (1.0, float(n))  # nanotrack loses the book once

    # siamtrack bench's VOT measures (the same functions) on the toolkit's files: equal to `vot analysis`
    ev = score_workspace(str(ws), "siamtrack_nanotrack")
    ours = ev["overall"]
    assert ours["accuracy"] == pytest.approx(acc, abs=1e-6) and acc == pytest.approx(ACC_RASTER, abs=1e-5)
    assert ours["robustness"] == fails and ours["ar_robustness"] == pytest.approx(ar[0], abs=1e-9)
    assert ours["failures"] == fails and ours["failure_rate"] == pytest.approx(1 / n)
    assert ev["sequences"]["book"]["accuracy"] == pytest.approx(acc, abs=1e-6)
    ours_curve = np.array(ev["curves"]["eao"], dtype=float)
    assert ours_curve.shape == curve.shape and 100 < len(curve) < 357  # the EAO range is cut by the curve's end
    np.testing.assert_allclose(ours_curve, curve, atol=1e-6)
    assert ours["eao"] == pytest.approx(eao, abs=1e-6) and ours["eao_range"] == [100, 356]

    # the toolkit's trajectory is siamtrack's own VOT baseline run, through TraX
    seq = load_vot(str(short.parent), 2018).sequences[0]
    mine, _ = run_baseline(create_tracker("nanotrack", weights=str(weights)), seq)
    theirs = read_vot(str(res / "book_001.txt"), len(seq))
    assert [r.size for r in theirs] == [r.size for r in mine]
    assert [i for i, r in enumerate(theirs) if r.size == 1 and r[0] == 2] == [104]
    np.testing.assert_allclose(np.concatenate(theirs), np.concatenate(mine), atol=5e-4)  # text, 4 decimals

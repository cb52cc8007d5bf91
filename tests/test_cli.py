"""End-to-end tests of the ``siamtrack`` command line, run as a subprocess.

Part A: bad input must end with exit code 2 and exactly one stderr line
``siamtrack: error: ...`` naming the file (or value) and the problem, without
a traceback, and must leave no output (or temporary) file behind.

Part B: real tracking runs on the shared data (video file and image folders,
NanoTrack v1/v2/v3) compared with the reference tracker's accuracy, and the
weights cache (``siamtrack weights import``).

Every subprocess runs CI-like: no ``DISPLAY`` / ``WAYLAND_DISPLAY``,
``XDG_CACHE_HOME`` in a temporary folder and ``SIAMTRACK_WEIGHTS`` set (or
unset) explicitly, so the developer's own cache never matters. Independent
runs are started together, one per CPU core, to keep the file fast; each
test then checks its own run.
"""

from __future__ import annotations

import csv
import os
import pickle
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamtrack.boxes import axis_aligned_init_box, iou_xywh, polygon_bounds, read_boxes

GITHUB_URL = "https://github.com/HonglinChu/SiamTrackers"
BAG_FRAMES = 196
BAG_SIZE_WH = (480, 360)


# ----------------------------------------------------------------------------- helpers


def _n_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@pytest.fixture(scope="session")
def cli_prefix() -> list:
    """``python -m siamtrack.cli`` (works with the editable install); else the ``siamtrack`` script."""
    probe = subprocess.run([sys.executable, "-m", "siamtrack.cli", "--help"],
                           capture_output=True, text=True, timeout=120)
    if probe.returncode == 0 and "Usage" in probe.stdout:
        return [sys.executable, "-m", "siamtrack.cli"]
    script = shutil.which("siamtrack")
    if script is None:  # pragma: no cover - broken install
        pytest.fail(f"cannot run the CLI: python -m siamtrack.cli failed "
                    f"({probe.stderr.strip()[-300:]}) and there is no siamtrack script on PATH")
    return [script]


@pytest.fixture(scope="session")
def pool():
    with ThreadPoolExecutor(max_workers=_n_cpus()) as ex:
        yield ex


def _env(cache_home: Path, weights_dir: Path | None = None) -> dict:
    """CI-like environment: no display, cache in ``cache_home``, ``SIAMTRACK_WEIGHTS`` only if given."""
    env = dict(os.environ)
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SIAMTRACK_WEIGHTS"):
        env.pop(var, None)
    env["XDG_CACHE_HOME"] = str(cache_home)
    if weights_dir is not None:
        env["SIAMTRACK_WEIGHTS"] = str(weights_dir)
    # One intra-op thread per run (runs go in parallel, one per core). With
    # torch's default of one spinning OpenMP thread per core, a run on a
    # 2-core machine shared with another job was measured 20-50x slower.
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _run(prefix, args, env, cwd, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(list(prefix) + [str(a) for a in args], env=env, cwd=str(cwd),
                          capture_output=True, text=True, timeout=timeout)


def _fmt_box(box) -> str:
    return ",".join(repr(float(v)) for v in box)


def _files_under(folder: Path) -> list:
    """Every file and folder under ``folder`` (hidden ones included), relative; [] if it does not exist."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _cached_files(cache_home: Path) -> list:
    return [p for p in cache_home.rglob("*") if p.is_file()] if cache_home.exists() else []


def _report(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout:\n{proc.stdout}\n--- stderr:\n{proc.stderr}"


def _assert_one_error_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, one non-empty stderr line ``siamtrack: error: ...`` containing every needle; no traceback."""
    report = _report(proc)
    assert proc.returncode == 2, report
    assert "Traceback" not in proc.stderr, report
    lines = [ln for ln in proc.stderr.replace("\r", "\n").splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected exactly one non-empty stderr line\n{report}"
    line = lines[0]
    assert line.startswith("siamtrack: error: "), report
    for needle in needles:
        assert needle in line, f"{needle!r} not in the error line\n{report}"
    return line


@pytest.fixture(scope="session")
def bag_init(shared_dir) -> np.ndarray:
    """Frame-1 box of VOT bag, as pysot's test script makes it."""
    return axis_aligned_init_box(read_boxes(shared_dir / "data/vot/bag/groundtruth.txt")[0])


# ----------------------------------------------------------------------------- A. bad input
#
# Each case gets fresh folders ``inp`` (inputs it makes), ``out`` (where
# --save-boxes / --output point; also the working directory) and ``cache``
# (XDG_CACHE_HOME), and returns the CLI arguments and the texts its error line
# must contain. ``weights=None`` means: no $SIAMTRACK_WEIGHTS and an empty cache.


def _run_case(source, *extra, weights="shared", show=False, needles=(), before_model=False):
    return {"kind": "run", "source": source, "extra": list(extra), "weights": weights,
            "show": show, "needles": list(needles), "before_model": before_model}


def _import_case(file, model, needles=()):
    return {"kind": "import", "file": file, "model": model, "needles": list(needles)}


def _write_frames(shared: Path, folder: Path, broken_at: int | None = None, n: int = 4) -> Path | None:
    """Copy VOT bag frames 1..n into ``folder``; frame ``broken_at`` is replaced by an undecodable .jpg."""
    folder.mkdir()
    broken = None
    for i in range(1, n + 1):
        dst = folder / f"{i:08d}.jpg"
        if i == broken_at:
            dst.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg " + bytes(range(256)) * 8)
            broken = dst
        else:
            shutil.copyfile(shared / f"data/vot/bag/{i:08d}.jpg", dst)
    return broken


def _c_missing_video(inp, shared, init, cache):
    src = inp / "nope.mp4"
    return _run_case(src, "--init", "10,10,20,20", needles=[str(src), "no such file"])


def _c_corrupt_video(inp, shared, init, cache):
    src = inp / "x.mp4"
    src.write_bytes(np.random.default_rng(0).integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes())
    return _run_case(src, "--init", "10,10,20,20", needles=[str(src), "video"])


def _c_folder_without_images(inp, shared, init, cache):
    folder = inp / "frames"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image\n")
    return _run_case(folder, "--init", "10,10,20,20", needles=[str(folder), "no images"])


def _c_undecodable_midway(inp, shared, init, cache):
    broken = _write_frames(shared, inp / "frames", broken_at=3)
    return _run_case(inp / "frames", "--init", init, "--quiet", needles=[str(broken), "cannot decode"])


def _c_undecodable_midway_progress(inp, shared, init, cache):
    broken = _write_frames(shared, inp / "frames", broken_at=3)
    return _run_case(inp / "frames", "--init", init, needles=[str(broken), "cannot decode"])


# Bad boxes run with no weights anywhere: if the model were loaded before the
# box is checked, the error would be "weights ... not found" instead.
def _c_box_outside(inp, shared, init, cache):
    return _run_case(shared / "data/vot/bag", "--init", "1000,1000,50,50", weights=None, before_model=True,
                     needles=["--init", "1000,1000,50,50", "outside", "480x360"])


def _c_box_outside_video(inp, shared, init, cache):
    return _run_case(shared / "data/videos/bag.avi", "--init", "1000,1000,50,50", weights=None, before_model=True,
                     needles=["--init", "1000,1000,50,50", "outside", "480x360"])


def _c_box_zero_size(inp, shared, init, cache):
    return _run_case(shared / "data/vot/bag", "--init", "10,10,0,20", weights=None, before_model=True,
                     needles=["--init", "10,10,0,20", "zero or negative size"])


def _c_box_malformed(inp, shared, init, cache):
    return _run_case(shared / "data/vot/bag", "--init", "1,2,3", weights=None, before_model=True,
                     needles=["--init", "'1,2,3'", "four numbers"])


def _c_checkpoint_of_other_model(inp, shared, init, cache):
    w = shared / "weights/nanotrack/nanotrackv2.pth"
    return _run_case(shared / "data/vot/bag", "--model", "nanotrack-v1", "--weights", w, "--init", init,
                     needles=[str(w), "'nanotrack-v1'"])


def _weights_file(inp: Path, name: str, data: bytes) -> Path:
    path = inp / name
    path.write_bytes(data)
    return path


def _c_weights_text(inp, shared, init, cache):
    w = _weights_file(inp, "weights.pth", b"these are not weights\n")
    return _run_case(shared / "data/vot/bag", "--weights", w, "--init", init, needles=[str(w), "checkpoint"])


def _c_weights_pickle(inp, shared, init, cache):
    w = _weights_file(inp, "weights.pth", pickle.dumps({"epoch": 1}, protocol=4))
    return _run_case(shared / "data/vot/bag", "--weights", w, "--init", init, needles=[str(w), "checkpoint"])


def _c_weights_truncated(inp, shared, init, cache):
    data = (shared / "weights/nanotrack/nanotrackv2.pth").read_bytes()
    w = _weights_file(inp, "nanotrackv2.pth", data[: len(data) // 2])
    return _run_case(shared / "data/vot/bag", "--weights", w, "--init", init, needles=[str(w), "checkpoint"])


def _c_weights_option_missing_file(inp, shared, init, cache):
    w = inp / "absent.pth"
    return _run_case(shared / "data/vot/bag", "--weights", w, "--init", init, needles=[str(w), "no such"])


def _c_weights_not_found(inp, shared, init, cache):
    return _run_case(shared / "data/vot/bag", "--model", "nanotrack", "--init", init, weights=None,
                     needles=["nanotrackv2.pth", GITHUB_URL, "not found", str(cache)])


def _c_headless_without_init(inp, shared, init, cache):
    src = shared / "data/vot/bag"
    return _run_case(src, show=True, needles=[str(src), "--init", "display"])


def _c_unknown_model(inp, shared, init, cache):
    return _run_case(shared / "data/vot/bag", "--model", "nanotrack-v9", "--init", "10,10,20,20",
                     needles=["'nanotrack-v9'", "unknown model", "nanotrack-v2"])


def _c_cuda(inp, shared, init, cache):
    return _run_case(shared / "data/vot/bag", "--device", "cuda", "--init", init, needles=["cuda", "CUDA"])


def _c_import_other_model(inp, shared, init, cache):
    w = shared / "weights/nanotrack/nanotrackv2.pth"
    return _import_case(w, "nanotrack-v1", needles=[str(w), "'nanotrack-v1'"])


def _c_import_text(inp, shared, init, cache):
    w = _weights_file(inp, "notes.pth", b"not a checkpoint\n")
    return _import_case(w, "nanotrack", needles=[str(w), "checkpoint"])



BAD_CASES = [
    pytest.param(_c_missing_video, id="missing-video"),
    pytest.param(_c_corrupt_video, id="corrupt-video"),
    pytest.param(_c_folder_without_images, id="folder-without-images"),
    pytest.param(_c_undecodable_midway, id="undecodable-jpg-midway"),
    pytest.param(_c_undecodable_midway_progress, id="undecodable-jpg-midway-progress-bar"),
    pytest.param(_c_box_outside, id="box-outside"),
    pytest.param(_c_box_outside_video, id="box-outside-video"),
    pytest.param(_c_box_zero_size, id="box-zero-size"),
    pytest.param(_c_box_malformed, id="box-malformed"),
    pytest.param(_c_checkpoint_of_other_model, id="checkpoint-of-other-model"),
    pytest.param(_c_weights_text, id="weights-text-file"),
    pytest.param(_c_weights_pickle, id="weights-plain-pickle"),
    pytest.param(_c_weights_truncated, id="weights-truncated"),
    pytest.param(_c_weights_option_missing_file, id="weights-option-missing-file"),
    pytest.param(_c_weights_not_found, id="weights-not-found"),
    pytest.param(_c_headless_without_init, id="headless-without-init"),
    pytest.param(_c_unknown_model, id="unknown-model"),
    pytest.param(_c_cuda, id="cuda-unavailable"),
    pytest.param(_c_import_other_model, id="import-checkpoint-of-other-model"),
    pytest.param(_c_import_text, id="import-text-file"),
]


def _start_bad_case(pool, prefix, base: Path, case, shared: Path, init: str):
    inp, out, cache = base / "inp", base / "out", base / "cache"
    inp.mkdir()
    out.mkdir()
    spec = case(inp, shared, init, cache)
    if spec["kind"] == "run":
        spec["outputs"] = [out / "boxes.txt", out / "out.mp4"]
        args = ["run", spec["source"], *spec["extra"],
                "--save-boxes", spec["outputs"][0], "--output", spec["outputs"][1]]
        if not spec["show"]:
            args.append("--no-show")
        weights = shared / "weights/nanotrack" if spec["weights"] == "shared" else spec["weights"]
    else:
        spec["outputs"] = []
        args = ["weights", "import", spec["file"], "--model", spec["model"]]
        weights = None
    spec.update(out=out, cache=cache, inputs_before=_files_under(inp), inp=inp)
    spec["future"] = pool.submit(_run, prefix, args, _env(cache, weights), out)
    return spec


@pytest.fixture(scope="session")
def bad_runs(pool, cli_prefix, shared_dir, bag_init, tmp_path_factory):
    """All bad-input runs, started together on first use: {case function: spec with 'future'}."""
    init = _fmt_box(bag_init)
    runs = {}
    for param in BAD_CASES:
        case = param.values[0]
        base = tmp_path_factory.mktemp(case.__name__.lstrip("_"))
        runs[case] = _start_bad_case(pool, cli_prefix, base, case, shared_dir, init)
    return runs


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input(bad_runs, case):
    spec = bad_runs[case]
    proc = spec["future"].result()
    if case is _c_cuda and proc.returncode != 2:
        import torch  # only now: importing torch here costs seconds

        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
    line = _assert_one_error_line(proc, *spec["needles"])
    if spec.get("before_model"):
        # run with no weights anywhere: the box must be rejected before the model is looked for
        assert "weights" not in line, line
    for path in spec["outputs"]:
        assert not path.exists(), f"{path} left behind\n{_report(proc)}"
    assert _files_under(spec["out"]) == [], f"files left behind: {_files_under(spec['out'])}"
    assert _files_under(spec["inp"]) == spec["inputs_before"], "the inputs were changed"
    assert _cached_files(spec["cache"]) == [], "files written into the cache"


# ----------------------------------------------------------------------------- B. real runs


def test_video_end_to_end(cli_prefix, tmp_path, shared_dir, bag_init):
    """The issue's acceptance run: bag.avi, --no-show, boxes and annotated video saved."""
    out_txt, out_mp4 = tmp_path / "OUT.txt", tmp_path / "OUT.mp4"
    proc = _run(cli_prefix, ["run", shared_dir / "data/videos/bag.avi", "--model", "nanotrack",
                             "--init", _fmt_box(bag_init), "--no-show",
                             "--save-boxes", out_txt, "--output", out_mp4],
                _env(tmp_path / "cache", shared_dir / "weights/nanotrack"), cwd=tmp_path)
    assert proc.returncode == 0, _report(proc)[-4000:]
    assert "Traceback" not in proc.stderr
    assert f"{BAG_FRAMES} frames" in proc.stdout, proc.stdout
    assert "nanotrack-v2" in proc.stdout, proc.stdout

    lines = out_txt.read_text().splitlines()
    assert len(lines) == BAG_FRAMES
    assert lines[0] == ",".join(f"{v:.3f}" for v in bag_init), (lines[0], bag_init)
    boxes = read_boxes(out_txt)
    assert boxes.shape == (BAG_FRAMES, 4)
    np.testing.assert_allclose(boxes[0], bag_init, atol=5e-4 + 1e-9)
    gt = np.array([polygon_bounds(r) for r in read_boxes(shared_dir / "data/vot/bag/groundtruth.txt")])
    assert len(gt) == BAG_FRAMES
    miou = float(iou_xywh(boxes, gt).mean())
    assert miou >= 0.72, miou

    cap = cv2.VideoCapture(str(out_mp4))
    try:
        assert cap.isOpened()
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            assert frame.shape == (BAG_SIZE_WH[1], BAG_SIZE_WH[0], 3)
            n += 1
    finally:
        cap.release()
    assert n == BAG_FRAMES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["OUT.mp4", "OUT.txt"]  # no temp files left


SEQUENCES = ["vot/bag", "otb/Crossing"]
VERSIONS = [1, 2, 3]


def _reference_miou(shared_dir: Path, version: int, sequence: str) -> float:
    path = shared_dir / f"fixtures/nanotrack_v{version}/summary.tsv"
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["tracker"].startswith(f"ref_nanotrack_v{version}") and row["sequence"] == sequence:
                return float(row["mean_iou"])
    raise AssertionError(f"no ref_nanotrack_v{version} row for {sequence} in {path}")


def _sequence(shared_dir: Path, sequence: str):
    """``(source folder, init box, GT boxes [N, 4])`` with the reference's conventions."""
    if sequence == "vot/bag":
        folder = shared_dir / "data/vot/bag"
        polys = read_boxes(folder / "groundtruth.txt")
        return folder, axis_aligned_init_box(polys[0]), np.array([polygon_bounds(r) for r in polys])
    if sequence == "otb/Crossing":
        root = shared_dir / "data/otb/Crossing"
        gt = read_boxes(root / "groundtruth_rect.txt")  # tab separated; rows used as-is (as the reference)
        return root / "img", gt[0], gt
    raise ValueError(sequence)


@pytest.fixture(scope="session")
def reference_runs(pool, cli_prefix, shared_dir, tmp_path_factory):
    """``siamtrack run FOLDER --model nanotrack-vN --weights ...`` for every sequence and version, in parallel."""
    runs = {}
    for sequence in SEQUENCES:
        folder, init, gt = _sequence(shared_dir, sequence)
        for version in VERSIONS:
            base = tmp_path_factory.mktemp(f"ref_{sequence.replace('/', '_')}_v{version}")
            out_txt = base / "boxes.txt"
            args = ["run", folder, "--model", f"nanotrack-v{version}",
                    "--weights", shared_dir / f"weights/nanotrack/nanotrackv{version}.pth",
                    "--init", _fmt_box(init), "--no-show", "--quiet", "--save-boxes", out_txt]
            future = pool.submit(_run, cli_prefix, args, _env(base / "cache", None), base)
            runs[sequence, version] = (future, out_txt, init, gt)
    return runs


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("sequence", SEQUENCES)
def test_folder_matches_reference(reference_runs, shared_dir, sequence, version):
    future, out_txt, init, gt = reference_runs[sequence, version]
    proc = future.result()
    assert proc.returncode == 0, _report(proc)[-4000:]
    assert proc.stderr.strip() == "", proc.stderr[-3000:]  # --quiet: nothing on stderr
    assert f"{len(gt)} frames" in proc.stdout and f"nanotrack-v{version}" in proc.stdout, proc.stdout
    boxes = read_boxes(out_txt)
    assert boxes.shape == gt.shape
    np.testing.assert_allclose(boxes[0], init, atol=5e-4 + 1e-9)
    miou = float(iou_xywh(boxes, gt).mean())
    ref = _reference_miou(shared_dir, version, sequence)
    assert abs(miou - ref) <= 0.01, f"mean IoU {miou:.4f}, reference {ref:.4f}"


# ----------------------------------------------------------------------------- weights cache


def test_weights_import_and_use(cli_prefix, tmp_path, shared_dir, bag_init):
    src = shared_dir / "weights/nanotrack/nanotrackv2.pth"
    cache_home = tmp_path / "cache"
    env = _env(cache_home, None)  # no $SIAMTRACK_WEIGHTS from here on
    cached = cache_home / "siamtrack/weights/nanotrackv2.pth"

    before = _run(cli_prefix, ["models"], env, cwd=tmp_path)
    assert before.returncode == 0, _report(before)
    assert "missing (nanotrackv2.pth)" in before.stdout, before.stdout

    proc = _run(cli_prefix, ["weights", "import", src, "--model", "nanotrack"], env, cwd=tmp_path)
    assert proc.returncode == 0, _report(proc)
    assert proc.stderr.strip() == "", proc.stderr
    assert cached.is_file()
    assert cached.read_bytes() == src.read_bytes()
    assert str(cached) in proc.stdout, proc.stdout
    assert sorted(p.name for p in cached.parent.iterdir()) == ["nanotrackv2.pth"]  # no temp file left

    after = _run(cli_prefix, ["models"], env, cwd=tmp_path)
    assert after.returncode == 0, _report(after)
    block = after.stdout.split("nanotrack-v2", 1)[1].split("nanotrack-v3", 1)[0]
    assert f"weights: {cached}" in block, after.stdout
    assert "missing (nanotrackv1.pth)" in after.stdout and "missing (nanotrackv3.pth)" in after.stdout

    # A short run with neither --weights nor $SIAMTRACK_WEIGHTS finds the cached file.
    _write_frames(shared_dir, tmp_path / "frames", n=3)
    out_txt = tmp_path / "boxes.txt"
    run = _run(cli_prefix, ["run", tmp_path / "frames", "--init", _fmt_box(bag_init), "--no-show", "--quiet",
                            "--save-boxes", out_txt], env, cwd=tmp_path)
    assert run.returncode == 0, _report(run)
    assert "3 frames" in run.stdout and "nanotrack-v2" in run.stdout, run.stdout
    assert len(out_txt.read_text().splitlines()) == 3

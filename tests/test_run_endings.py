"""However a run ends, what was finished is kept and nothing is half-written (issue 14, points 2-6).

* frames of different sizes: one line naming the frame, exit 2, nothing written (every source and sink);
* a truncated video: said on stderr, exit 2 unless ``--allow-short``, the decoded frames kept;
* SIGTERM / SIGHUP / Ctrl-C: every sink committed with the frames so far, a summary line, exit 130 / 143
  / 129, no temporary file left; after SIGKILL the next run with the same outputs removes the leftovers;
* memory stays flat over a long run (results streamed, running figures only).

Runs are real: NanoTrack v2 with its real weights on the shared ``bag`` frames, as a subprocess the way a
user starts it, signals sent with ``os.kill``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamtrack.errors import SiamtrackError
from siamtrack.runner.sinks import BoxWriter, MaskWriter, VideoSink
from siamtrack.runner.sources import FolderSource, FrameSource, VideoSource
from siamtrack.tracker.base import TrackResult

GT = "312.6420511293659,146.88778561323034,106.13089774126823,96.41442877353934"


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["OMP_NUM_THREADS"] = "1"
    return env


def _default_sigint():
    # A process started in the background by a non-interactive shell (as CI may be) ignores SIGINT, and
    # children inherit that: give the run the default disposition a terminal user's run has.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "siamtrack.cli", *[str(a) for a in args]], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def _run(args, cwd: Path, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "siamtrack.cli", *[str(a) for a in args]], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout, preexec_fn=_default_sigint)


def _stderr_lines(text: str) -> list[str]:
    return [ln for ln in text.replace("\r", "\n").splitlines() if ln.strip()]


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _video_frames(path: Path) -> int:
    return len(list(VideoSource(str(path))))


@pytest.fixture(scope="module")
def weights(shared_dir) -> Path:
    return shared_dir / "weights" / "nanotrack" / "nanotrackv2.pth"


@pytest.fixture(scope="module")
def long_video(shared_dir, tmp_path_factory) -> Path:
    """bag.avi played forwards and backwards 8 times (1568 frames, 240x180 MJPG): a run long enough to be
    interrupted in the middle."""
    frames = [cv2.resize(f, (240, 180), interpolation=cv2.INTER_AREA)
              for f in VideoSource(str(shared_dir / "data" / "videos" / "bag.avi"))]
    path = tmp_path_factory.mktemp("long") / "long.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (240, 180))
    for k in range(8):
        for f in frames if k % 2 == 0 else frames[::-1]:
            w.write(f)
    w.release()
    return path


HALF_GT = ",".join(f"{float(v) / 2:.3f}" for v in GT.split(","))


# ----------------------------------------------------------------------------- point 2: frame sizes


@pytest.fixture()
def mixed_folder(shared_dir, tmp_path) -> Path:
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(1, 7):
        shutil.copyfile(shared_dir / "data" / "vot" / "bag" / f"{i:08d}.jpg", seq / f"{i:08d}.jpg")
    small = cv2.resize(cv2.imread(str(seq / "00000004.jpg")), (240, 180))
    cv2.imwrite(str(seq / "00000004.jpg"), small)
    return seq


@pytest.mark.parametrize("outputs", [[], ["--output", "out.mp4", "--save-boxes", "b.txt"]],
                         ids=["no-outputs", "with-outputs"])
def test_frame_of_another_size_is_one_error_and_nothing_is_written(mixed_folder, weights, tmp_path, outputs):
    proc = _run(["run", "seq", "--init", GT, "--no-show", "--weights", weights, *outputs], tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = _stderr_lines(proc.stderr)
    assert lines == ["siamtrack: error: seq/00000004.jpg: frame is 240x180, frame 1 is 480x360 "
                     "(every frame must have one size)"], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq"]  # no output, no temporary file


class _ListSource(FrameSource):
    """A video-like source over given frames (naming frames ``<name> frame <n>``)."""

    def __init__(self, frames, name="clip.mp4"):
        self._list, self.name, self.frame_count = frames, name, len(frames)

    def _frames(self):
        yield from self._list


def test_every_source_and_sink_refuses_another_size(tmp_path, mixed_folder):
    a, b = np.zeros((48, 64, 3), np.uint8), np.zeros((40, 64, 3), np.uint8)
    with pytest.raises(SiamtrackError, match=r"^clip\.mp4 frame 3: frame is 64x40, frame 1 is 64x48"):
        list(_ListSource([a, a, b]))
    with pytest.raises(SiamtrackError, match=r"00000004\.jpg: frame is 240x180, frame 1 is 480x360"):
        list(FolderSource(str(mixed_folder)))
    sink = VideoSink(str(tmp_path / "v.mp4"), 25, (64, 48))
    sink.write(a)
    with pytest.raises(SiamtrackError, match=r"v\.mp4: frame 2 is 64x40, the video is 64x48"):
        sink.write(b)
    sink.close(ok=False)
    masks = MaskWriter(str(tmp_path / "m"))
    masks.write(np.zeros((48, 64), bool))
    with pytest.raises(SiamtrackError, match=r"00002\.png: mask is 64x40, the first is 64x48"):
        masks.write(np.zeros((40, 64), bool))
    masks.close(ok=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq"]


class _StillTracker:
    """A tracker that keeps its init box (the protocols and the loop need nothing else)."""

    lost = False

    def init(self, frame, box):
        self.box = np.asarray(box, dtype=np.float64)

    def update(self, frame):
        return TrackResult(box=self.box, score=1.0)


class _Seq:
    """The part of a benchmark :class:`~siamtrack.benchmarks.datasets.Sequence` the protocols read."""

    def __init__(self, frames):
        self.name, self.frames, self.size = "seq", frames, (480, 360)
        self.groundtruth = np.tile([10.0, 10.0, 50.0, 50.0], (len(frames), 1))
        self.init_box = self.groundtruth[0]

    def __len__(self):
        return len(self.frames)


class _PathImage:
    """A TraX image given as a path."""

    def __init__(self, path):
        self._path = path

    def path(self):
        return self._path


def test_benchmark_protocols_and_trax_refuse_another_size(mixed_folder):
    from siamtrack.benchmarks.protocols.ope import run_ope
    from siamtrack.benchmarks.protocols.vot import run_baseline
    from siamtrack.runner.sources import FrameSizeCheck
    from siamtrack.runner.trax_server import _read_image

    frames = sorted(str(p) for p in mixed_folder.iterdir())
    for protocol in (run_ope, run_baseline):
        with pytest.raises(SiamtrackError, match=r"00000004\.jpg: frame is 240x180, frame 1 is 480x360"):
            protocol(_StillTracker(), _Seq(frames))
    check = FrameSizeCheck()
    for f in frames[:3]:
        _read_image(_PathImage(f), check)
    with pytest.raises(SiamtrackError, match=r"00000004\.jpg: frame is 240x180, frame 1 is 480x360"):
        _read_image(_PathImage(frames[3]), check)


# ----------------------------------------------------------------------------- point 3: truncated video


@pytest.fixture(scope="module")
def truncated(shared_dir, tmp_path_factory) -> Path:
    """``bag.avi`` cut to 30% of its bytes, under its own name."""
    data = (shared_dir / "data" / "videos" / "bag.avi").read_bytes()
    folder = tmp_path_factory.mktemp("cut")
    (folder / "bag.avi").write_bytes(data[: int(len(data) * 0.3)])
    return folder / "bag.avi"


@pytest.mark.parametrize("allow", [False, True], ids=["exit-2", "allow-short"])
def test_truncated_video_is_said_and_its_frames_kept(truncated, weights, tmp_path, allow):
    shutil.copyfile(truncated, tmp_path / "bag.avi")
    proc = _run(["run", "bag.avi", "--init", GT, "--no-show", "--weights", weights, "--save-boxes", "b.txt",
                 "--output", "o.mp4", *(["--allow-short"] if allow else [])], tmp_path)
    lines = _stderr_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    m = re.search(r"bag\.avi: decoding stopped at frame (\d+) of 196 \(truncated or corrupt file\)", lines[0])
    assert m, proc.stderr
    n = int(m.group(1))
    assert 10 < n < 196
    assert proc.returncode == (0 if allow else 2), proc.stderr
    assert lines[0].startswith("siamtrack: warning: " if allow else "siamtrack: error: ")
    assert f"siamtrack: {n} frames" in proc.stdout
    assert len((tmp_path / "b.txt").read_text().splitlines()) == n  # the frames before the cut are valid: kept
    assert _video_frames(tmp_path / "o.mp4") == n
    assert _hidden(tmp_path) == []


def test_complete_video_is_not_reported_short(shared_dir):
    src = VideoSource(str(shared_dir / "data" / "videos" / "bag.avi"))
    assert len(list(src)) == 196 and src.incomplete is None


# ----------------------------------------------------------------------------- points 4, 5: signals


def _wait_for_tracking(proc, folder: Path, timeout=120.0):
    """Wait until the run's temporary video holds some frames (tracking is under way)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        tmp = [p for p in folder.glob(".o.tmp-*.mp4") if p.stat().st_size > 20000]
        if tmp:
            return tmp[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the run did not start tracking in time")


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_ends_a_headless_run_like_q(long_video, weights, tmp_path, sig, code):
    proc = _start(["run", long_video, "--init", HALF_GT, "--no-show", "--weights", weights,
                   "--save-boxes", "b.txt", "--output", "o.mp4"], tmp_path)
    _wait_for_tracking(proc, tmp_path)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, (out, err)
    name = signal.Signals(sig).name
    m = re.fullmatch(rf"siamtrack: (\d+) frames, .* fps \(nanotrack-v2 on cpu, \w+ fp32\); stopped by {name}, "
                     r"outputs kept",
                     out.strip())
    assert m, (out, err)
    n = int(m.group(1))
    assert 0 < n < 1568
    assert _stderr_lines(err) == []
    lines = (tmp_path / "b.txt").read_text().splitlines()
    assert len(lines) == n and all(len(ln.split(",")) == 4 for ln in lines)
    assert _video_frames(tmp_path / "o.mp4") == n  # every sink holds the same finished frames
    assert _hidden(tmp_path) == []  # no temporary file left behind


def test_sigkill_leftovers_are_removed_by_the_next_run(long_video, weights, tmp_path):
    proc = _start(["run", long_video, "--init", HALF_GT, "--no-show", "--weights", weights,
                   "--save-boxes", "b.txt", "--output", "o.mp4"], tmp_path)
    _wait_for_tracking(proc, tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    left = _hidden(tmp_path)
    assert len(left) == 2 and all(f"-{proc.pid}-" in n for n in left), left  # named after the dead process
    assert not (tmp_path / "b.txt").exists()
    stranger = tmp_path / ".b.tmp-notours.txt"  # a file of the user's that merely looks alike: kept
    stranger.write_text("mine\n")
    rerun = _run(["run", long_video, "--init", HALF_GT, "--no-show", "--weights", weights, "--save-boxes", "b.txt",
                  "--output", "o.mp4", "-q"], tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert _hidden(tmp_path) == [stranger.name]
    assert len((tmp_path / "b.txt").read_text().splitlines()) == 1568


def test_leftovers_of_live_processes_and_other_hosts_are_kept(tmp_path):
    from siamtrack.runner import atomic

    target = tmp_path / "out.txt"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = atomic._owner()  # this (live) process
    host, pid, start = me.split("-")
    names = {
        "dead": f".out.tmp-{host}-{dead.pid}-{start}-0123abcd.txt",
        "reused": f".out.tmp-{host}-{pid}-{int(start) + 1}-0123abcd.txt",  # our pid, another start: reused
        "alive": f".out.tmp-{me}-0123abcd.txt",
        "other-host": f".out.tmp-{'0' * 6 if host != '0' * 6 else '1' * 6}-{dead.pid}-{start}-0123abcd.txt",
        "other-file": f".out.tmp-{host}-{dead.pid}-{start}-0123abcd.mp4",
        "user": ".out.tmp-1234.txt",
    }
    for n in names.values():
        (tmp_path / n).write_text("x")
    removed = {Path(p).name for p in atomic.reap_leftovers(str(target))}
    assert removed == {names["dead"], names["reused"]}
    assert _hidden(tmp_path) == sorted(n for k, n in names.items() if k not in ("dead", "reused"))


def test_interrupt_of_a_headless_camera_run_keeps_its_results(shared_dir, tmp_path, monkeypatch, weights):
    """``siamtrack run 0 --no-show`` can only be ended by Ctrl-C: its boxes are committed, not discarded."""
    from siamtrack.runner import sources
    from siamtrack.runner.interrupts import handle_signals
    from siamtrack.runner.loop import run_tracking
    from siamtrack.tracker.factory import create_tracker

    real = cv2.VideoCapture

    class Camera:  # bag.avi as a camera that never stops; Ctrl-C arrives while frame 15 is read
        def __init__(self, *a):
            self.cap, self.n = real(str(shared_dir / "data" / "videos" / "bag.avi")), 0

        def isOpened(self):
            return True

        def read(self):
            self.n += 1
            if self.n == 15:
                os.kill(os.getpid(), signal.SIGINT)
            return self.cap.read()

        def get(self, prop):
            return 0.0

        def set(self, *a):
            return False

        def release(self):
            self.cap.release()

    monkeypatch.setattr(sources.cv2, "VideoCapture", Camera)
    with handle_signals(), sources.open_source("0") as cam:
        summary = run_tracking(cam, lambda: create_tracker("nanotrack-v2", weights=weights),
                               init_box=[313, 147, 106, 96], save_boxes=str(tmp_path / "b.txt"),
                               output=str(tmp_path / "o.avi"), show=False, progress=False)
    monkeypatch.undo()
    assert summary.interrupted is not None and summary.interrupted.exit_code == 130
    assert summary.frames == 14
    assert len((tmp_path / "b.txt").read_text().splitlines()) == 14
    assert _video_frames(tmp_path / "o.avi") == 14
    assert _hidden(tmp_path) == []


def test_interrupt_before_tracking_writes_nothing(tmp_path, mixed_folder):
    from siamtrack.runner.interrupts import Interrupted
    from siamtrack.runner.loop import run_tracking

    def loading():
        raise Interrupted(signal.SIGTERM)  # e.g. SIGTERM while the model loads

    src = _ListSource([np.zeros((48, 64, 3), np.uint8)] * 3)
    with pytest.raises(Interrupted):
        run_tracking(src, loading, init_box=[5, 5, 10, 10], save_boxes=str(tmp_path / "b.txt"), show=False,
                     progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq"]


# ----------------------------------------------------------------------------- point 6: memory


class _Synthetic(FrameSource):
    """``n`` small frames made one at a time; ``on_frame(i)`` is called as frame ``i`` is made."""

    def __init__(self, n, on_frame):
        self.n, self.on_frame, self.name, self.frame_count = n, on_frame, "synthetic", n
        self._frame = np.full((48, 64, 3), 90, np.uint8)

    def _frames(self):
        for i in range(self.n):
            self.on_frame(i)
            yield self._frame


class _MovingTracker(_StillTracker):
    def update(self, frame):
        self.box = self.box + 0.001
        return TrackResult(box=self.box, score=0.5)


def test_memory_stays_flat_over_a_long_run(tmp_path):
    """Python allocations between 10% and 90% of a 4000-frame run (tracemalloc: deterministic, no timing):
    a run that keeps ~0.5 KB per frame (the summary's lists, the box writer's lines) grows by ~1.5 MB."""
    from siamtrack.runner.loop import run_tracking

    n = 4000
    marks = {}

    def on_frame(i):
        if i in (n // 10, n * 9 // 10):
            marks[i] = tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        summary = run_tracking(_Synthetic(n, on_frame), _MovingTracker, init_box=[5, 5, 20, 20],
                               save_boxes=str(tmp_path / "b.txt"), show=False, progress=False)
    finally:
        tracemalloc.stop()
    assert summary.frames == n
    growth = marks[n * 9 // 10] - marks[n // 10]
    assert growth < 64 * 1024, f"{growth} bytes more at 90% than at 10% ({growth / (0.8 * n):.0f} per frame)"
    assert len((tmp_path / "b.txt").read_text().splitlines()) == n


def test_box_writer_streams_to_its_temporary_file(tmp_path):
    w = BoxWriter(str(tmp_path / "b.txt"))
    for i in range(2000):
        w.write([i, 1, 2, 3])
    tmp = Path(w._atomic.tmp)
    assert tmp.stat().st_size > 8192  # on disk already (buffered writes), not held until close
    assert not (tmp_path / "b.txt").exists()
    w.close()
    assert len((tmp_path / "b.txt").read_text().splitlines()) == 2000 and not tmp.exists()


def test_memory_benchmark_script_runs(weights):
    proc = subprocess.run([sys.executable, "-m", "siamtrack.benchmarks.memory_run", "--frames", "1500",
                           "--weights", str(weights)], capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"RSS at frame 151 \(10%\): [\d.]+ MiB", proc.stdout), proc.stdout
    assert re.search(r"RSS at frame 1351 \(90%\): [\d.]+ MiB", proc.stdout), proc.stdout

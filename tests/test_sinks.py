"""Tests of siamtrack.runner.sinks: atomic writes, box files, videos, overlays."""

import os

import cv2
import numpy as np
import pytest

from siamtrack.errors import SiamtrackError
from siamtrack.runner import sinks
from siamtrack.runner.sinks import (BoxWriter, VideoSink, Window, atomic_path,
                                    draw_overlay, has_display)


def _count_frames(path):
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened()
    n, shape = 0, None
    while True:
        ok, f = cap.read()
        if not ok:
            break
        n += 1
        shape = f.shape
    cap.release()
    return n, shape


def test_atomic_path_success_and_failure(tmp_path):
    dest = tmp_path / "out.txt"
    with atomic_path(str(dest)) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        assert tmp.endswith(".txt") and tmp != str(dest)
        with open(tmp, "w") as f:
            f.write("ok")
        assert not dest.exists()
    assert dest.read_text() == "ok"
    assert os.listdir(tmp_path) == ["out.txt"]

    with pytest.raises(KeyboardInterrupt):
        with atomic_path(str(dest)) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise KeyboardInterrupt
    assert dest.read_text() == "ok"  # old content kept
    assert os.listdir(tmp_path) == ["out.txt"]


def test_atomic_path_missing_folder(tmp_path):
    with pytest.raises(SiamtrackError, match="folder does not exist"):
        with atomic_path(str(tmp_path / "no" / "out.txt")):
            pass


def test_box_writer(tmp_path):
    path = tmp_path / "boxes.txt"
    w = BoxWriter(str(path))
    w.write([1, 2.5, 30.12345, 40])
    w.write(np.array([-0.0001, 0.9996, 10.0, 5.5]))
    assert not path.exists()  # nothing before close
    w.close()
    assert path.read_text() == "1.000,2.500,30.123,40.000\n0.000,1.000,10.000,5.500\n"
    w.close()  # idempotent
    with pytest.raises(RuntimeError):
        w.write([0, 0, 1, 1])
    with pytest.raises(ValueError):
        BoxWriter(str(tmp_path / "b.txt")).write([1, 2, 3])


def test_box_writer_abort_leaves_nothing(tmp_path):
    path = tmp_path / "boxes.txt"
    w = BoxWriter(str(path))
    w.write([1, 2, 3, 4])
    w.close(ok=False)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ZeroDivisionError):
        with BoxWriter(str(path)) as w:
            w.write([1, 2, 3, 4])
            1 / 0
    assert os.listdir(tmp_path) == []


def test_box_writer_missing_folder(tmp_path):
    with pytest.raises(SiamtrackError) as e:
        BoxWriter(str(tmp_path / "missing" / "b.txt"))
    assert str(e.value).endswith("b.txt: folder does not exist")


def _frames(n, w, h):
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, : (i + 1) * w // n] = (0, 128, 255)
        yield f


def test_video_sink_mp4_roundtrip(tmp_path):
    path = tmp_path / "out.mp4"
    with VideoSink(str(path), 30.0, (96, 64)) as sink:
        for f in _frames(12, 96, 64):
            sink.write(f)
        assert not path.exists()
    assert os.listdir(tmp_path) == ["out.mp4"]
    n, shape = _count_frames(path)
    assert (n, shape) == (12, (64, 96, 3))
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    cap.release()


@pytest.mark.parametrize("ext", [".avi", ".mkv"])
def test_video_sink_other_containers(tmp_path, ext):
    path = tmp_path / f"out{ext}"
    sink = VideoSink(str(path), None, (64, 48))
    assert sink.fps == 25.0
    for f in _frames(5, 64, 48):
        sink.write(f)
    sink.close()
    assert _count_frames(path) == (5, (48, 64, 3))


def test_video_sink_odd_size_is_cropped_to_even(tmp_path):
    path = tmp_path / "odd.mp4"
    with VideoSink(str(path), 0, (63, 47)) as sink:
        assert sink.frame_size == (62, 46)
        for f in _frames(3, 63, 47):
            sink.write(f)
    assert _count_frames(path) == (3, (46, 62, 3))


def test_video_sink_abort_leaves_nothing(tmp_path):
    path = tmp_path / "out.mp4"
    sink = VideoSink(str(path), 25, (64, 48))
    for f in _frames(3, 64, 48):
        sink.write(f)
    sink.close(ok=False)
    assert os.listdir(tmp_path) == []
    with pytest.raises(RuntimeError):
        with VideoSink(str(path), 25, (64, 48)) as sink:
            sink.write(next(_frames(1, 64, 48)))
            raise RuntimeError("tracker crashed")
    assert os.listdir(tmp_path) == []


def test_video_sink_rejects_wrong_frame(tmp_path):
    with VideoSink(str(tmp_path / "out.mp4"), 25, (64, 48)) as sink:
        with pytest.raises(SiamtrackError, match="frame 1 is 63x48, the video is 64x48"):  # a size: user input
            sink.write(np.zeros((48, 63, 3), np.uint8))
        with pytest.raises(ValueError):
            sink.write(np.zeros((48, 64, 3), np.float32))
        sink.write(np.zeros((48, 64, 3), np.uint8))


def test_video_sink_bad_paths(tmp_path):
    with pytest.raises(SiamtrackError) as e:
        VideoSink(str(tmp_path / "out.xyz"), 25, (64, 48))
    assert str(e.value) == f"{tmp_path / 'out.xyz'}: unsupported video extension (use .mp4, .avi or .mkv)"
    missing = tmp_path / "nope" / "out.mp4"
    with pytest.raises(SiamtrackError) as e:
        VideoSink(str(missing), 25, (64, 48))
    assert str(e.value) == f"{missing}: folder does not exist"
    assert os.listdir(tmp_path) == []


def test_draw_overlay_changes_pixels():
    frame = np.full((120, 160, 3), 128, np.uint8)
    out = draw_overlay(frame, [40.4, 50.6, 30, 20], score=0.98, fps=123.4)
    assert out is frame
    assert tuple(frame[51, 60]) == (0, 255, 0)  # top edge of the box, green
    assert frame[2:10, 2:40].mean() < 128  # dark status strip with text
    assert tuple(frame[100, 150]) == (128, 128, 128)  # untouched elsewhere


def test_draw_overlay_lost_and_no_box():
    frame = np.full((120, 160, 3), 128, np.uint8)
    draw_overlay(frame, [40, 50, 30, 20], lost=True, label="siamrpn")
    assert tuple(frame[50, 55]) == (0, 0, 255)  # red box
    frame2 = np.full((120, 160, 3), 128, np.uint8)
    draw_overlay(frame2, None, score=float("nan"))  # nothing to draw
    assert (frame2 == 128).all()
    draw_overlay(frame2, [float("nan"), 0, 1, 1], fps=10.0)
    assert (frame2[60:] == 128).all()


def test_has_display(monkeypatch):
    monkeypatch.setattr(sinks.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert has_display() is False
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert has_display() is True
    monkeypatch.delenv("WAYLAND_DISPLAY")
    monkeypatch.setenv("DISPLAY", ":0")
    assert has_display() is True
    monkeypatch.delenv("DISPLAY")
    for platform in ("win32", "darwin"):
        monkeypatch.setattr(sinks.sys, "platform", platform)
        assert has_display() is True


def test_window_before_show():
    w = Window("siamtrack-test")
    assert w.is_closed() is False
    w.close()
    assert w.is_closed() is True

"""Tests of siamtrack.runner.sources on real data and on broken inputs."""

import os

import cv2
import numpy as np
import pytest

from siamtrack.errors import SiamtrackError
from siamtrack.runner.sources import (CameraSource, FolderSource, VideoSource,
                                      natural_key, open_source)


def _check_frame(frame, w, h):
    assert isinstance(frame, np.ndarray)
    assert frame.dtype == np.uint8
    assert frame.shape == (h, w, 3)
    assert frame.flags["C_CONTIGUOUS"]


def test_video_avi_all_frames(shared_dir):
    path = str(shared_dir / "data/videos/bag.avi")
    with open_source(path) as src:
        assert isinstance(src, VideoSource)
        assert src.fps == pytest.approx(25.0)
        assert src.frame_count == 196
        assert src.frame_size == (480, 360)
        n = 0
        for frame in src:
            _check_frame(frame, 480, 360)
            n += 1
    assert n == 196


def test_video_is_single_pass(shared_dir):
    with VideoSource(str(shared_dir / "data/videos/mmtracking_demo.mp4")) as src:
        assert sum(1 for _ in src) == 8
        with pytest.raises(RuntimeError):
            next(iter(src))


def test_video_mp4_1080p(shared_dir):
    with open_source(str(shared_dir / "data/videos/mmtracking_demo.mp4")) as src:
        assert src.frame_count == 8
        frames = list(src)
    assert len(frames) == 8
    for f in frames:
        _check_frame(f, 1920, 1080)


def test_video_matches_first_jpeg(shared_dir):
    # bag.avi is a re-encoding of vot/bag: first frames must be close.
    with open_source(str(shared_dir / "data/videos/bag.avi")) as src:
        first = next(iter(src))
    jpg = cv2.imread(str(shared_dir / "data/vot/bag/00000001.jpg"), cv2.IMREAD_COLOR)
    assert np.abs(first.astype(int) - jpg.astype(int)).mean() < 10


def test_folder_vot_flat(shared_dir):
    folder = shared_dir / "data/vot/bag"
    with open_source(str(folder)) as src:
        assert isinstance(src, FolderSource)
        assert src.fps is None
        assert src.frame_count == 196
        names = [os.path.basename(f) for f in src.files]
        assert names == [f"{i:08d}.jpg" for i in range(1, 197)]
        n = 0
        for frame in src:
            if n < 3:
                _check_frame(frame, 480, 360)
            n += 1
    assert n == 196


def test_folder_vot_color_subfolder(shared_dir):
    src = open_source(str(shared_dir / "data/vot/ball1"))
    assert src.frame_count == 105
    assert os.path.basename(src.folder) == "color"
    assert os.path.basename(src.files[0]) == "00000001.jpg"
    _check_frame(next(iter(src)), 1280, 720)


def test_folder_otb_img_subfolder(shared_dir):
    src = open_source(str(shared_dir / "data/otb/Crossing"))
    assert src.frame_count == 120
    assert os.path.basename(src.folder) == "img"
    assert os.path.basename(src.files[-1]) == "0120.jpg"
    _check_frame(next(iter(src)), 360, 240)


def test_natural_order_and_extensions(tmp_path):
    img = np.full((8, 10, 3), 7, np.uint8)
    for name in ["10.jpg", "2.PNG", "1.bmp", "frame_3.TIFF", "x.webp"]:
        ok, buf = cv2.imencode(os.path.splitext(name)[1].lower(), img)
        assert ok
        buf.tofile(str(tmp_path / name))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.jpg").write_bytes(b"junk")
    src = FolderSource(str(tmp_path))
    assert [os.path.basename(f) for f in src.files] == \
        ["1.bmp", "2.PNG", "10.jpg", "frame_3.TIFF", "x.webp"]
    for frame in src:
        _check_frame(frame, 10, 8)
    assert natural_key("img2.jpg") < natural_key("img10.jpg")


def test_grayscale_image_becomes_bgr(tmp_path):
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
    assert cv2.imwrite(str(tmp_path / "0001.png"), gray)
    (frame,) = list(FolderSource(str(tmp_path)))
    _check_frame(frame, 8, 6)
    assert np.array_equal(frame[:, :, 0], gray) and np.array_equal(frame[:, :, 2], gray)


def test_missing_path(tmp_path):
    missing = str(tmp_path / "nope.mp4")
    with pytest.raises(SiamtrackError, match="no such file or folder") as e:
        open_source(missing)
    assert str(e.value) == f"{missing}: no such file or folder"


def test_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    (tmp_path / "img").mkdir()
    with pytest.raises(SiamtrackError) as e:
        open_source(str(tmp_path))
    assert str(e.value) == f"{tmp_path}: folder has no images (.jpg, .png, ...)"


def test_corrupt_video(tmp_path):
    path = tmp_path / "x.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(SiamtrackError) as e:
        open_source(str(path))
    msg = str(e.value)
    assert msg.startswith(f"{path}: ")
    assert "cannot open video" in msg or "no decodable frames" in msg


def test_text_file_named_avi(tmp_path):
    path = tmp_path / "notes.avi"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(SiamtrackError) as e:
        open_source(str(path))
    assert str(e.value).startswith(f"{path}: ")
    assert "\n" not in str(e.value)


def test_truncated_video_has_no_frames(tmp_path, shared_dir):
    # Headers intact, frame data cut off right after the 'movi' list starts:
    # OpenCV opens the file but decodes no frame.
    data = (shared_dir / "data/videos/bag.avi").read_bytes()
    path = tmp_path / "cut.avi"
    path.write_bytes(data[: data.index(b"movi") + 4])
    with pytest.raises(SiamtrackError) as e:
        VideoSource(str(path))
    assert str(e.value) == f"{path}: no decodable frames (corrupt or not a video)"
    # Cut inside the headers: cannot even be opened.
    path.write_bytes(data[:4096])
    with pytest.raises(SiamtrackError) as e:
        VideoSource(str(path))
    assert str(e.value) == f"{path}: cannot open video (corrupt or unsupported format)"


def test_undecodable_image_named(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    assert cv2.imwrite(str(tmp_path / "0001.jpg"), img)
    bad = tmp_path / "0002.jpg"
    bad.write_bytes(b"\xff\xd8 definitely not a jpeg")
    src = open_source(str(tmp_path))
    it = iter(src)
    _check_frame(next(it), 8, 8)
    with pytest.raises(SiamtrackError) as e:
        next(it)
    assert str(e.value) == f"{bad}: cannot decode image"


def test_camera_99_cannot_open():
    with pytest.raises(SiamtrackError) as e:
        open_source("99")
    assert str(e.value) == "camera 99: cannot open (no camera at that index?)"
    with pytest.raises(SiamtrackError):
        CameraSource(99, size=(640, 480), fps=30)


_REAL_CAPTURE = cv2.VideoCapture


class _VideoAsCamera:
    """Stands in for a camera device (none on test machines): ``cv2.VideoCapture(index)`` serving the real
    frames of ``bag.avi``, which ends (as an unplugged camera stops delivering) after ``n`` frames. Its frame
    size is fixed: a request for another size is ignored, as V4L2 drivers do."""

    def __init__(self, video, n):
        self._cap = _REAL_CAPTURE(str(video))
        self._left = n

    def isOpened(self):
        return self._cap.isOpened()

    def read(self):
        if self._left <= 0:
            return False, None
        self._left -= 1
        return self._cap.read()

    def set(self, prop, value):
        return False

    def get(self, prop):
        return self._cap.get(prop) if prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT) else 0.0

    def release(self):
        self._cap.release()


def test_camera_that_stops_ends_run_keeping_results(shared_dir, tmp_path, monkeypatch):
    """A camera that stops delivering frames ends the run normally; the boxes of every frame are kept."""
    from siamtrack.runner import sources
    from siamtrack.runner.loop import run_tracking
    from siamtrack.tracker.factory import create_tracker

    video = shared_dir / "data" / "videos" / "bag.avi"
    monkeypatch.setattr(sources.cv2, "VideoCapture", lambda index, *a: _VideoAsCamera(video, 12))
    out = tmp_path / "boxes.txt"
    with open_source("0") as cam:
        assert isinstance(cam, CameraSource) and cam.frame_count is None
        summary = run_tracking(cam, lambda: create_tracker(
            "nanotrack-v2", weights=shared_dir / "weights" / "nanotrack" / "nanotrackv2.pth"),
            init_box=[313, 147, 106, 96], save_boxes=str(out), show=False, progress=False)
    assert summary.frames == 12
    lines = out.read_text().splitlines()
    assert len(lines) == 12 and lines[0] == "313.000,147.000,106.000,96.000"


def test_camera_refusing_size_is_an_error(shared_dir, monkeypatch):
    from siamtrack.runner import sources

    video = shared_dir / "data" / "videos" / "bag.avi"
    monkeypatch.setattr(sources.cv2, "VideoCapture", lambda index, *a: _VideoAsCamera(video, 5))
    with pytest.raises(SiamtrackError) as e:
        open_source("0", camera_size=(1280, 720))
    assert str(e.value) == "camera 0: cannot set frame size 1280x720 (camera gives 480x360)"

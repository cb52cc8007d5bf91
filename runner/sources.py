"""Frame sources: image folders, video files and cameras.

Every source yields frames as BGR ``uint8`` arrays of shape ``(H, W, 3)``,
C-contiguous, whatever the input (grayscale and 4-channel inputs are
converted). Bad input is reported as :class:`~siamtrack.errors.SiamtrackError`
with a one-line message naming the file (or camera) and the problem.

Use :func:`open_source` to pick the right source for a command-line argument::

    with open_source("clip.mp4") as src:
        for frame in src:
            ...
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Iterator

import cv2
import numpy as np

from siamtrack.errors import SiamtrackError, missing_path_error

__all__ = [
    "IMAGE_EXTENSIONS",
    "FrameSource",
    "FrameSizeCheck",
    "FolderSource",
    "VideoSource",
    "CameraSource",
    "open_source",
    "is_camera_index",
    "natural_key",
]

#: File extensions (lower case) recognised as images in a folder.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

#: Subfolders searched when a folder has no images itself: VOT 2017+ keeps
#: frames in ``color/``, OTB in ``img/``.
IMAGE_SUBFOLDERS = ("color", "img")


@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV's own warnings while probing a file or camera.

    A failed open is reported by us as a SiamtrackError; OpenCV's multi-line
    backend warnings would only add noise. (FFmpeg's native log lines, e.g.
    ``moov atom not found``, are not controlled by this.)
    """
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is None:  # pragma: no cover - very old OpenCV builds
        yield
        return
    old = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log.setLogLevel(old)


def _to_bgr(frame: np.ndarray) -> np.ndarray:
    """Return ``frame`` as a C-contiguous BGR ``uint8`` array ``(H, W, 3)``.

    Accepts ``(H, W)`` / ``(H, W, 1)`` grayscale and ``(H, W, 4)`` BGRA input,
    and 16-bit or float frames (scaled to 0..255).
    """
    if frame.dtype != np.uint8:
        if frame.dtype == np.uint16:
            frame = (frame >> 8).astype(np.uint8)
        elif np.issubdtype(frame.dtype, np.floating):
            frame = np.clip(frame * 255.0, 0, 255).astype(np.uint8)
        else:
            frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.ndim == 3 and frame.shape[2] == 1:
        frame = cv2.cvtColor(frame[:, :, 0], cv2.COLOR_GRAY2BGR)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(frame)


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers numerically: ``2.jpg < 10.jpg``.

    Text parts compare case-insensitively. ``re.split`` with a capturing
    group alternates text and digit runs, so keys always compare text with
    text and int with int.
    """
    parts = re.split(r"(\d+)", name)
    return [int(p) if i % 2 else p.lower() for i, p in enumerate(parts)]


class FrameSizeCheck:
    """Every frame of a run has the size of the first: ``check(frame, name)`` per frame, in order.

    The first call records the size; a later frame of another size raises
    :class:`SiamtrackError` ``"<name>: frame is WxH, frame 1 is WxH (every
    frame must have one size)"``, ``name`` naming that frame (its file, or
    ``<video> frame <n>``). Used by every source, the benchmark protocols and
    the TraX server; the sinks check their own input the same way.

    Attributes:
        shape: ``(H, W)`` of the first frame, ``None`` before it.
    """

    def __init__(self):
        self.shape: tuple[int, int] | None = None

    def __call__(self, frame: np.ndarray, name: str | None) -> None:
        shape = tuple(frame.shape[:2])
        if self.shape is None:
            self.shape = shape
        elif shape != self.shape:
            raise SiamtrackError(f"{name}: frame is {shape[1]}x{shape[0]}, frame 1 is {self.shape[1]}x"
                                 f"{self.shape[0]} (every frame must have one size)")


class FrameSource:
    """Base class of all frame sources.

    Iterating yields frames: ``numpy.ndarray`` of dtype ``uint8``, shape
    ``(H, W, 3)``, BGR channel order, C-contiguous. Use as a context manager
    (or call :meth:`close`) to release the underlying file or device.

    Attributes:
        name: human-readable name for messages (path or ``camera N``).
        fps: frames per second reported by the source (float), or ``None``
            when unknown (image folders, some cameras).
        frame_count: number of frames (int), or ``None`` when unknown
            (cameras). For videos it is the container's count, which some
            formats only estimate.
    """

    name: str = ""
    fps: float | None = None
    frame_count: int | None = None
    #: After the iteration: a one-line message when it ended before ``frame_count`` frames because the
    #: decoder stopped (a truncated or corrupt video), else ``None``.
    incomplete: str | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield the frames, each of the first frame's size.

        Raises:
            SiamtrackError: a frame whose size differs from the first one's:
                ``"<frame>: frame is WxH, frame 1 is WxH (...)"``, naming the
                frame file (folders) or ``<video> frame <n>``.
        """
        check = FrameSizeCheck()
        for i, frame in enumerate(self._frames()):
            check(frame, self.frame_name(i) if check.shape is not None else None)
            yield frame

    def frame_name(self, index: int) -> str:
        """How messages name frame ``index`` (0-based): ``"<name> frame <index + 1>"``; folders: the file."""
        return f"{self.name} frame {index + 1}"

    def _frames(self) -> Iterator[np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the underlying resources. Safe to call more than once."""

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, fps={self.fps!r}, "
                f"frame_count={self.frame_count!r})")


def _list_images(folder: str) -> list[str]:
    """Image files directly in ``folder``, naturally sorted (hidden files skipped)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    names = [
        e.name for e in entries
        if not e.name.startswith(".")
        and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
        and e.is_file()
    ]
    names.sort(key=lambda n: (natural_key(n), n))
    return [os.path.join(folder, n) for n in names]


class FolderSource(FrameSource):
    """Frames from the image files of a folder, in natural order.

    Images are files with extension .jpg .jpeg .png .bmp .tif .tiff .webp
    (any case), sorted so that ``2.jpg`` comes before ``10.jpg``. If the
    folder itself has none, its ``color/`` (VOT 2017+ layout) or ``img/``
    (OTB layout) subfolder is used. Each image is decoded as 8-bit BGR
    (grayscale images come out as 3 identical channels). Can be iterated
    more than once.

    Attributes:
        files: list of image paths (str), in frame order.
        folder: the folder the images were found in.
        fps: always ``None``.
        frame_count: ``len(files)``.

    Raises:
        SiamtrackError: ``"<path>: folder has no images (.jpg, .png, ...)"``
            on construction; ``"<file>: cannot decode image"`` (or
            ``"<file>: cannot read (...)"``) while iterating.
    """

    def __init__(self, path: str):
        path = os.fspath(path)
        self.name = path
        files = _list_images(path)
        folder = path
        if not files:
            for sub in IMAGE_SUBFOLDERS:
                candidate = os.path.join(path, sub)
                if os.path.isdir(candidate):
                    files = _list_images(candidate)
                    if files:
                        folder = candidate
                        break
        if not files:
            raise SiamtrackError(f"{path}: folder has no images (.jpg, .png, ...)")
        self.folder = folder
        self.files = files
        self.fps = None
        self.frame_count = len(files)

    @staticmethod
    def read_image(file: str) -> np.ndarray:
        """Decode one image file to BGR ``uint8`` ``(H, W, 3)``.

        Reads the bytes with numpy and decodes with ``cv2.imdecode``
        (``IMREAD_COLOR``), which unlike ``cv2.imread`` also handles
        non-ASCII paths on Windows.

        Raises:
            SiamtrackError: the file cannot be read or decoded.
        """
        try:
            data = np.fromfile(file, dtype=np.uint8)
        except OSError as e:
            raise SiamtrackError(f"{file}: cannot read ({e.strerror or e})") from None
        frame = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if frame is None:
            raise SiamtrackError(f"{file}: cannot decode image")
        return _to_bgr(frame)

    def frame_name(self, index: int) -> str:
        """The image file of frame ``index`` (0-based)."""
        return self.files[index]

    def _frames(self) -> Iterator[np.ndarray]:
        for file in self.files:
            yield self.read_image(file)


class _CaptureSource(FrameSource):
    """Shared logic of video and camera sources (one ``cv2.VideoCapture``).

    Iterable once only: a capture cannot reliably be rewound.
    """

    _cap = None
    _first: np.ndarray | None = None
    _iterated = False

    def _frames(self) -> Iterator[np.ndarray]:
        if self._iterated:
            raise RuntimeError(f"{self.name}: a video or camera source can be iterated only once")
        self._iterated = True
        decoded = 0
        if self._first is not None:
            first, self._first = self._first, None
            decoded += 1
            yield first
        while self._cap is not None:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                break
            decoded += 1
            yield _to_bgr(frame)
        self._check_complete(decoded)

    def _check_complete(self, decoded: int) -> None:
        """Called when the decoder stops after ``decoded`` frames (cameras: nothing to check)."""

    def close(self) -> None:
        """Release the capture. Safe to call more than once."""
        cap, self._cap = self._cap, None
        self._first = None
        if cap is not None:
            cap.release()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class VideoSource(_CaptureSource):
    """Frames decoded from a video file with ``cv2.VideoCapture`` (FFmpeg).

    The first frame is decoded in the constructor, so a file that opens but
    holds no decodable video fails early. Iterable once only.

    Attributes:
        fps: the container's frame rate (float), or ``None`` when it reports
            none.
        frame_count: ``CAP_PROP_FRAME_COUNT`` when > 0, else ``None``. Some
            containers only estimate it; the number of frames actually
            yielded can differ. When decoding stops before it,
            :attr:`incomplete` says so after the iteration.
        frame_size: ``(width, height)`` in pixels, from the first frame.

    Raises:
        SiamtrackError: ``"<path>: cannot open video (corrupt or unsupported
            format)"`` or ``"<path>: no decodable frames (corrupt or not a
            video)"``.
    """

    def __init__(self, path: str):
        path = os.fspath(path)
        self.name = path
        with _quiet_opencv():
            # FFmpeg first: CAP_ANY would treat a '%' in the name as an
            # image-sequence pattern. Fall back for builds without FFmpeg.
            cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
            if not cap.isOpened():
                cap.release()
                cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            cap.release()
            raise SiamtrackError(f"{path}: cannot open video (corrupt or unsupported format)")
        self._cap = cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 and np.isfinite(fps) else None
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if count and count > 0 and np.isfinite(count) else None
        with _quiet_opencv():
            ok, frame = cap.read()
        if not ok or frame is None:
            self.close()
            raise SiamtrackError(f"{path}: no decodable frames (corrupt or not a video)")
        self._first = _to_bgr(frame)
        self.frame_size = (self._first.shape[1], self._first.shape[0])

    def _check_complete(self, decoded: int) -> None:
        """Set :attr:`incomplete` when the decoder stopped before the container's frame count."""
        if self.frame_count is not None and decoded < self.frame_count:
            self.incomplete = (f"{self.name}: decoding stopped at frame {decoded} of {self.frame_count} "
                               f"(truncated or corrupt file)")


class CameraSource(_CaptureSource):
    """Live frames from a camera, ``cv2.VideoCapture(index)``.

    Args:
        index: camera index (0 is the default camera).
        size: optional requested ``(width, height)`` in pixels; the camera
            must accept it exactly.
        fps: optional requested frame rate (frames per second); a camera
            that does not support it silently keeps its own rate.

    The iteration ends when the camera stops delivering frames (unplugged,
    closed by another process). Iterable once only.

    Attributes:
        fps: the rate the camera reports (float), or ``None``.
        frame_count: always ``None``.

    Raises:
        SiamtrackError: ``"camera <i>: cannot open (no camera at that
            index?)"`` or ``"camera <i>: cannot set frame size WxH (camera
            gives W'xH')"``.
    """

    def __init__(self, index: int, size: tuple[int, int] | None = None,
                 fps: float | None = None):
        index = int(index)
        self.index = index
        self.name = f"camera {index}"
        with _quiet_opencv():
            cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            raise SiamtrackError(f"camera {index}: cannot open (no camera at that index?)")
        self._cap = cap
        if size is not None:
            w, h = (int(v) for v in size)
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
            got_w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            got_h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if got_w <= 0 or got_h <= 0:
                # The backend does not report its size: look at a frame.
                ok, frame = cap.read()
                if ok and frame is not None:
                    self._first = _to_bgr(frame)
                    got_h, got_w = self._first.shape[:2]
            if (got_w, got_h) != (w, h) and got_w > 0 and got_h > 0:
                self.close()
                raise SiamtrackError(
                    f"camera {index}: cannot set frame size {w}x{h} "
                    f"(camera gives {got_w}x{got_h})")
        if fps is not None and fps > 0:
            cap.set(cv2.CAP_PROP_FPS, float(fps))
        got_fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(got_fps) if got_fps and got_fps > 0 and np.isfinite(got_fps) else None
        self.frame_count = None


def is_camera_index(spec: str) -> bool:
    """Whether a command-line source names a camera: all ASCII digits (``"0"``; ``"./0"`` is a path;
    ASCII because ``'²'.isdigit()`` is True)."""
    return spec.isdigit() and spec.isascii()


def open_source(spec: str, camera_size: tuple[int, int] | None = None,
                camera_fps: float | None = None) -> FrameSource:
    """Open the frame source named by a command-line argument.

    Args:
        spec: all digits (e.g. ``"0"``) -> camera index (write ``./0`` for a
            file or folder named ``0``); an existing folder
            -> :class:`FolderSource`; an existing file -> :class:`VideoSource`.
        camera_size: ``(width, height)`` in pixels to request from a camera
            (ignored for files and folders).
        camera_fps: frames per second to request from a camera (ignored for
            files and folders).

    Returns:
        A :class:`FrameSource` yielding BGR ``uint8`` ``(H, W, 3)`` frames.

    Raises:
        SiamtrackError: ``"<spec>: no such file or folder"``, or any error of
            the chosen source's constructor.
    """
    spec = os.fspath(spec)
    if is_camera_index(spec):
        return CameraSource(int(spec), size=camera_size, fps=camera_fps)
    if os.path.isdir(spec):
        return FolderSource(spec)
    if os.path.isfile(spec):
        return VideoSource(spec)
    raise missing_path_error(spec)

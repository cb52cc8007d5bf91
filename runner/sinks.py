"""Output sinks: box files, annotated videos, mask PNGs, on-screen windows.

Files are written atomically (:mod:`siamtrack.runner.atomic`): the data goes
to a hidden temporary file in the destination's folder as it comes, frame by
frame (nothing per frame is kept in memory), and that file replaces the
destination (``os.replace``) only on ``close(ok=True)``; on failure the
temporary file is deleted, so a half-written file is never left behind.
Every frame a sink receives must have the size of the first one: another
size is a :class:`~siamtrack.errors.SiamtrackError` naming the frame. Bad
output paths are reported as :class:`~siamtrack.errors.SiamtrackError`.
"""

from __future__ import annotations

import os
import shutil
import sys
import weakref
from typing import Sequence

import cv2
import numpy as np

from siamtrack.errors import SiamtrackError
from siamtrack.runner.atomic import AtomicPath, atomic_path, temp_sibling

__all__ = [
    "AtomicPath",
    "atomic_path",
    "BoxWriter",
    "MaskWriter",
    "VideoSink",
    "VIDEO_FOURCC",
    "draw_overlay",
    "draw_mask",
    "has_display",
    "Window",
]

#: Video file extension (lower case) -> FourCC code used by :class:`VideoSink`.
VIDEO_FOURCC = {
    ".mp4": "mp4v",
    ".m4v": "mp4v",
    ".mov": "mp4v",
    ".avi": "MJPG",
    ".mkv": "XVID",
}


def _fmt(v: float) -> str:
    """``v`` with 3 decimals, never ``-0.000``."""
    return f"{round(float(v), 3) + 0.0:.3f}"


class BoxWriter:
    """Writes one box per frame as an ``x,y,w,h`` line, streamed to a temporary file committed at the end.

    Boxes are ``[x, y, w, h]``: top-left corner and size in 0-based pixels
    (floats). Each line is written with 3 decimals, e.g.
    ``12.500,30.000,40.250,80.000``. With ``n_values=8`` the rows are
    polygons ``x1,y1,...,x4,y4`` (0-based pixels; mask trackers' rotated
    boxes, VOT's region format). Each line goes to the hidden temporary file
    as it comes (memory stays flat however long the run); ``close(ok=True)``
    moves that file over ``path``, ``close(ok=False)`` (or leaving a ``with``
    block with an exception) deletes it, leaving ``path`` as it was.

    Attributes:
        lines: the number of lines written so far.

    Raises:
        SiamtrackError: ``"<path>: folder does not exist"`` /
            ``"<path>: is a folder, not a file"`` on construction (so the
            problem shows before a long run), ``"<path>: cannot write
            (...)"`` on a write or on close.
    """

    def __init__(self, path: str, n_values: int = 4):
        self.path = os.fspath(path)
        self.n_values = int(n_values)
        self._atomic = AtomicPath(self.path)
        try:
            self._file = open(self._atomic.tmp, "w", encoding="ascii", newline="\n")
        except OSError as e:
            self._atomic.abort()
            raise SiamtrackError(f"{self.path}: cannot write ({e.strerror or e})") from None
        self.lines = 0
        self.closed = False

    def write(self, box: Sequence[float]) -> None:
        """Append the box of the next frame: 4 numbers ``x, y, w, h`` (pixels), or ``n_values`` numbers.

        Raises:
            ValueError: ``box`` does not have ``n_values`` elements.
            RuntimeError: the writer is closed.
            SiamtrackError: the line cannot be written (disk full, ...).
        """
        if self.closed:
            raise RuntimeError(f"{self.path}: BoxWriter is closed")
        values = np.asarray(box, dtype=np.float64).ravel()
        if values.size != self.n_values:
            what = "[x, y, w, h]" if self.n_values == 4 else f"{self.n_values} numbers"
            raise ValueError(f"box must be {what}, got {values.size} values")
        try:
            self._file.write(",".join(_fmt(v) for v in values) + "\n")
        except OSError as e:
            raise SiamtrackError(f"{self.path}: cannot write ({e.strerror or e})") from None
        self.lines += 1

    def close(self, ok: bool = True) -> None:
        """Commit the lines to ``path`` when ``ok`` (flushed and synced first); discard them otherwise.

        Safe to call more than once (later calls do nothing).

        Raises:
            SiamtrackError: the file cannot be finished or renamed.
        """
        if self.closed:
            return
        self.closed = True
        try:
            if ok:
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()
        except OSError as e:
            self._atomic.abort()
            raise SiamtrackError(f"{self.path}: cannot write ({e.strerror or e})") from None
        if ok:
            self._atomic.commit()
        else:
            self._atomic.abort()

    def __enter__(self) -> "BoxWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


class VideoSink:
    """Writes BGR frames to a video file with ``cv2.VideoWriter``, atomically.

    Args:
        path: output file; the extension picks the codec: .mp4/.m4v/.mov ->
            MPEG-4 ('mp4v'), .avi -> Motion JPEG ('MJPG'), .mkv -> 'XVID'.
        fps: frames per second stored in the file; ``None``, NaN or <= 0
            means 25.
        frame_size_wh: ``(width, height)`` in pixels of the frames that will
            be written. OpenCV's FFmpeg writer only encodes even sizes (it
            silently rescales odd ones), so an odd width/height is reduced
            by one and the last column/row of every frame is cropped;
            ``frame_size`` holds the size actually stored.

    Frames go to a hidden temporary file beside ``path`` which replaces
    ``path`` on ``close(ok=True)``; ``close(ok=False)`` (or leaving a
    ``with`` block with an exception) deletes it.

    Raises:
        SiamtrackError: ``"<path>: unsupported video extension (use .mp4,
            .avi or .mkv)"``, ``"<path>: folder does not exist"``,
            ``"<path>: cannot open video writer"``.
        ValueError: ``frame_size_wh`` is not two positive ints.
    """

    def __init__(self, path: str, fps: float | None, frame_size_wh: tuple[int, int]):
        self.path = os.fspath(path)
        ext = os.path.splitext(self.path)[1].lower()
        fourcc = VIDEO_FOURCC.get(ext)
        if fourcc is None:
            raise SiamtrackError(f"{self.path}: unsupported video extension (use .mp4, .avi or .mkv)")
        w, h = (int(v) for v in frame_size_wh)
        if w < 2 or h < 2:
            raise ValueError(f"frame size must be at least 2x2 pixels, got {w}x{h}")
        self.input_size = (w, h)
        self.frame_size = (w - w % 2, h - h % 2)
        self.fps = float(fps) if fps is not None and np.isfinite(fps) and fps > 0 else 25.0
        self._atomic = AtomicPath(self.path)  # checks the folder
        writer = cv2.VideoWriter(self._atomic.tmp, cv2.VideoWriter_fourcc(*fourcc),
                                 self.fps, self.frame_size, True)
        if not writer.isOpened():
            writer.release()
            self._atomic.abort()
            raise SiamtrackError(f"{self.path}: cannot open video writer")
        self._writer = writer
        self.frames_written = 0
        self.closed = False

    def write(self, frame: np.ndarray) -> None:
        """Append one frame: ``uint8`` ``(H, W, 3)`` BGR of the declared size.

        Raises:
            SiamtrackError: the frame has another size than the declared one
                (``cv2.VideoWriter`` would silently drop it): ``"<path>: frame
                <n> is WxH, the video is WxH"``.
            ValueError: not a ``uint8`` ``(H, W, 3)`` array.
            RuntimeError: the sink is closed.
        """
        if self.closed:
            raise RuntimeError(f"{self.path}: VideoSink is closed")
        frame = np.asarray(frame)
        w, h = self.input_size
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"{self.path}: frame must be uint8 of shape ({h}, {w}, 3), "
                             f"got {frame.dtype} {frame.shape}")
        if frame.shape[:2] != (h, w):
            raise SiamtrackError(f"{self.path}: frame {self.frames_written + 1} is {frame.shape[1]}x"
                                 f"{frame.shape[0]}, the video is {w}x{h} (every frame must have one size)")
        fw, fh = self.frame_size
        if (fw, fh) != (w, h):
            frame = frame[:fh, :fw]
        self._writer.write(np.ascontiguousarray(frame))
        self.frames_written += 1

    def close(self, ok: bool = True) -> None:
        """Finish the file: rename it over ``path`` when ``ok``, delete it otherwise.

        Safe to call more than once (later calls do nothing).

        Raises:
            SiamtrackError: the final rename failed.
        """
        if self.closed:
            return
        self.closed = True
        self._writer.release()
        if ok:
            self._atomic.commit()
        else:
            self._atomic.abort()

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


class MaskWriter:
    """Writes one binary mask per frame as ``<folder>/<frame>.png``, frame numbers 1-based on 5 digits.

    Each PNG is 8-bit, one channel, 0 (background) / 255 (target), of the
    frame's size: ``00001.png`` for the first frame, ``00002.png`` for the
    second, ... (the DAVIS layout). ``folder`` is created when missing (its
    parent must exist). The files go to a hidden temporary folder beside
    ``folder`` and are moved into it on ``close(ok=True)`` (each with
    ``os.replace``; the whole folder at once when ``folder`` did not exist);
    ``close(ok=False)`` (or leaving a ``with`` block with an exception)
    deletes them, leaving ``folder`` as it was.

    Raises:
        SiamtrackError: ``"<folder>: folder does not exist"`` (the parent),
            ``"<folder>: is a file, not a folder"``, ``"<folder>: cannot
            write (...)"``.
    """

    def __init__(self, folder: str):
        self.folder = os.fspath(folder)
        parent, base = os.path.split(os.path.abspath(self.folder))
        if not os.path.isdir(parent):
            raise SiamtrackError(f"{self.folder}: folder does not exist ({parent} is missing)")
        if os.path.exists(self.folder) and not os.path.isdir(self.folder):
            raise SiamtrackError(f"{self.folder}: is a file, not a folder")
        tmp = temp_sibling(self.folder, is_dir=True)
        self.tmp = tmp
        self._finalizer = weakref.finalize(self, shutil.rmtree, tmp, True)
        self.frames_written = 0
        self.shape: tuple[int, int] | None = None
        self.closed = False

    def write(self, mask: np.ndarray) -> None:
        """Write the next frame's mask: ``(H, W)`` bool, or numbers where nonzero is the target.

        Raises:
            ValueError: ``mask`` is not 2-D.
            RuntimeError: the writer is closed.
            SiamtrackError: the mask has another size than the first one
                (``"<folder>/<n>.png: mask is WxH, the first is WxH"``), or the
                PNG cannot be written.
        """
        if self.closed:
            raise RuntimeError(f"{self.folder}: MaskWriter is closed")
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"{self.folder}: mask must be 2-D (H, W), got shape {mask.shape}")
        name = f"{self.frames_written + 1:05d}.png"
        if self.shape is None:
            self.shape = mask.shape
        elif mask.shape != self.shape:
            raise SiamtrackError(f"{os.path.join(self.folder, name)}: mask is {mask.shape[1]}x{mask.shape[0]}, "
                                 f"the first is {self.shape[1]}x{self.shape[0]} (every frame must have one size)")
        ok, png = cv2.imencode(".png", np.where(mask != 0, np.uint8(255), np.uint8(0)))
        try:
            if not ok:
                raise OSError("PNG encoding failed")
            with open(os.path.join(self.tmp, name), "wb") as f:
                f.write(png.tobytes())
        except OSError as e:
            raise SiamtrackError(f"{os.path.join(self.folder, name)}: cannot write ({e.strerror or e})") from None
        self.frames_written += 1

    def close(self, ok: bool = True) -> None:
        """Move the masks into ``folder`` when ``ok``; delete them otherwise. Later calls do nothing.

        Raises:
            SiamtrackError: a move failed (the masks not moved yet are deleted).
        """
        if self.closed:
            return
        self.closed = True
        if not ok:
            self._finalizer()
            return
        try:
            if not os.path.exists(self.folder):
                os.replace(self.tmp, self.folder)  # one atomic rename of the whole folder
            else:
                for name in sorted(os.listdir(self.tmp)):
                    os.replace(os.path.join(self.tmp, name), os.path.join(self.folder, name))
        except OSError as e:
            raise SiamtrackError(f"{self.folder}: cannot write ({e.strerror or e})") from None
        finally:
            self._finalizer()

    def __enter__(self) -> "MaskWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


def draw_overlay(frame: np.ndarray, box: Sequence[float] | None, score: float | None = None,
                 fps: float | None = None, color: tuple[int, int, int] = (0, 255, 0),
                 lost: bool = False, label: str | None = None) -> np.ndarray:
    """Draw the tracked box and a status line on ``frame``, in place.

    Args:
        frame: BGR ``uint8`` ``(H, W, 3)`` array, modified in place.
        box: ``[x, y, w, h]`` in 0-based pixels (floats, rounded to ints), or
            ``None`` to draw no box. Non-finite boxes are not drawn.
        score: tracker confidence, shown as ``score 0.98``.
        fps: processing speed in frames per second, shown as ``fps 123.4``.
        color: BGR box colour (ignored when ``lost``).
        lost: draw the box in red and add ``LOST`` to the status line.
        label: optional text put first in the status line (e.g. a model name).

    The status line is drawn at the top-left over a darkened strip, with a
    font scaled to the frame size. Returns ``frame``.

    Raises:
        ValueError: ``frame`` is not a ``uint8`` ``(H, W, 3)`` array.
    """
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 \
            or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError("frame must be a uint8 (H, W, 3) array")
    img_h, img_w = frame.shape[:2]
    box_color = (0, 0, 255) if lost else tuple(int(c) for c in color)
    thickness = 2

    if box is not None:
        b = np.asarray(box, dtype=np.float64).ravel()
        if b.size == 4 and np.all(np.isfinite(b)):
            lim = 4 * max(img_w, img_h) + 16  # keep cv2's int coordinates sane
            x1, y1, x2, y2 = (int(round(float(np.clip(v, -lim, lim))))
                              for v in (b[0], b[1], b[0] + b[2], b[1] + b[3]))
            cv2.rectangle(frame, (x1, y1), (x2, y2), box_color, thickness, cv2.LINE_AA)

    parts = []
    if label:
        parts.append(str(label))
    if score is not None and np.isfinite(score):
        parts.append(f"score {float(score):.2f}")
    if fps is not None and np.isfinite(fps):
        parts.append(f"fps {float(fps):.1f}")
    if lost:
        parts.append("LOST")
    if parts:
        text = "  ".join(parts)
        font = cv2.FONT_HERSHEY_SIMPLEX
        scale = max(0.4, min(img_w, img_h) / 720.0 * 0.7)
        text_th = max(1, int(round(scale * 1.5)))
        (tw, th), base = cv2.getTextSize(text, font, scale, text_th)
        pad = max(3, int(round(4 * scale)))
        x2 = min(img_w, tw + 2 * pad)
        y2 = min(img_h, th + base + 2 * pad)
        strip = frame[0:y2, 0:x2]
        strip[...] = (strip.astype(np.uint16) * 3 // 10).astype(np.uint8)  # darken to 30%
        text_color = (80, 80, 255) if lost else (255, 255, 255)
        cv2.putText(frame, text, (pad, pad + th), font, scale, text_color, text_th, cv2.LINE_AA)
    return frame


def draw_mask(frame: np.ndarray, mask: np.ndarray | None, polygon: Sequence[float] | None = None,
              color: tuple[int, int, int] = (0, 255, 0), lost: bool = False, alpha: float = 0.5) -> np.ndarray:
    """Draw a target mask (tinted) and its rotated box on ``frame``, in place.

    Args:
        frame: BGR ``uint8`` ``(H, W, 3)`` array, modified in place.
        mask: ``(H, W)`` bool (nonzero = target) of the frame's size, or ``None``.
            Target pixels become ``(1 - alpha) * pixel + alpha * tint``, the
            tint being red (BGR ``(0, 0, 255)``).
        polygon: ``[x1, y1, ..., x4, y4]`` 0-based pixels (e.g. the
            rotated rectangle of a mask tracker), drawn closed in ``color``
            (red when ``lost``); non-finite polygons are not drawn.

    Returns ``frame``.

    Raises:
        ValueError: ``frame`` is not ``uint8`` ``(H, W, 3)`` or ``mask`` has another size.
    """
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 \
            or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError("frame must be a uint8 (H, W, 3) array")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != frame.shape[:2]:
            raise ValueError(f"mask of shape {mask.shape} does not match the frame {frame.shape[:2]}")
        sel = mask != 0
        if sel.any():
            tint = np.array((0, 0, 255), dtype=np.float32) * alpha
            frame[sel] = (frame[sel].astype(np.float32) * (1 - alpha) + tint + 0.5).astype(np.uint8)
    if polygon is not None:
        p = np.asarray(polygon, dtype=np.float64).ravel()
        if p.size == 8 and np.all(np.isfinite(p)):
            lim = 4 * max(frame.shape[:2]) + 16  # keep cv2's int coordinates sane
            pts = np.round(np.clip(p, -lim, lim)).astype(np.int32).reshape(4, 1, 2)
            box_color = (0, 0, 255) if lost else tuple(int(c) for c in color)
            cv2.polylines(frame, [pts], True, box_color, 2, cv2.LINE_AA)
    return frame


def has_display() -> bool:
    """Whether a window can be shown: always on Windows/macOS; on Linux and
    other Unixes only when ``DISPLAY`` or ``WAYLAND_DISPLAY`` is set."""
    if sys.platform.startswith("win") or sys.platform == "darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _ignore_mouse(event, x, y, flags, param=None) -> None:
    """Mouse callback that does nothing (OpenCV has no way to remove one)."""


class Window:
    """An OpenCV window showing frames (needs a display, see :func:`has_display`).

    Args:
        name: window title (also OpenCV's window id).
    """

    def __init__(self, name: str):
        self.name = str(name)
        self._shown = False
        self._closed = False

    def show(self, frame: np.ndarray, wait_ms: int = 1) -> int:
        """Show a BGR ``uint8`` ``(H, W, 3)`` frame at 1:1 scale and poll the keyboard for ``wait_ms`` ms.

        Returns:
            The key pressed as ``cv2.waitKey(wait_ms) & 0xFF``, or -1 if none.

        Raises:
            cv2.error: OpenCV has no GUI backend or no display.
        """
        if not self._shown:
            # GUI_NORMAL: no tool bar (Qt), the image is the whole client area.
            cv2.namedWindow(self.name, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
            self._shown = True
        cv2.imshow(self.name, frame)
        key = cv2.waitKey(max(1, int(wait_ms)))
        return -1 if key == -1 else key & 0xFF

    def set_mouse_callback(self, callback) -> None:
        """Route mouse events ``callback(event, x, y, flags, param)`` (image pixels) of the window; ``None``
        stops them. Call after the first :meth:`show`."""
        if self._shown and not self._closed:
            cv2.setMouseCallback(self.name, callback if callback is not None else _ignore_mouse)

    def is_closed(self) -> bool:
        """True once the user closed the window (or :meth:`close` was called).

        Uses ``cv2.getWindowProperty(name, WND_PROP_VISIBLE) < 1``; False
        before the first :meth:`show`.
        """
        if self._closed:
            return True
        if not self._shown:
            return False
        try:
            return cv2.getWindowProperty(self.name, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def close(self) -> None:
        """Destroy the window. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._shown:
            try:
                cv2.destroyWindow(self.name)
                cv2.waitKey(1)  # let the GUI backend process the destroy event
            except cv2.error:
                pass

    def __enter__(self) -> "Window":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Drawing a target box with the mouse on a frozen frame.

The frame is shown still; the user presses the left button at one corner,
drags (the rectangle follows the pointer) and releases at the opposite
corner. Enter or Space confirms, ``c`` clears the box to draw it again, ``q``
or Esc gives up. A one-line legend says so on the image. The box is in image
pixels whatever the window's decorations: OpenCV's mouse callback reports
image coordinates.

Works with any OpenCV GUI backend (Qt, GTK, Win32, Cocoa); the keys are read
with ``cv2.waitKey``.
"""

from __future__ import annotations

import cv2
import numpy as np

from siamtrack.runner.legend import draw_legend

CONFIRM_KEYS = (13, 10, 32)  # Enter (CR / LF), Space
CLEAR_KEYS = (ord("c"), ord("C"))
GIVE_UP_KEYS = (ord("q"), ord("Q"), 27)  # q, Esc
SELECT_LEGEND = "drag a box around the target   Enter/Space: confirm   c: clear   q/Esc: quit"


class BoxSelector:
    """Mouse state of one selection: press, drag, release (OpenCV mouse callback).

    Args:
        width, height: image size in pixels; the corners are clipped to
            ``[0, width] x [0, height]``.

    Attributes:
        start, end: corners ``(x, y)`` in image pixels (ints), ``None`` before a press.
        dragging: the left button is down.
    """

    def __init__(self, width: int, height: int):
        self.width, self.height = int(width), int(height)
        self.start: tuple[int, int] | None = None
        self.end: tuple[int, int] | None = None
        self.dragging = False

    def _clip(self, x: int, y: int) -> tuple[int, int]:
        return min(max(int(x), 0), self.width), min(max(int(y), 0), self.height)

    def on_mouse(self, event: int, x: int, y: int, flags: int, param=None) -> None:
        """``cv2.setMouseCallback`` handler: button down starts a box, moves extend it, button up ends it."""
        if event == cv2.EVENT_LBUTTONDOWN:
            self.start = self.end = self._clip(x, y)
            self.dragging = True
        elif event == cv2.EVENT_MOUSEMOVE and self.dragging:
            self.end = self._clip(x, y)
        elif event == cv2.EVENT_LBUTTONUP and self.dragging:
            self.end = self._clip(x, y)
            self.dragging = False

    def clear(self) -> None:
        self.start = self.end = None
        self.dragging = False

    def box(self) -> np.ndarray | None:
        """``[x, y, w, h]`` float64 (0-based pixels, integer values) of the current rectangle, or None
        while there is none or it has zero width or height."""
        if self.start is None or self.end is None:
            return None
        (x0, y0), (x1, y1) = self.start, self.end
        x, y, w, h = min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)
        if w == 0 or h == 0:
            return None
        return np.array([x, y, w, h], dtype=np.float64)

    def draw(self, frame: np.ndarray) -> np.ndarray:
        """A copy of ``frame`` with the current rectangle (yellow while dragging, green once released)."""
        img = frame.copy()
        if self.start is not None and self.end is not None:
            colour = (0, 255, 255) if self.dragging else (0, 255, 0)
            cv2.rectangle(img, self.start, self.end, colour, 2)
        return draw_legend(img, SELECT_LEGEND)


def select_box(frame: np.ndarray, window) -> np.ndarray | None:
    """Let the user drag a box on ``frame`` (BGR uint8 ``(H, W, 3)``) shown in ``window``.

    Args:
        frame: the frozen frame (not modified).
        window: a :class:`~siamtrack.runner.sinks.Window`.

    Returns:
        ``[x, y, w, h]`` float64 in 0-based image pixels (integers: pixel
        corners as the pointer gave them) once confirmed with Enter or Space,
        or ``None`` when the user gave up (``q``, Esc, or closed the window).
    """
    selector = BoxSelector(frame.shape[1], frame.shape[0])
    window.show(selector.draw(frame), wait_ms=1)
    window.set_mouse_callback(selector.on_mouse)
    try:
        while True:
            key = window.show(selector.draw(frame), wait_ms=15)
            if window.is_closed() or key in GIVE_UP_KEYS:
                return None
            if key in CLEAR_KEYS:
                selector.clear()
            elif key in CONFIRM_KEYS and not selector.dragging and selector.box() is not None:
                return selector.box()
    finally:
        window.set_mouse_callback(None)

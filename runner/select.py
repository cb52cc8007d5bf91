"""Drawing the initial target box with the mouse on the first frame (OpenCV ``selectROI``)."""

from __future__ import annotations

import cv2
import numpy as np

from siamtrack.errors import SiamtrackError


def select_box(frame: np.ndarray, window: str = "siamtrack") -> np.ndarray:
    """Let the user drag a box on ``frame`` (BGR uint8); Enter or Space confirms, ``c`` cancels and redraws.

    Returns ``[x, y, w, h]`` float64 in 0-based image pixels.

    Raises:
        SiamtrackError: the user confirmed an empty box (or closed the window).
    """
    while True:
        x, y, w, h = cv2.selectROI(window, frame, showCrosshair=True, fromCenter=False)
        if w > 0 and h > 0:
            return np.array([x, y, w, h], dtype=np.float64)
        try:
            visible = cv2.getWindowProperty(window, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:
            visible = False
        if not visible:
            raise SiamtrackError("no target box drawn: the selection window was closed")

"""A one-line key legend drawn at the bottom of a frame shown in the window."""

from __future__ import annotations

import cv2
import numpy as np


def draw_legend(img: np.ndarray, text: str) -> np.ndarray:
    """Draw ``text`` on a darkened strip along the bottom of ``img`` (BGR uint8 ``(H, W, 3)``), in place.

    The font scales with the image width so the line fits; returns ``img``.
    """
    h, w = img.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = 0.5
    (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    if tw > w - 8:
        scale *= (w - 8) / tw
        (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    top = max(0, h - th - base - 8)
    strip = img[top:h]
    strip[:] = (strip.astype(np.uint16) * 2 // 5).astype(np.uint8)
    cv2.putText(img, text, (4, h - base - 4), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return img

"""Live tracking driven as a person would: a real OpenCV window on a virtual X screen (Xvfb), the mouse and
keyboard driven with xdotool, the screen read back with Pillow's ImageGrab.

``siamtrack run bag.avi`` without ``--init`` shows the first frame; the test drags the ground-truth box on
it, presses Enter, lets it track, takes a screenshot and presses ``q``; a second run pauses with ``p``,
re-selects the target with ``r`` on whatever frame is then shown, saves a snapshot with ``s`` and quits.

Needs Xvfb (or an X display in $DISPLAY) and xdotool (``make install`` installs both with apt-get); skipped
with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamtrack.boxes import axis_aligned_init_box, iou_xywh, polygon_bounds, read_boxes

TITLE = "siamtrack - nanotrack-v2"


def _start_xvfb():
    """An Xvfb server on a free display number: ``(display, process)``."""
    for n in range(90, 140):
        if os.path.exists(f"/tmp/.X{n}-lock") or os.path.exists(f"/tmp/.X11-unix/X{n}"):
            continue
        proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            if os.path.exists(f"/tmp/.X11-unix/X{n}"):
                return f":{n}", proc
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.kill()
    pytest.skip("Xvfb did not start on any display :90..:139")


@pytest.fixture(scope="module")
def display():
    """An X display for the window: our own Xvfb when installed, else the session's $DISPLAY."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (make install installs it with apt-get)")
    try:
        from PIL import ImageGrab  # noqa: F401
    except ImportError:  # pragma: no cover
        pytest.skip("Pillow is not installed (screenshots)")
    if shutil.which("Xvfb"):
        disp, proc = _start_xvfb()
        yield disp
        proc.terminate()
        proc.wait(timeout=10)
    elif os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
    else:
        pytest.skip("no X display: neither Xvfb nor $DISPLAY (make install installs xvfb with apt-get)")


class Screen:
    """xdotool and screenshots on one X display."""

    def __init__(self, disp: str):
        self.disp = disp
        self.env = dict(os.environ, DISPLAY=disp)

    def xdo(self, *args) -> str:
        out = subprocess.run(["xdotool", *map(str, args)], env=self.env, capture_output=True, text=True, timeout=30)
        return out.stdout.strip()

    def grab(self) -> np.ndarray:
        """The whole screen as BGR uint8."""
        from PIL import ImageGrab

        return cv2.cvtColor(np.asarray(ImageGrab.grab(xdisplay=self.disp).convert("RGB")), cv2.COLOR_RGB2BGR)

    def drag(self, p0, p1) -> None:
        """Press the left button at screen point p0, move in steps, release at p1."""
        self.xdo("mousemove", *p0)
        time.sleep(0.2)
        self.xdo("mousedown", 1)
        for t in np.linspace(0.1, 1.0, 8):
            self.xdo("mousemove", *(int(round(a + (b - a) * t)) for a, b in zip(p0, p1)))
            time.sleep(0.05)
        time.sleep(0.2)
        self.xdo("mouseup", 1)
        time.sleep(0.3)

    def key(self, name: str) -> None:
        # No window manager: the keyboard focus follows the pointer, which is over the window.
        self.xdo("key", name)
        time.sleep(0.2)


def _wait(cond, timeout: float, what: str, proc=None):
    t_end = time.time() + timeout
    while time.time() < t_end:
        value = cond()
        if value is not None and value is not False:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"siamtrack exited ({proc.returncode}) while waiting for {what}\n{out}\n{err}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _locate(shot: np.ndarray, frame: np.ndarray):
    """Screen position ``(x, y)`` of the image's top-left pixel, found by matching a patch of ``frame``
    (rows 40..260, columns 40..400: clear of the status line and the legend); None if not on screen."""
    patch = frame[40:260, 40:400]
    res = cv2.matchTemplate(shot, patch, cv2.TM_SQDIFF_NORMED)
    lo, _, loc, _ = cv2.minMaxLoc(res)
    return (loc[0] - 40, loc[1] - 40) if lo < 1e-3 else None


def _frame_shown(shot: np.ndarray, origin, frames: list):
    """Index (0-based) of the decoded frame the window shows without any overlay (rows 40..300, as during
    a selection), or None."""
    x0, y0 = origin
    h, w = frames[0].shape[:2]
    view = shot[y0 + 40:y0 + 300, x0:x0 + w].astype(np.float32)
    errs = [float(np.mean((view - f[40:300].astype(np.float32)) ** 2)) for f in frames]
    k = int(np.argmin(errs))
    return k if errs[k] < 1.0 else None


def _drawn_box(box) -> tuple:
    """Corners in image pixels for drawing ``box`` with the mouse, and the box they make."""
    x0, y0 = int(round(box[0])), int(round(box[1]))
    x1, y1 = int(round(box[0] + box[2])), int(round(box[1] + box[3]))
    return (x0, y0), (x1, y1), np.array([x0, y0, x1 - x0, y1 - y0], dtype=np.float64)


@pytest.fixture(scope="module")
def bag(shared_dir):
    """bag.avi decoded, and the axis-aligned ground-truth boxes of VOT bag."""
    cap = cv2.VideoCapture(str(shared_dir / "data/videos/bag.avi"))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    gt_poly = read_boxes(shared_dir / "data/vot/bag/groundtruth.txt")
    return {"video": shared_dir / "data/videos/bag.avi", "frames": frames,
            "init": axis_aligned_init_box(gt_poly[0]), "gt": np.array([polygon_bounds(p) for p in gt_poly])}


def _launch(screen: Screen, bag, out: Path, tmp: Path, shared_dir: Path) -> subprocess.Popen:
    env = dict(screen.env, OMP_NUM_THREADS="1", QT_QPA_PLATFORM="xcb", XDG_CACHE_HOME=str(tmp / "cache"),
               SIAMTRACK_WEIGHTS=str(shared_dir / "weights" / "nanotrack"))
    cmd = [sys.executable, "-m", "siamtrack.cli", "run", str(bag["video"]), "--model", "nanotrack",
           "--save-boxes", str(out), "--fps", "25", "--snapshot-dir", str(tmp / "snaps"), "--quiet"]
    return subprocess.Popen(cmd, env=env, cwd=str(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _select(screen: Screen, proc, bag, origin=None) -> tuple:
    """Wait for the selection screen, drag the ground-truth box of the frame it shows, press Enter.

    ``origin`` None: the first selection (frame 1, its image located on screen). Returns
    ``(frame index, drawn box, origin)``.
    """
    frames = bag["frames"]
    if origin is None:
        origin = _wait(lambda: _locate(screen.grab(), frames[0]), 120, "the selection window", proc)
        k, gt_box = 0, bag["init"]
    else:
        k = _wait(lambda: _frame_shown(screen.grab(), origin, frames), 30, "the re-selection screen", proc)
        gt_box = bag["gt"][k]
    p0, p1, box = _drawn_box(gt_box)
    screen.drag((origin[0] + p0[0], origin[1] + p0[1]), (origin[0] + p1[0], origin[1] + p1[1]))
    screen.key("Return")
    return k, box, origin


def _tracking_started(screen: Screen, origin, frames):
    """True once the window shows a frame other than the first (tracking runs), overlays aside."""
    shot = screen.grab()
    x0, y0 = origin
    h, w = frames[0].shape[:2]
    view = shot[y0 + 40:y0 + 300, x0:x0 + w].astype(np.float32)
    # The median ignores the drawn box and texts: it moves only when the picture does.
    return float(np.median(np.abs(view - frames[0][40:300].astype(np.float32)))) > 2.0


def _frame_tracked(screen: Screen, origin, frames) -> int:
    """Index (0-based) of the frame the window shows during tracking (overlays aside: median difference)."""
    shot = screen.grab()
    x0, y0 = origin
    h, w = frames[0].shape[:2]
    view = shot[y0 + 40:y0 + 300, x0:x0 + w]
    errs = [float(np.median(cv2.absdiff(view, f[40:300]))) for f in frames]
    return int(np.argmin(errs))


def _finish(proc) -> str:
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"siamtrack did not quit after q\n{out}\n{err}")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    return out


def test_draw_box_track_and_quit(display, bag, shared_dir, tmp_path):
    screen = Screen(display)
    out = tmp_path / "boxes.txt"
    proc = _launch(screen, bag, out, tmp_path, shared_dir)
    try:
        _, drawn, origin = _select(screen, proc, bag)
        _wait(lambda: _tracking_started(screen, origin, bag["frames"]), 90, "tracking to start", proc)
        time.sleep(2.0)
        shot = screen.grab()
        h, w = bag["frames"][0].shape[:2]
        window = shot[origin[1]:origin[1] + h, origin[0]:origin[0] + w]
        cv2.imwrite(str(tmp_path / "screenshot.png"), window)
        # Let it follow the bag nearly to the end of the video (25 fps), then quit.
        _wait(lambda: _frame_tracked(screen, origin, bag["frames"]) >= 180, 60, "frame 181", proc)
        screen.key("q")
        stdout = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The screenshot taken mid-run exists and shows a picture with the green box drawn on it.
    saved = cv2.imread(str(tmp_path / "screenshot.png"))
    assert saved is not None and saved.shape == (h, w, 3)
    assert saved.std() > 20, "blank screenshot"
    green = (saved[..., 1] > 200) & (saved[..., 0] < 80) & (saved[..., 2] < 80)
    assert green.sum() > 100, "no box drawn in the window"

    boxes = read_boxes(out)
    assert "frames" in stdout
    # Frame 1's saved box is the drawn box, to the pixel.
    np.testing.assert_array_equal(boxes[0], drawn)
    assert len(boxes) >= 181, f"{len(boxes)} frames tracked before q"
    miou = float(np.mean(iou_xywh(boxes, bag["gt"][:len(boxes)])))
    assert miou >= 0.7, f"mean IoU {miou:.3f} over {len(boxes)} frames"


def test_pause_reselect_snapshot(display, bag, shared_dir, tmp_path):
    screen = Screen(display)
    out = tmp_path / "boxes.txt"
    proc = _launch(screen, bag, out, tmp_path, shared_dir)
    try:
        _, first, origin = _select(screen, proc, bag)
        _wait(lambda: _tracking_started(screen, origin, bag["frames"]), 90, "tracking to start", proc)
        time.sleep(1.0)
        screen.key("p")  # paused: the window stays still
        time.sleep(0.5)
        a = screen.grab()
        time.sleep(1.0)
        b = screen.grab()
        assert np.array_equal(a, b), "the window kept changing while paused"
        screen.key("r")  # new target on the frame shown
        time.sleep(0.5)
        k, drawn, _ = _select(screen, proc, bag, origin)
        time.sleep(1.5)
        screen.key("s")
        time.sleep(0.5)
        screen.key("q")
        _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    boxes = read_boxes(out)
    np.testing.assert_array_equal(boxes[0], first)
    assert k > 5, f"re-selected on frame {k + 1}: tracking had not run"
    assert len(boxes) > k + 5, f"{len(boxes)} lines: tracking did not go on after the re-selection on frame {k + 1}"
    # The frame the new target was drawn on has the drawn box, and tracking restarts from it.
    np.testing.assert_array_equal(boxes[k], drawn)
    miou_after = float(np.mean(iou_xywh(boxes[k:], bag["gt"][k:len(boxes)])))
    assert miou_after >= 0.6, f"mean IoU {miou_after:.3f} after the re-selection on frame {k + 1}"
    snaps = sorted((tmp_path / "snaps").glob("snapshot-*.png"))
    assert len(snaps) == 1, snaps
    snap = cv2.imread(str(snaps[0]))
    assert snap.shape == bag["frames"][0].shape and snap.std() > 20
    assert int(snaps[0].stem.split("-")[1]) > k + 1

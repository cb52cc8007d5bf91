"""Result files in the layouts the community's toolkits read, written atomically, read back with checks.

Under ``<results dir>/<dataset.result_name>/<tracker>/``:

* OTB (got10k ``ExperimentOTB``): ``<seq>.txt``, one ``x,y,w,h`` line per
  frame (``%.3f``), and ``times/<seq>_time.txt`` (seconds per frame, ``%.8f``).
* VOT (VOT toolkit / got10k ``ExperimentVOT``): ``baseline/<seq>/<seq>_001.txt``
  (``_002`` ... for further repetitions), one line per frame: ``1`` at an
  initialisation, ``2`` at a failure, ``0`` for skipped frames, else the
  region (``%.4f``: 4 numbers or a polygon); ``unsupervised/<seq>/<seq>_001.txt``
  likewise (``1`` then regions); ``<seq>_time.txt`` beside them, one line per
  frame and one comma-separated column per repetition (``%.4f`` seconds, ``NaN``
  where the tracker did not run).
* GOT-10k (got10k ``ExperimentGOT10k``, the submission format):
  ``<seq>/<seq>_001.txt`` (``%.3f`` boxes) and ``<seq>/<seq>_time.txt``.
* DAVIS: ``<seq>/00000.png ...``, one 0/255 mask per frame (the DAVIS
  toolkits' results layout).

Every file is written to a hidden temporary file and renamed over its final
name (:func:`siamtrack.runner.sinks.atomic_path`); a mask folder is filled
under a temporary name and renamed when complete. A result that exists with
the right number of lines (images) is finished: ``--resume`` skips it, and a
killed run leaves nothing half-written to be mistaken for one.
"""

from __future__ import annotations

import os
import shutil

import cv2
import numpy as np

from siamtrack.errors import SiamtrackError
from siamtrack.runner.atomic import atomic_path, temp_sibling

__all__ = ["tracker_dir", "otb_paths", "vot_paths", "got10k_paths", "davis_dir", "write_boxes", "write_vot",
           "write_times", "write_masks", "read_boxes", "read_vot", "read_times", "count_lines", "masks_done"]


def tracker_dir(results_dir: str, dataset, tracker: str) -> str:
    """``<results_dir>/<dataset.result_name>/<tracker>``."""
    return os.path.join(results_dir, dataset.result_name, tracker)


def otb_paths(tdir: str, seq: str) -> tuple[str, str]:
    """OTB ``(boxes file, times file)``."""
    return os.path.join(tdir, f"{seq}.txt"), os.path.join(tdir, "times", f"{seq}_time.txt")


def vot_paths(tdir: str, experiment: str, seq: str, repetitions: int) -> tuple[list[str], str]:
    """VOT ``([repetition files], times file)`` of ``experiment`` (``baseline`` / ``unsupervised``)."""
    folder = os.path.join(tdir, experiment, seq)
    return ([os.path.join(folder, f"{seq}_{r:03d}.txt") for r in range(1, repetitions + 1)],
            os.path.join(folder, f"{seq}_time.txt"))


def got10k_paths(tdir: str, seq: str, repetitions: int) -> tuple[list[str], str]:
    """GOT-10k ``([repetition files], times file)``."""
    folder = os.path.join(tdir, seq)
    return ([os.path.join(folder, f"{seq}_{r:03d}.txt") for r in range(1, repetitions + 1)],
            os.path.join(folder, f"{seq}_time.txt"))


def davis_dir(tdir: str, seq: str) -> str:
    """DAVIS mask folder of a sequence."""
    return os.path.join(tdir, seq)


def _write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "w", encoding="ascii", newline="\n") as f:
                f.write(text)
        except OSError as e:
            raise SiamtrackError(f"{path}: cannot write ({e.strerror or e})") from None


def _num(v: float, fmt: str) -> str:
    s = fmt % (float(v) + 0.0)
    return "0" + s[2:] if s.startswith("-0") and float(s) == 0 else s


def write_boxes(path: str, boxes, fmt: str = "%.3f") -> None:
    """One ``x,y,w,h`` line per frame (OTB / GOT-10k results), atomically."""
    _write_text(path, "".join(",".join(_num(v, fmt) for v in np.asarray(b, float).ravel()) + "\n" for b in boxes))


def write_vot(path: str, trajectory) -> None:
    """A VOT trajectory: ``1`` / ``2`` / ``0`` codes as integers, regions with 4 decimals, atomically."""
    lines = []
    for r in trajectory:
        r = np.asarray(r, dtype=np.float64).ravel()
        lines.append(f"{int(r[0])}" if r.size == 1 else ",".join(_num(v, "%.4f") for v in r))
    _write_text(path, "\n".join(lines) + "\n")


def write_times(path: str, columns, fmt: str = "%.8f") -> None:
    """Per-frame times (seconds): ``columns`` is a list of ``(N,)`` arrays, one per repetition; ``NaN`` kept."""
    cols = [np.asarray(c, dtype=np.float64) for c in columns]
    rows = zip(*cols)
    _write_text(path, "".join(",".join("NaN" if np.isnan(v) else fmt % v for v in row) + "\n" for row in rows))


def write_masks(folder: str, masks) -> None:
    """One 0/255 PNG per frame (``00000.png`` ...) into ``folder``, which appears only when complete."""
    parent = os.path.dirname(folder) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = temp_sibling(folder, is_dir=True)
    try:
        for i, m in enumerate(masks):
            ok, data = cv2.imencode(".png", np.where(np.asarray(m) > 0, 255, 0).astype(np.uint8))
            if not ok:
                raise SiamtrackError(f"{folder}: cannot encode mask {i}")
            data.tofile(os.path.join(tmp, f"{i:05d}.png"))
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except OSError as e:
        raise SiamtrackError(f"{folder}: cannot write ({e.strerror or e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def count_lines(path: str) -> int:
    """Non-empty lines of ``path``; -1 when it does not exist."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return -1


def masks_done(folder: str, n: int) -> bool:
    """True when ``folder`` holds ``n`` mask PNGs."""
    try:
        return sum(1 for e in os.scandir(folder) if e.name.endswith(".png")) == n
    except OSError:
        return False


def _lines(path: str, n: int, tracker: str, seq: str) -> list[list[float]]:
    if not os.path.isfile(path):
        raise SiamtrackError(f"{path}: results of {tracker} for sequence {seq} not found "
                             f"(run the tracker, or --resume an interrupted run)")
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            text = line.strip()
            if not text:
                continue
            try:
                rows.append([float(v) for v in text.replace("\t", ",").replace(" ", ",").split(",") if v])
            except ValueError:
                raise SiamtrackError(f"{path} line {lineno}: not a list of numbers: {text[:40]!r}") from None
    if len(rows) != n:
        raise SiamtrackError(f"{path}: {len(rows)} lines for the {n} frames of {seq} (unfinished run? use --resume)")
    return rows


def read_boxes(path: str, n: int, tracker: str = "", seq: str = "") -> np.ndarray:
    """``(n, 4)`` boxes of an OTB / GOT-10k result file; SiamtrackError when missing or malformed."""
    rows = _lines(path, n, tracker, seq)
    for i, r in enumerate(rows, 1):
        if len(r) != 4:
            raise SiamtrackError(f"{path} line {i}: {len(r)} numbers, expected x,y,w,h")
    return np.array(rows, dtype=np.float64)


def read_vot(path: str, n: int, tracker: str = "", seq: str = "") -> list[np.ndarray]:
    """A VOT trajectory (list of float arrays: 1 code, 4 box or 2K polygon numbers); SiamtrackError when malformed."""
    rows = _lines(path, n, tracker, seq)
    for i, r in enumerate(rows, 1):
        if not (len(r) == 1 and r[0] in (0, 1, 2)) and len(r) != 4 and not (len(r) >= 6 and len(r) % 2 == 0):
            raise SiamtrackError(f"{path} line {i}: expected a code 0/1/2, x,y,w,h or a polygon, got {len(r)} numbers")
    return [np.array(r, dtype=np.float64) for r in rows]


def read_times(path: str) -> np.ndarray | None:
    """Per-frame times ``(N, R)`` (seconds, ``nan`` kept) or ``None`` when the file is missing or unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            rows = [[float(v) for v in line.strip().split(",")] for line in f if line.strip()]
        return np.array(rows, dtype=np.float64).reshape(len(rows), -1) if rows else None
    except (OSError, ValueError):
        return None

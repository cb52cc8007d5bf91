"""VOT short-term measures as vot-toolkit 0.9.0 computes them: A, R, EAO, AO.

The one implementation of VOT scores in siamtrack: ``siamtrack bench``
(:mod:`siamtrack.benchmarks.evaluate`) and
:func:`siamtrack.benchmarks.vot_workspace.score_workspace` both call these
functions, and ``tests/test_trax.py`` checks them equal to ``vot analysis``
(vot-toolkit-python 0.9.0, votchallenge/vot-toolkit-python) to 1e-6.

A trajectory is a list with one entry per frame: a region (``[x, y, w, h]``
or a polygon ``x1, y1, ..., xK, yK``, float arrays, 0-based pixels) or a
special code as a 1-element array: ``1`` initialisation, ``2`` failure, ``0``
unknown / skipped (``vot/tracker/__init__.py`` ``Trajectory.INITIALIZATION``,
``FAILURE``, ``UNKNOWN``). Frame indices are 0-based.

Definitions (all in ``vot/analysis/supervised.py`` unless named otherwise):

* overlap: :func:`siamtrack.benchmarks.measures.vot_raster.raster_overlap`,
  the toolkit's pixel-raster IoU bounded by the image
  (``vot/region/raster.py`` ``calculate_overlap(a, b, sequence.size)``).
* failure (baseline protocol, ``vot/experiment/multirun.py``
  ``SupervisedExperiment.execute``): overlap ``<= failure_overlap = 0``.
* accuracy A (``compute_accuracy``, ``AccuracyRobustness``,
  ``AverageAccuracyRobustness.aggregate``): per trajectory the mean overlap
  over the frames that are not special and not in the ``burnin = 10`` frames
  starting at each initialisation (0 when no frame is left); per sequence the
  mean over its trajectories; overall the mean over sequences weighted by
  sequence length.
* robustness R (same analyses): per sequence the mean failure count over
  its trajectories; overall the mean weighted by sequence length (failures
  per sequence, not per frame); the AR-plot robustness is ``exp(-S * R /
  mean length)`` with ``S = 30`` (``sensitivity`` of the stacks).
* EAO curve (``EAOCurve.subcompute``, ``compute_eao_curve``): see
  :func:`eao_curve`; EAO (``EAOScore.compute``): see :func:`eao_score`.
* AO, unsupervised experiment (``vot/analysis/accuracy.py``
  ``SequenceAccuracy`` / ``AverageAccuracy``, as used by the 2017 / 2018
  stacks' ``average_accuracy``): the accuracy above (burn-in 10 after the
  initialisation included) per trajectory, averaged over trajectories and
  weighted by sequence length over sequences.

Trajectories of a sequence are all its result files (``MultiRunExperiment.gather``),
each weighing the same.
"""

from __future__ import annotations

import math

import numpy as np

from siamtrack.benchmarks.measures.vot_raster import raster_overlap, raster_overlaps

__all__ = ["EAO_RANGES", "BURNIN", "SKIPPING", "SENSITIVITY", "FAILURE_OVERLAP", "is_special", "failures",
           "is_failure", "frame_overlaps", "accuracy_mask", "trajectory_accuracy", "accuracy_robustness",
           "eao_fragments", "eao_curve", "eao_score", "average_overlap"]

#: ``(low, high)`` of the stacks' ``supervised_eao_score``: vot-toolkit 0.9.0 ``vot/stack/vot2016/rgb.yaml``
#: (108, 371), ``vot/stack/vot2017.yaml`` and ``vot/stack/vot2018/shortterm.yaml`` (100, 356). They are
#: 0-based indices into the EAO curve, both included (``EAOScore.compute``: ``curve[low:high + 1]``).
EAO_RANGES = {2016: (108, 371), 2017: (100, 356), 2018: (100, 356)}
#: Frames from each initialisation (included) left out of accuracy (``compute_accuracy`` ``burnin=10``).
BURNIN = 10
#: Frames from a failure to the re-initialisation (the stacks' ``skip_initialize: 5``).
SKIPPING = 5
#: AR-plot sensitivity ``S`` (the stacks' ``supervised_average_ar`` ``sensitivity: 30``).
SENSITIVITY = 30.0
#: A frame whose overlap is at most this is a failure (``SupervisedExperiment.failure_overlap``, default 0).
FAILURE_OVERLAP = 0.0


def _code(region):
    r = np.asarray(region)
    return float(r.ravel()[0]) if r.size == 1 else None


def is_special(region) -> bool:
    """True for a 1-element VOT code (0 unknown / skipped, 1 initialisation, 2 failure)."""
    return np.asarray(region).size == 1


def failures(trajectory) -> list[int]:
    """0-based frame indices of the failure markers (``2``) of a trajectory (``locate_failures_inits``)."""
    return [i for i, r in enumerate(trajectory) if _code(r) == 2]


def _inits(trajectory) -> list[int]:
    return [i for i, r in enumerate(trajectory) if _code(r) == 1]


def is_failure(region, groundtruth, size) -> bool:
    """The baseline protocol's failure test (``SupervisedExperiment.execute``): the tracker's region
    overlaps the ground truth by at most :data:`FAILURE_OVERLAP` (raster overlap bounded by the
    ``(W, H)`` image; a non-finite region, whose overlap is ``nan``, is a failure too)."""
    ov = raster_overlap(region, groundtruth, size)
    return not ov > FAILURE_OVERLAP


def frame_overlaps(trajectory, groundtruth, size) -> np.ndarray:
    """Per-frame toolkit overlaps ``(N,)`` float64 (``calculate_overlaps(..., sequence.size)``); ``nan`` on
    special frames.

    Args:
        trajectory: N entries (regions or 1-element codes).
        groundtruth: N ground-truth regions (boxes or polygons).
        size: ``(W, H)`` image size in pixels.

    Raises:
        ValueError: lengths differ.
    """
    return raster_overlaps(trajectory, groundtruth, size)


def accuracy_mask(trajectory, burnin: int = BURNIN) -> np.ndarray:
    """``(N,)`` bool: the frames ``compute_accuracy`` averages (not special, not within ``burnin`` frames
    from an initialisation, that frame included)."""
    keep = np.array([not is_special(r) for r in trajectory], dtype=bool)
    for i in _inits(trajectory):
        keep[i:i + burnin] = False
    return keep


def trajectory_accuracy(overlaps: np.ndarray, trajectory, burnin: int = BURNIN) -> float:
    """Mean of ``overlaps`` ``(N,)`` over :func:`accuracy_mask`; 0 when no frame is left (``compute_accuracy``)."""
    keep = accuracy_mask(trajectory, burnin) & ~np.isnan(overlaps)
    return float(np.mean(overlaps[keep])) if keep.any() else 0.0


def accuracy_robustness(sequences: dict, sensitivity: float = SENSITIVITY) -> dict:
    """Accuracy and robustness of a tracker over sequences (``AccuracyRobustness`` per sequence,
    ``AverageAccuracyRobustness.aggregate`` overall).

    Args:
        sequences: name -> ``{"accuracy": (R,) per-trajectory accuracies (:func:`trajectory_accuracy`),
            "failures": (R,) failure counts, "frames": sequence length}``.
        sensitivity: ``S`` of the AR-plot robustness.

    Returns:
        ``{"accuracy", "robustness" (length-weighted mean failures per sequence), "ar_robustness"
        (``exp(-S * robustness / mean length)``), "failures" (sum over sequences of the mean failure
        count), "failure_rate" (failures / frames), "frames", "sequences": {name: {"accuracy",
        "robustness", "failures", "failure_rate", "frames"}}}``; per sequence ``robustness`` =
        ``failures`` (the toolkit's per-sequence R).

    Raises:
        ValueError: no sequence.
    """
    if not sequences:
        raise ValueError("no sequence to score")
    per = {}
    for name, s in sequences.items():
        n = int(s["frames"])
        acc = float(np.mean(s["accuracy"]))
        fails = float(np.mean(s["failures"]))
        per[name] = {"accuracy": acc, "robustness": fails, "failures": fails, "failure_rate": fails / n, "frames": n}
    lengths = np.array([p["frames"] for p in per.values()], dtype=np.float64)
    total = float(lengths.sum())
    acc = float(np.dot([p["accuracy"] for p in per.values()], lengths) / total)
    rob = float(np.dot([p["failures"] for p in per.values()], lengths) / total)
    fails = float(sum(p["failures"] for p in per.values()))
    return {"accuracy": acc, "robustness": rob, "ar_robustness": math.exp(-sensitivity * rob / (total / len(per))),
            "failures": fails, "failure_rate": fails / total, "frames": int(total), "sequences": per}


def eao_fragments(overlaps: np.ndarray, trajectory) -> list[tuple[np.ndarray, bool]]:
    """The EAO fragments of one trajectory (``EAOCurve.subcompute``): ``[(overlaps, failed)]``.

    The k-th initialisation starts a fragment that runs to the k-th failure, that frame excluded
    (``failed = True``); an initialisation with no failure after it runs to the sequence's end
    (``failed = False``). Overlaps ``(L,)`` float64 with ``nan`` (special frames, here only the
    initialisation itself) as 0, the toolkit's overlap of a special region with a ground-truth region.
    """
    ov = np.nan_to_num(np.asarray(overlaps, dtype=np.float64), nan=0.0)
    inits, fails = _inits(trajectory), failures(trajectory)
    if not fails:
        return [(ov, False)]
    out = [(ov[inits[k]:f], True) for k, f in enumerate(fails)]
    if len(inits) > len(fails):
        out.append((ov[inits[-1]:], False))
    return out


def eao_curve(fragments: list[tuple[np.ndarray, bool]]) -> np.ndarray:
    """The toolkit's expected-overlap curve ``(F,)`` float64, ``F`` the longest fragment's length
    (``compute_eao_curve``, every fragment of weight 1).

    Args:
        fragments: :func:`eao_fragments` of all trajectories of all sequences.

    Index ``j >= 1`` is the mean over the fragments *defined* at ``j`` of their mean overlap over
    frames ``1 .. j`` of the fragment (frame 0, the initialisation, left out; a fragment shorter than
    ``j + 1`` counts 0 for its missing frames). A fragment that ended in a failure is defined at
    every index; one that reached the sequence's end only below its length. Index 0 is the mean of
    the fragments' first values (0: the initialisation frame). The toolkit computes in float32;
    this in float64 (differences below 1e-6).

    Raises:
        ValueError: no fragment.
    """
    if not fragments:
        raise ValueError("no trajectory to score")
    max_len = max(len(o) for o, _ in fragments)
    values = np.zeros((len(fragments), max_len))
    defined = np.zeros((len(fragments), max_len), dtype=bool)
    for i, (o, failed) in enumerate(fragments):
        values[i, :len(o)] = o
        defined[i, :] = True if failed else np.arange(max_len) < len(o)
    means = values.copy()
    cum = np.cumsum(values[:, 1:], axis=1)
    means[:, 1:] = cum / np.arange(1, max_len)
    return np.sum(means * defined, axis=0) / np.sum(defined, axis=0)


def eao_score(curve: np.ndarray, low: int, high: int) -> float:
    """EAO: the mean of ``curve[low:high + 1]`` (``EAOScore.compute``), i.e. the curve's 0-based indices
    ``low .. high`` both included (:data:`EAO_RANGES` holds the stacks' values). Indices beyond the
    curve are not counted (numpy slicing, as the toolkit); ``nan`` when none is left (the toolkit's
    ``np.mean`` of an empty slice)."""
    seg = np.asarray(curve, dtype=np.float64)[low:high + 1]
    return float(seg.mean()) if seg.size else float("nan")


def average_overlap(sequences: dict) -> dict:
    """AO of the unsupervised experiment (``SequenceAccuracy`` / ``AverageAccuracy``, ``weighted=True``).

    Args:
        sequences: name -> ``{"accuracy": (R,) :func:`trajectory_accuracy` of each trajectory, "frames": N}``.

    Returns:
        ``{"ao", "frames", "sequences": {name: {"ao", "frames"}}}``.
    """
    if not sequences:
        raise ValueError("no sequence to score")
    per = {n: {"ao": float(np.mean(s["accuracy"])), "frames": int(s["frames"])} for n, s in sequences.items()}
    total = sum(p["frames"] for p in per.values())
    return {"ao": float(sum(p["ao"] * p["frames"] for p in per.values()) / total), "frames": total, "sequences": per}

"""OTB-layout sequences: ``<root>/<Name>/img/*.jpg`` + ``<root>/<Name>/groundtruth_rect*.txt``.

``version=None`` reads every sequence folder under ``root`` (any benchmark in
this layout, e.g. frames named ``000001.jpg`` as UAV123's); ``2013`` /
``2015`` read the official OTB-2013 (50) / OTB-2015 (100 targets) lists, as
got10k ``datasets/otb.py`` defines them, and a missing sequence is an error.

Conventions of got10k's ``OTB`` loader, kept so that got10k's
``ExperimentOTB.report`` scores the same frames:

* every non-empty ``groundtruth*.txt`` of a folder is one target (Jogging and
  Skating2 have two: ``Jogging.1``, ``Jogging.2``; empty files beside a
  non-empty one are skipped, but a folder whose ground-truth files are all
  empty is an error: ``otb sequence <Name>: <file> is empty``);
* boxes ``x,y,w,h`` per line, comma, tab or space separated, used as they
  are (OTB's 1-based pixels; the tracker is initialised and scored in that
  convention, as got10k and pysot do);
* frame ranges of the official benchmark: David 300-770, Football1 1-74,
  Freeman3 1-460, Freeman4 1-283, Diving 1-215 (the ground truth covers only
  those frames).
"""

from __future__ import annotations

import glob
import os

from siamtrack.benchmarks.datasets.base import Dataset, Sequence, check_init_box, list_images, read_rows
from siamtrack.errors import SiamtrackError

__all__ = ["load_otb", "otb_sequence_names", "FRAME_RANGES"]

#: got10k ``OTB.__getitem__``: 1-based first and last frame of sequences whose ground truth covers only part.
FRAME_RANGES = {"david": (300, 770), "football1": (1, 74), "freeman3": (1, 460), "freeman4": (1, 283),
                "diving": (1, 215)}


def otb_sequence_names(version: int) -> list[str]:
    """Folder names of the official OTB-2013 / OTB-2015 lists (got10k ``datasets/otb.py``)."""
    from got10k.datasets import OTB

    lists = {2013: "_OTB__otb13_seqs", 2015: "_OTB__otb15_seqs"}
    if version not in lists:
        raise SiamtrackError(f"OTB version {version}: expected 2013 or 2015")
    return list(getattr(OTB, lists[version]))


def _non_empty(path: str) -> bool:
    """Whether ``path`` holds more than whitespace (an unreadable file counts: reading it names the problem)."""
    try:
        with open(path, "rb") as f:
            return bool(f.read().strip())
    except OSError:
        return True


def _targets(folder: str, name: str, what: str) -> list[tuple[str, str]]:
    """``(target name, ground-truth file)`` of one sequence folder.

    Raises:
        SiamtrackError: the folder has no ``groundtruth*.txt``, or only empty ones
            (``<what>: <file> is empty``, zero bytes or only whitespace).
    """
    all_files = sorted(glob.glob(os.path.join(glob.escape(folder), "groundtruth*.txt")))
    if not all_files:
        raise SiamtrackError(f"{what}: no groundtruth_rect.txt in {folder}")
    files = [f for f in all_files if _non_empty(f)]
    if not files:
        raise SiamtrackError(f"{what}: {' and '.join(all_files)} {'is' if len(all_files) == 1 else 'are'} empty")
    if len(files) == 1:
        return [(name, f) for f in files]
    return [(f"{name}.{i + 1}", f) for i, f in enumerate(files)]


def _sequence(root: str, folder_name: str, target: str, gt_file: str, what: str) -> Sequence:
    folder = os.path.join(root, folder_name)
    frames = list_images(os.path.join(folder, "img"))
    if not frames:
        raise SiamtrackError(f"{what} {target}: no images in {os.path.join(folder, 'img')}")
    gt = read_rows(gt_file, f"{what} {target}", widths=(4,))
    rng = FRAME_RANGES.get(folder_name.lower())
    if rng is not None and len(frames) >= rng[1]:
        frames = frames[rng[0] - 1:rng[1]]
    if len(frames) != len(gt):
        raise SiamtrackError(f"{what} {target}: {len(frames)} images in {folder}/img but {len(gt)} "
                             f"ground-truth lines in {gt_file}")
    return Sequence(name=target, frames=frames, groundtruth=gt,
                    init_box=check_init_box(gt[0], f"{what} {target} ({gt_file})"))


def load_otb(root: str, version: int | None = None) -> Dataset:
    """Read OTB-layout sequences under ``root``.

    Args:
        root: folder of sequence folders.
        version: ``None`` (every folder with ``img/`` and a ground truth), 2013 or 2015.

    Raises:
        SiamtrackError: ``root`` missing or without sequences, a sequence of
            the list missing, or a sequence without images / without a ground
            truth / with an empty (``otb sequence <Name>: <file> is empty``),
            malformed or mismatched ground truth.
    """
    what = "otb" if version is None else f"otb{version}"
    if not os.path.isdir(root):
        raise SiamtrackError(f"{what}: dataset folder {root} not found")
    if version is None:
        names = sorted((e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")
                        and os.path.isdir(os.path.join(e.path, "img"))), key=str.lower)
        if not names:
            raise SiamtrackError(f"{what}: no sequence folders (<name>/img + groundtruth_rect.txt) in {root}")
    else:
        names = otb_sequence_names(version)
        missing = [n for n in names if not os.path.isdir(os.path.join(root, n))]
        if missing:
            more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
            raise SiamtrackError(f"{what}: sequence {', '.join(missing[:5])}{more} missing in {root} "
                                 f"(use --dataset otb to evaluate the sequences present)")
    sequences = []
    for name in names:
        targets = _targets(os.path.join(root, name), name, f"{what} sequence {name}")
        sequences += [_sequence(root, name, t, f, f"{what} sequence") for t, f in targets]
    return Dataset(name=what, kind="otb", result_name="OTB" if version is None else f"OTB{version}",
                   root=root, sequences=sequences)

"""Inputs are never written: every output option against every kind of input (issue 14, point 1).

``siamtrack run clip.avi --output clip.avi`` used to replace the user's video
with the annotated one, exit 0. Every output path (``--output``,
``--save-boxes``, ``--save-masks``, ``--snapshot-dir``, bench
``--results-dir`` / ``--report-dir``, ``vot-workspace DIR``, trax ``--log``)
must be refused (one line, exit 2, before any frame is read) when it is, or
lies inside, an input (source file, source folder, a frame file, the weights
file, a dataset root), compared resolved (``..``, symbolic links, hard links),
and when two outputs collide. Each case checks that the inputs are unchanged
byte for byte and that nothing was added to the input folders.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from siamtrack.cli import main
from siamtrack.errors import SiamtrackError

BOX = "312,147,106,96"


def _tree(folder: Path) -> dict:
    """Every path under ``folder`` (hidden ones included) -> sha256 of its bytes (folders and links: a tag)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture()
def world(shared_dir, tmp_path):
    """A user's folder: a video, a folder of frames, a weights file, a VOT-style dataset root, and links."""
    w = tmp_path / "w"
    w.mkdir()
    shutil.copyfile(shared_dir / "data" / "videos" / "bag.avi", w / "clip.avi")
    seq = w / "seq"
    seq.mkdir()
    for i in range(1, 4):
        shutil.copyfile(shared_dir / "data" / "vot" / "bag" / f"{i:08d}.jpg", seq / f"{i:08d}.jpg")
    shutil.copyfile(shared_dir / "weights" / "nanotrack" / "nanotrackv2.pth", w / "model.pth")
    vot = w / "vot"
    (vot / "bag").mkdir(parents=True)
    (vot / "list.txt").write_text("bag\n")
    lines = (shared_dir / "data" / "vot" / "bag" / "groundtruth.txt").read_text().splitlines()[:3]
    (vot / "bag" / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    for i in range(1, 4):
        shutil.copyfile(seq / f"{i:08d}.jpg", vot / "bag" / f"{i:08d}.jpg")
    (w / "sub").mkdir()
    os.symlink(w / "clip.avi", w / "link.avi")
    os.symlink(seq, w / "seqlink")
    os.symlink(vot, w / "votlink")
    os.link(w / "clip.avi", w / "hard.avi")
    return w


def _cli(args, cwd: Path):
    """Run the CLI in-process in ``cwd`` (CliRunner; stderr kept apart)."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


def _refused(world: Path, args, *needles):
    before = _tree(world)
    res = _cli(args, world)
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("siamtrack: error: "), res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert _tree(world) == before  # every input byte for byte, nothing added (no temporary file either)
    return lines[0]


RUN = ["run", "--no-show", "--init", BOX, "--weights", "model.pth"]

# (arguments after `siamtrack`, words the error line must hold)
CASES = {
    # the exact cases
    "output-is-source-video": (RUN[:1] + ["clip.avi"] + RUN[1:] + ["--output", "clip.avi"],
                               ["--output clip.avi", "is the input video clip.avi"]),
    "boxes-is-source-video": (RUN[:1] + ["clip.avi"] + RUN[1:] + ["--save-boxes", "clip.avi"],
                              ["--save-boxes clip.avi", "is the input video"]),
    "boxes-is-output": (RUN[:1] + ["clip.avi"] + RUN[1:] + ["--output", "o.mp4", "--save-boxes", "o.mp4"],
                        ["--save-boxes o.mp4", "is also the --output path"]),
    # through a symbolic link, with '..', through a hard link
    "output-is-symlink-to-source": (RUN[:1] + ["clip.avi"] + RUN[1:] + ["--output", "link.avi"],
                                    ["--output link.avi", "is the input video"]),
    "source-is-symlink-output-real": (RUN[:1] + ["link.avi"] + RUN[1:] + ["--output", "clip.avi"],
                                      ["--output clip.avi", "is the input video link.avi"]),
    "output-with-dotdot": (RUN[:1] + ["clip.avi"] + RUN[1:] + ["--save-boxes", "sub/../clip.avi"],
                           ["--save-boxes sub/../clip.avi", "is the input video"]),
    "output-is-hard-link-of-source": (RUN[:1] + ["clip.avi"] + RUN[1:] + ["--output", "hard.avi"],
                                      ["--output hard.avi", "is the input video"]),
    # a folder of frames, a frame file in it
    "output-inside-source-folder": (RUN[:1] + ["seq"] + RUN[1:] + ["--output", "seq/out.mp4"],
                                    ["--output seq/out.mp4", "lies inside the input folder seq"]),
    "boxes-is-a-frame-file": (RUN[:1] + ["seq"] + RUN[1:] + ["--save-boxes", "seq/00000002.jpg"],
                              ["--save-boxes seq/00000002.jpg", "lies inside the input folder"]),
    "masks-is-source-folder": (["run", "seq", "--model", "siammask", "--no-show", "--init", BOX,
                                "--save-masks", "seq"], ["--save-masks seq", "is the input folder seq"]),
    "masks-inside-source-folder": (["run", "seq", "--model", "siammask", "--no-show", "--init", BOX,
                                    "--save-masks", "seq/masks"], ["--save-masks seq/masks", "lies inside"]),
    "output-inside-folder-via-link": (RUN[:1] + ["seq"] + RUN[1:] + ["--output", "seqlink/out.mp4"],
                                      ["--output seqlink/out.mp4", "lies inside the input folder seq"]),
    "output-inside-linked-source": (RUN[:1] + ["seqlink"] + RUN[1:] + ["--save-boxes", "seq/b.txt"],
                                    ["--save-boxes seq/b.txt", "lies inside the input folder seqlink"]),
    "output-inside-folder-dotdot": (RUN[:1] + ["seq"] + RUN[1:] + ["--output", "sub/../seq/o.avi"],
                                    ["--output sub/../seq/o.avi", "lies inside"]),
    # the weights file
    "output-is-weights": (RUN[:1] + ["clip.avi"] + RUN[1:] + ["--output", "model.pth"],
                          ["--output model.pth", "is the weights file model.pth"]),
    "boxes-is-weights-via-dotdot": (RUN[:1] + ["clip.avi"] + RUN[1:] + ["--save-boxes", "sub/../model.pth"],
                                    ["--save-boxes sub/../model.pth", "is the weights file"]),
    # two outputs
    "output-inside-masks-folder": (["run", "seq", "--model", "siammask", "--no-show", "--init", BOX,
                                    "--save-masks", "m", "--output", "m/o.mp4"],
                                   ["--output m/o.mp4", "lies inside the --save-masks folder m"]),
    "boxes-is-output-via-link": (RUN[:1] + ["seq"] + RUN[1:] + ["--output", "sub/o.mp4",
                                                                  "--save-boxes", "seqlink/../sub/o.mp4"],
                                 ["is also the --output path"]),
    # bench: results and report folders against the dataset root and the weights
    "bench-results-is-root": (["bench", "--dataset", "vot2018", "--root", "vot", "--results-dir", "vot",
                               "--model", "nanotrack", "--weights", "model.pth", "-q"],
                              ["--results-dir vot", "is the dataset root vot"]),
    "bench-results-inside-root": (["bench", "--dataset", "vot2018", "--root", "vot", "--results-dir",
                                   "vot/bag/results", "--weights", "model.pth", "-q"],
                                  ["--results-dir vot/bag/results", "lies inside the dataset root"]),
    "bench-results-inside-root-link": (["bench", "--dataset", "vot2018", "--root", "votlink",
                                        "--results-dir", "vot/r", "--weights", "model.pth", "-q"],
                                       ["--results-dir vot/r", "lies inside the dataset root votlink"]),
    "bench-report-inside-root-dotdot": (["bench", "--dataset", "vot2018", "--root", "vot", "--report-dir",
                                         "sub/../vot/rep", "--weights", "model.pth", "-q"],
                                        ["--report-dir sub/../vot/rep", "lies inside the dataset root"]),
    "bench-results-is-root-via-link": (["bench", "--dataset", "vot2018", "--root", "vot", "--results-dir",
                                        "votlink", "--weights", "model.pth", "-q"],
                                       ["--results-dir votlink", "is the dataset root vot"]),
    # vot-workspace DIR against the sequences and the weights
    "workspace-is-sequences": (["vot-workspace", "vot", "--sequences", "vot", "--weights", "model.pth"],
                               ["vot", "is the --sequences folder vot"]),
    "workspace-inside-sequences": (["vot-workspace", "votlink/ws", "--sequences", "vot", "--weights",
                                    "model.pth"], ["votlink/ws", "lies inside the --sequences folder"]),
    # trax: the protocol log against the weights
    "trax-log-is-weights": (["trax", "--model", "nanotrack", "--weights", "model.pth", "--log", "model.pth"],
                            ["--log model.pth", "is the weights file"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_on_an_input_is_refused(world, case):
    args, needles = CASES[case]
    _refused(world, args, *needles)


def test_exact_case_as_a_process(world):
    """The issue's report, as a user types it: the video survives, exit 2, one line, before any frame."""
    digest = hashlib.sha256((world / "clip.avi").read_bytes()).hexdigest()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-m", "siamtrack.cli", "run", "clip.avi", "--init", BOX, "--no-show",
                           "--weights", "model.pth", "--output", "clip.avi"], cwd=world, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == ("siamtrack: error: --output clip.avi: is the input video clip.avi "
                                   "(an output never replaces an input)")
    assert hashlib.sha256((world / "clip.avi").read_bytes()).hexdigest() == digest


def test_snapshot_dir_inside_the_input_is_refused_with_a_window(world, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":99")  # a window would be shown: the snapshot folder is an output
    _refused(world, ["run", "seq", "--init", BOX, "--weights", "model.pth", "--snapshot-dir", "seq/snaps"],
             "--snapshot-dir seq/snaps", "lies inside the input folder seq")


def test_outputs_beside_the_inputs_are_accepted(world):
    """Not over-strict: outputs next to the inputs (same folder, similar names) are fine."""
    res = _cli(["run", "seq", "--no-show", "--init", BOX, "--weights", "model.pth", "-q",
                "--output", "seq.mp4", "--save-boxes", "clip.avi.txt"], world)
    assert res.exit_code == 0, res.stderr
    assert len((world / "clip.avi.txt").read_text().splitlines()) == 3
    assert (world / "seq.mp4").stat().st_size > 0


def test_check_outputs_unit(tmp_path):
    """The rule itself on paths that do not exist yet, and the message naming both sides."""
    from siamtrack.runner.protect import check_outputs

    (tmp_path / "in").mkdir()
    check_outputs([("--a", str(tmp_path / "out" / "x")), ("--b", str(tmp_path / "in2"))],
                  [("the input folder", str(tmp_path / "in"))])
    with pytest.raises(SiamtrackError, match=r"^--b .*new/x: lies inside the --a folder"):
        check_outputs([("--a", str(tmp_path / "new")), ("--b", str(tmp_path / "new" / "x"))], [])
    with pytest.raises(SiamtrackError, match="is the input folder"):
        check_outputs([("--a", str(tmp_path / "in") + "/.")], [("the input folder", str(tmp_path / "in"))])
    check_outputs([("--a", None)], [("the weights file", None)])  # options not given are skipped

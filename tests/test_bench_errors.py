"""``siamtrack bench`` bad input: one stderr line ``siamtrack: error: ...`` naming the sequence / file, exit 2.

Each case builds a small broken dataset (real frames linked from the shared
data) and runs the command in-process; one case runs the real console
entry point in a subprocess to check the exit code and the absence of a
traceback end to end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from conftest import nanotrack_weights
from siamtrack.cli import main


def _otb(shared: Path, root: Path, seqs=("Crossing", "Couple"), n=6) -> Path:
    for seq in seqs:
        src = shared / "data/otb" / seq
        (root / seq / "img").mkdir(parents=True)
        for p in sorted((src / "img").glob("*.jpg"))[:n]:
            (root / seq / "img" / p.name).symlink_to(p)
        lines = (src / "groundtruth_rect.txt").read_text().splitlines()[:n]
        (root / seq / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    return root


def _error(args, *needles):
    r = CliRunner().invoke(main, ["bench", *map(str, args), "-q"])
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.exit_code == 2, f"exit {r.exit_code}\n{r.output}\n{r.stderr}\n{r.exception!r}"
    assert len(err) == 1 and err[0].startswith("siamtrack: error: "), r.stderr
    for needle in needles:
        assert str(needle) in err[0], err[0]
    return err[0]


def test_malformed_and_mismatched_otb_sequences(shared_dir, tmp_path):
    root = _otb(shared_dir, tmp_path / "a")
    gt = root / "Couple" / "groundtruth_rect.txt"
    lines = gt.read_text().splitlines()
    lines[2] = "51,47,25"
    gt.write_text("\n".join(lines) + "\n")
    _error(["--dataset", "otb", "--root", root], "otb sequence Couple", str(gt), "line 3", "3 numbers")
    gt.write_text("\n".join(lines[:2] + lines[3:]) + "\n")  # 5 boxes for 6 images
    _error(["--dataset", "otb", "--root", root], "otb sequence Couple", "6 images", "5 ground-truth lines")
    shutil.rmtree(root / "Couple" / "img")
    (root / "Couple" / "img").mkdir()
    _error(["--dataset", "otb", "--root", root], "otb sequence Couple", "no images")
    _error(["--dataset", "otb2013", "--root", root], "otb2013: sequence", "missing")
    _error(["--dataset", "otb", "--root", tmp_path / "nowhere"], "dataset folder", "not found")


def test_vot_missing_sequence_and_bad_tags(shared_dir, tmp_path):
    root = tmp_path / "vot"
    root.mkdir()
    (root / "bag").symlink_to(shared_dir / "data/vot/bag", target_is_directory=True)
    (root / "list.txt").write_text("bag\nnosuch\n")
    _error(["--dataset", "vot2018", "--root", root], "vot2018 sequence nosuch", str(root / "nosuch"), "not found")
    (root / "list.txt").write_text("ball1\n")
    ball = root / "ball1"
    ball.mkdir()
    (ball / "color").symlink_to(shared_dir / "data/vot/ball1/color", target_is_directory=True)
    for f in ("groundtruth.txt", "sequence"):
        shutil.copy(shared_dir / "data/vot/ball1" / f, ball / f)
    (ball / "occlusion.tag").write_text("0\n" * 200)
    _error(["--dataset", "vot2018", "--root", root], "vot2018 sequence ball1", "occlusion.tag",
           "200 lines for 105 frames")
    _error(["--dataset", "vot2019", "--root", root], "--dataset vot2019", "unknown dataset")


def test_unknown_model_and_incomplete_results(shared_dir, tmp_path):
    root = _otb(shared_dir, tmp_path / "otb")
    _error(["--dataset", "otb", "--root", root, "--model", "nosuchmodel"], "--model nosuchmodel", "not a preset")
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "Crossing.txt").write_text("205,151,17,50\n" * 6)
    (folder / "Couple.txt").write_text("51,47,25,62\n" * 4)  # an unfinished run
    _error(["--dataset", "otb", "--root", root, "--model", folder], str(folder / "Couple.txt"), "4 lines", "6 frames")
    (folder / "Couple.txt").unlink()
    _error(["--dataset", "otb", "--root", root, "--model", folder], str(folder / "Couple.txt"), "not found")
    _error(["--dataset", "got10k", "--root", root], "got10k-val", "list.txt not found")
    _error(["--dataset", "otb", "--root", root, "--sequences", "Crossing,Nope"], "no sequence Nope")


def test_davis_needs_a_mask_tracker(shared_dir, tmp_path):
    _error(["--dataset", "davis2016", "--root", shared_dir / "data/davis", "--sequences", "car-shadow",
            "--model", "nanotrack", "--weights", nanotrack_weights(shared_dir, 2), "--results-dir", tmp_path],
           "nanotrack-v2 gives no masks", "siammask")
    assert not (tmp_path / "DAVIS2016" / "nanotrack-v2" / "car-shadow").exists()  # nothing half-written


def test_console_script_exit_code(shared_dir, tmp_path):
    root = _otb(shared_dir, tmp_path / "otb", seqs=("Crossing",))
    (root / "Crossing" / "groundtruth_rect.txt").write_text("nan,nan,nan,nan\n" * 6)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "siamtrack.cli", "bench", "--dataset", "otb", "--root", str(root)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert lines == [f"siamtrack: error: otb sequence Crossing ({root / 'Crossing' / 'groundtruth_rect.txt'}): "
                     f"first ground-truth box [nan, nan, nan, nan] is not a valid x,y,w,h box"]

"""Smoke test of the speed benchmark (``python -m siamtrack.benchmarks.speed``): one preset on torch, one round
of a few frames, the table printed and ``--json`` written and parsed. No speed is asserted (speed is only ever
compared side by side within one run). Also: siamtrack never imports pysot (only the benchmark's loader does,
from a checkout given on the command line)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_speed_bench_smoke(shared_dir, tmp_path):
    out = tmp_path / "speed.json"
    env = dict(os.environ, SIAMTRACK_GRAPH_CACHE=str(tmp_path / "graphs"), SIAMTRACK_SHARED=str(shared_dir))
    proc = subprocess.run([sys.executable, "-m", "siamtrack.benchmarks.speed", "--presets", "nanotrack-v2",
                           "--backends", "torch", "--precisions", "fp32", "--threads", "1", "--rounds", "1",
                           "--frames", "5", "--budget", "0", "--no-cv2", "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "5 timed updates per round, 1 alternating rounds" in proc.stdout  # the settings are printed
    assert re.search(r"^nanotrack-v2\s+torch\s+fp32\s+1\s+2\+5\s+[\d.]+\s+[\d.]+", proc.stdout, re.M), proc.stdout
    data = json.loads(out.read_text())
    assert data["settings"]["rounds"] == 1 and data["settings"]["frames_timed"] == 5
    (row,) = data["rows"]
    assert (row["preset"], row["backend"], row["precision"], row["threads"]) == ("nanotrack-v2", "torch", "fp32", 1)
    assert row["frames"] == 5 and row["fps"] > 0 and row["ms_per_frame"] > 0 and len(row["rounds_s"]) == 1 and not row["reference"]
    (ttff,) = data["ttff"]
    assert ttff["backend"] == "torch" and ttff["cold_s"] > 0 and ttff["warm_s"] > 0
    assert data["errors"] == []


def test_siamtrack_never_imports_pysot():
    pattern = re.compile(r"^\s*(import pysot|from pysot)", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                 if ".vot-venv" not in p.parts and p.name != "pysot_reference.py" and pattern.search(p.read_text())]
    assert offenders == []
    code = ("import sys, siamtrack.benchmarks.speed, siamtrack.benchmarks.pysot_reference, siamtrack.cli; "
            "assert not any(m == 'pysot' or m.startswith(('pysot.', 'yacs')) for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

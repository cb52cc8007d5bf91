"""Shared pytest fixtures and helpers."""

import functools
import json
import os
import sys
from pathlib import Path

import pytest

def pytest_configure(config):
    """One exported-graph cache for the whole test session (the xdist workers inherit it from the controller,
    whose conftest runs first): every test process and CLI subprocess then exports a preset's graphs once
    instead of once per temporary ``XDG_CACHE_HOME``. Tests of the cache itself set their own folder."""
    if not os.environ.get("SIAMTRACK_GRAPH_CACHE") and not os.environ.get("PYTEST_XDIST_WORKER"):
        import tempfile

        folder = tempfile.mkdtemp(prefix="siamtrack-test-graphs-")
        os.environ["SIAMTRACK_GRAPH_CACHE"] = folder
        config._siamtrack_graph_cache = folder


def pytest_unconfigure(config):
    folder = getattr(config, "_siamtrack_graph_cache", None)
    if folder:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one pytest worker per core (pytest-xdist): one torch thread each, so that two workers
    # on a 2-core machine do not fight over the cores with spinning OpenMP threads.
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder: $SIAMTRACK_SHARED, else <repo root>/../shared."""
    env = os.environ.get("SIAMTRACK_SHARED")
    path = Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared"
    if not (path / "data").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {path}: CI must have it (set SIAMTRACK_SHARED)")
        pytest.skip(f"shared data not found: set SIAMTRACK_SHARED (expected {path})")
    return path


def nanotrack_weights(shared: Path, version: int) -> Path:
    """Path of the real NanoTrack checkpoint of ``version`` in the shared folder."""
    return shared / "weights" / "nanotrack" / f"nanotrackv{version}.pth"


def fixture_frame_path(shared: Path, frame: str) -> Path:
    """Map a frame path recorded in a NanoTrack fixture (``davis2016/...``) to the shared data layout."""
    return shared / "data" / frame.replace("davis2016/", "davis/JPEGImages/480p/")


@functools.lru_cache(maxsize=None)
def fixture_manifest(shared: Path, fixture: str) -> dict:
    """``../shared/fixtures/<fixture>/manifest.json`` (checkpoint key layout, conditioned scales, config); do not
    modify the returned dict (it is cached)."""
    return json.loads((shared / "fixtures" / fixture / "manifest.json").read_text())


@functools.lru_cache(maxsize=2)
def _plain_fixture_weights(shared: Path, fixture: str) -> dict:
    tools = str(shared / "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    from synth_weights import synth_state_dict

    return synth_state_dict(fixture_manifest(shared, fixture)["keys"])


def fixture_weights(shared: Path, fixture: str, variant: str = "plain") -> dict:
    """The fixture's deterministic synthetic weights (``../shared/tools/synth_weights.py`` ``synth_state_dict``
    over the manifest's keys); ``variant="cond"`` scales each listed key by ``2**log2_scale`` (the manifest's
    ``conditioned`` weights). A new dict each call; unscaled tensors are shared with a small cache, so callers
    must not modify tensors in place."""
    sd = dict(_plain_fixture_weights(shared, fixture))
    if variant == "cond":
        for key, e in fixture_manifest(shared, fixture)["conditioned"]["log2_scale"].items():
            sd[key] = sd[key] * 2.0 ** e
    return sd


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a test module, as the CLI's default (faster than two on a shared 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

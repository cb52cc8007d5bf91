"""Shared pytest fixtures."""

import os
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a test module, as the CLI's default (faster than two on a shared 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

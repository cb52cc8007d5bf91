"""Shared pytest fixtures."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder: $SIAMTRACK_SHARED, else <repo root>/../shared."""
    env = os.environ.get("SIAMTRACK_SHARED")
    path = Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared"
    if not (path / "data").is_dir():
        pytest.skip(f"shared data not found: set SIAMTRACK_SHARED (expected {path})")
    return path

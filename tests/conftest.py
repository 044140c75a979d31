"""Shared fixtures. Real third-party recordings are read from `shared/data` beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_shared_data() -> Path | None:
    env = os.environ.get("EVRT_SHARED_DATA")
    if env:
        return Path(env) if Path(env).is_dir() else None
    for parent in REPO.parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


SHARED_DATA = _find_shared_data()


@pytest.fixture
def shared_data() -> Path:
    """The folder of third-party sample recordings; the test skips (with the reason) when absent."""
    if SHARED_DATA is None:
        pytest.skip("../shared/data not found (set EVRT_SHARED_DATA): third-party recordings absent")
    return SHARED_DATA


def shared_file(relative: str) -> Path:
    """A file under shared/data, or skip the calling test saying which file is missing."""
    if SHARED_DATA is None:
        pytest.skip("../shared/data not found (set EVRT_SHARED_DATA): third-party recordings absent")
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path

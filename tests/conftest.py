"""Shared fixtures. Real third-party recordings are read from `shared/data` beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_data_dir import find_shared_data

SHARED_DATA = find_shared_data()


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

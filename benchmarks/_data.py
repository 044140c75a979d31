"""Where the benchmarks find the third-party recordings: the tests' own finder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from shared_data_dir import find_shared_data  # noqa: E402  (tests/ is not a package)


def shared_data() -> Path:
    """`find_shared_data()`, else the path asked for or expected, so that a missing
    recording is reported under that name."""
    return find_shared_data() or Path(os.environ.get("EVRT_SHARED_DATA") or REPO.parent / "shared" / "data")

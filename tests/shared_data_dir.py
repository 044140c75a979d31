"""Finding `shared/data` (the third-party recordings), for the tests and the benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def find_shared_data() -> Path | None:
    """$EVRT_SHARED_DATA if it is a folder, else the first `shared/data` in a folder above
    the checkout (a worktree may sit deeper than the main checkout); None when absent."""
    env = os.environ.get("EVRT_SHARED_DATA")
    if env:
        return Path(env) if Path(env).is_dir() else None
    for parent in REPO.parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None

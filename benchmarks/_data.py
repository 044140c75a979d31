"""Where the benchmarks find the third-party recordings: `shared/data` beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """$EVRT_SHARED_DATA, else the first `shared/data` in a folder above the checkout (a
    worktree may sit one level deeper than the main checkout)."""
    env = os.environ.get("EVRT_SHARED_DATA")
    if env:
        return Path(env)
    for parent in REPO.parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "data"

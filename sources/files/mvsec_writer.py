"""A small writer of the MVSEC HDF5 layout, for test fixtures and benchmarks only.

No public MVSEC sample is small enough to ship, so tests build `<seq>_data.hdf5` /
`<seq>_gt.hdf5` pairs from real events with the published layout: `davis/<side>/events`
float64 N x 4 (x, y, t in seconds, p as -1/+1) and `davis/<side>/depth_image_<kind>`
(float32 N x H x W) with `depth_image_<kind>_ts` (float64 seconds).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def events_to_rows(events: np.ndarray) -> np.ndarray:
    """evrt events -> MVSEC float64 rows (x, y, t [s], p ±1)."""
    rows = np.empty((events.shape[0], 4), np.float64)
    rows[:, 0] = events["x"]
    rows[:, 1] = events["y"]
    rows[:, 2] = events["t"] / 1e6
    rows[:, 3] = np.where(events["p"] > 0, 1.0, -1.0)
    return rows


def write_mvsec_data(path: Any, cameras: dict[str, np.ndarray], chunk_rows: int = 65536,
                     frames: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
    """Write `davis/<side>/events` for each side in `cameras` (side -> evrt events), and
    `davis/<side>/image_raw` + `image_raw_ts` for each side in `frames` (side -> (µs, images))."""
    import h5py

    with h5py.File(path, "w") as f:
        for side, (stamps, images) in (frames or {}).items():
            f.create_dataset(f"davis/{side}/image_raw", data=np.asarray(images, np.uint8),
                             compression="gzip")
            f.create_dataset(f"davis/{side}/image_raw_ts", data=np.asarray(stamps, np.int64) / 1e6)
        for side, events in cameras.items():
            rows = events_to_rows(events)
            chunks = (max(1, min(chunk_rows, rows.shape[0])), 4)
            f.create_dataset(f"davis/{side}/events", data=rows, chunks=chunks,
                             maxshape=(None, 4), compression="gzip", compression_opts=1)


def write_mvsec_gt(path: Any, depth: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]) -> None:
    """Write depth maps: (side, "raw" | "rect") -> (timestamps µs, float32 N x H x W)."""
    import h5py

    with h5py.File(path, "w") as f:
        for (side, kind), (stamps, images) in depth.items():
            f.create_dataset(f"davis/{side}/depth_image_{kind}",
                             data=np.asarray(images, np.float32), compression="gzip")
            f.create_dataset(f"davis/{side}/depth_image_{kind}_ts",
                             data=np.asarray(stamps, np.int64) / 1e6)

"""Helpers shared by the HDF5 layouts (MVSEC, DSEC): content sniffing and searches in datasets.

HDF5 files are several GB: nothing here reads a whole dataset; searches are binary
searches that read one element per step and a small slice at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from evrt.errors import FormatError
from evrt.sources.files.base import EventBlock

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def is_hdf5(head: bytes) -> bool:
    """HDF5 superblock signature at offset 0 or at a user-block offset (512, 1024, ...)."""
    if head.startswith(HDF5_MAGIC):
        return True
    offset = 512
    while offset + len(HDF5_MAGIC) <= len(head):
        if head[offset : offset + len(HDF5_MAGIC)] == HDF5_MAGIC:
            return True
        offset *= 2
    return False


def open_h5(path: Any) -> Any:
    """Open read-only with the Blosc/ZSTD filters registered (DSEC needs `hdf5plugin`)."""
    import h5py
    import hdf5plugin  # noqa: F401 - registers the compression filters with h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, 0, f"not a readable HDF5 file ({exc})") from None


def search_sorted(n: int, value_at: Callable[[int, int], np.ndarray], target: int,
                  small: int = 4096) -> int:
    """First index i in [0, n) with value(i) >= target over a non-decreasing column.

    `value_at(a, b)` returns the column's values (as int64 µs) for rows a..b; the search
    narrows with single reads, then finishes on one slice of at most `small` rows.
    """
    lo, hi = 0, n
    while hi - lo > small:
        mid = (lo + hi) // 2
        if int(value_at(mid, mid + 1)[0]) < target:
            lo = mid + 1
        else:
            hi = mid
    if hi <= lo:
        return lo
    return lo + int(np.searchsorted(value_at(lo, hi), target, side="left"))


def check_order(path: Any, where: str, first_row: int, t: np.ndarray, last_t: int | None) -> int:
    """FormatError naming the dataset and row if time goes backwards; returns the last time."""
    if t.size == 0:
        return last_t if last_t is not None else -(1 << 62)
    if last_t is not None and t[0] < last_t:
        raise FormatError(path, None, f"{where} row {first_row}: time goes backwards "
                          f"(t={int(t[0])} µs after t={last_t} µs; expected non-decreasing)")
    back = np.flatnonzero(t[1:] < t[:-1])
    if back.size:
        i = int(back[0]) + 1
        raise FormatError(path, None, f"{where} row {first_row + i}: time goes backwards "
                          f"(t={int(t[i])} µs after t={int(t[i - 1])} µs; expected non-decreasing)")
    return int(t[-1])


@njit(cache=True, nogil=True)
def pack_columns(t, x, y, p, t_offset, out):
    """Columns -> evrt events in one sequential pass (out: the event array as int64 (n, 2))."""
    for i in range(t.shape[0]):
        out[i, 0] = np.int64(t[i]) + t_offset
        out[i, 1] = (np.int64(x[i]) & 0xFFFF) | ((np.int64(y[i]) & 0xFFFF) << 16) \
            | ((np.int64(p[i]) & 0xFF) << 32)


@njit(cache=True, nogil=True)
def pack_mvsec_rows(rows, out):
    """MVSEC float64 rows (x, y, t [s], p ±1) -> evrt events (t rounded to µs, p > 0 -> 1)."""
    for i in range(rows.shape[0]):
        out[i, 0] = np.int64(np.rint(rows[i, 2] * 1e6))
        p = np.int64(1) if rows[i, 3] > 0 else np.int64(0)
        out[i, 1] = (np.int64(rows[i, 0]) & 0xFFFF) | ((np.int64(rows[i, 1]) & 0xFFFF) << 16) \
            | (p << 32)


def check_coordinates(path: Any, where: str, first_row: int, events: np.ndarray,
                      geometry: Any) -> None:
    """FormatError naming the dataset and row of the first event outside the sensor."""
    x, y = events["x"], events["y"]
    bad = np.flatnonzero((x < 0) | (x >= geometry.width) | (y < 0) | (y >= geometry.height))
    if bad.size:
        i = int(bad[0])
        raise FormatError(path, None, f"{where} row {first_row + i}: event at (x={int(x[i])}, "
                          f"y={int(y[i])}) is outside the {geometry.width}x{geometry.height} "
                          "sensor (corrupt data?)")


def event_block(stream: str, events: np.ndarray, row: int) -> EventBlock:
    """An EventBlock for HDF5 rows; `offset` holds the row index (HDF5 has no byte offsets
    that mean anything to a user), so time checks happen before, naming the row."""
    return EventBlock(stream, events, row)

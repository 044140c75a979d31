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


PACK_OK, PACK_BACKWARDS, PACK_OFF_SENSOR = 0, 1, 2


@njit(cache=True, nogil=True)
def pack_columns(t, x, y, p, t_offset, out, width, height, last_t):
    """Columns -> evrt events in one sequential pass (out: the event array as int64 (n, 2)),
    checking time order and coordinates on the way. Returns (PACK_*, row of the problem)."""
    for i in range(t.shape[0]):
        ti = np.int64(t[i]) + t_offset
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if ti < last_t:
            return PACK_BACKWARDS, i
        if xi < 0 or xi >= width or yi < 0 or yi >= height:
            return PACK_OFF_SENSOR, i
        last_t = ti
        out[i, 0] = ti
        out[i, 1] = xi | (yi << 16) | ((np.int64(p[i]) & 0xFF) << 32)
    return PACK_OK, -1


@njit(cache=True, nogil=True)
def pack_mvsec_rows(rows, out, width, height, last_t):
    """MVSEC float64 rows (x, y, t [s], p ±1) -> evrt events (t rounded to µs, p > 0 -> 1),
    checking time order and coordinates. Returns (PACK_*, row of the problem)."""
    for i in range(rows.shape[0]):
        ti = np.int64(np.rint(rows[i, 2] * 1e6))
        xi = np.int64(rows[i, 0])
        yi = np.int64(rows[i, 1])
        if ti < last_t:
            return PACK_BACKWARDS, i
        if xi < 0 or xi >= width or yi < 0 or yi >= height:
            return PACK_OFF_SENSOR, i
        last_t = ti
        out[i, 0] = ti
        out[i, 1] = xi | (yi << 16) | ((np.int64(1) if rows[i, 3] > 0 else np.int64(0)) << 32)
    return PACK_OK, -1


def raise_pack_error(path: Any, where: str, first_row: int, code: int, i: int,
                     values: tuple[int, int, int], last_t: int, geometry: Any) -> None:
    """Turn a pack kernel's (code, row) into a FormatError naming the dataset and row."""
    t, x, y = values
    if code == PACK_BACKWARDS:
        raise FormatError(path, None, f"{where} row {first_row + i}: time goes backwards "
                          f"(t={t} µs after t={last_t} µs; expected non-decreasing)")
    raise FormatError(path, None, f"{where} row {first_row + i}: event at (x={x}, y={y}) is "
                      f"outside the {geometry.width}x{geometry.height} sensor (corrupt data?)")


def event_block(stream: str, events: np.ndarray, row: int) -> EventBlock:
    """An EventBlock for HDF5 rows; `offset` holds the row index (HDF5 has no byte offsets
    that mean anything to a user), so time checks happen before, naming the row."""
    return EventBlock(stream, events, row)

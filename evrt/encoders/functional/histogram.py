"""Event-count histogram per polarity: the 2 x H x W frame most CNN/SNN front-ends read."""

from __future__ import annotations

import numba
import numpy as np

from evrt.encoders.functional._common import (
    PREFETCH_ABOVE_BYTES,
    PREFETCH_AHEAD,
    PREFETCH_RING,
    RING_MASK,
    check_out,
    count_limit,
    polarity_cell,
    prefetch_for_write,
    raise_off_sensor,
    records,
)


@numba.njit(cache=True, nogil=True, inline="always")
def _count(flat, k, top) -> None:
    """One more count at flat[k], saturating at `top`."""
    v = flat[k]
    if v < top:
        flat[k] = v + 1


@numba.njit(cache=True, nogil=True)
def _histogram_kernel(ev, top, out) -> int:
    """Add one count per event at out[p>0, y, x], never past `top` (the dtype's largest
    value: integer counts saturate instead of wrapping); returns how many events were off
    the sensor."""
    on_plane = np.uint64(out.shape[1] * out.shape[2])
    flat = out.reshape(-1)
    bad = 0
    for i in range(ev.shape[0]):
        on_sensor, k = polarity_cell(ev[i], out.shape[2], out.shape[1], on_plane)
        if not on_sensor:
            bad += 1
            continue
        _count(flat, k, top)
    return bad


@numba.njit(cache=True, nogil=True)
def _histogram_kernel_prefetched(ev, top, out) -> int:
    """`_histogram_kernel` for frames larger than the L2 cache: each cell is prefetched as
    soon as its event is read, and counted `PREFETCH_AHEAD` events later (a small ring
    holds the cells in between)."""
    on_plane = np.uint64(out.shape[1] * out.shape[2])
    flat = out.reshape(-1)
    cells = np.empty(PREFETCH_RING, np.uint64)
    found = 0
    counted = 0
    bad = 0
    for i in range(ev.shape[0]):
        on_sensor, k = polarity_cell(ev[i], out.shape[2], out.shape[1], on_plane)
        if not on_sensor:
            bad += 1
            continue
        prefetch_for_write(flat, k)
        cells[found & RING_MASK] = k
        found += 1
        if found - counted > PREFETCH_AHEAD:
            _count(flat, cells[counted & RING_MASK], top)
            counted += 1
    while counted < found:
        _count(flat, cells[counted & RING_MASK], top)
        counted += 1
    return bad


def histogram(
    events: np.ndarray,
    width: int,
    height: int,
    out: np.ndarray | None = None,
    dtype: np.dtype | str = np.int32,
) -> np.ndarray:
    """Count events per pixel and polarity: shape (2, height, width), channel 0 OFF, 1 ON.

    Counts are added to `out` when it is given (accumulate over several calls), so a stream
    encoded in any number of pieces gives the same frame as in one piece. An integer count
    stops at its dtype's maximum (32767 for int16) rather than wrapping round. Events
    outside the sensor raise `EventDataError` (after the in-range ones were counted).
    """
    if out is None:
        out = np.zeros((2, height, width), dtype=dtype)
    check_out(out, (2, height, width), "histogram")
    kernel = _histogram_kernel_prefetched if out.nbytes > PREFETCH_ABOVE_BYTES else _histogram_kernel
    if kernel(records(events), count_limit(out.dtype), out):
        raise_off_sensor(events, width, height, "histogram")
    return out

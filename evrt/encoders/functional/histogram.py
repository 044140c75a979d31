"""Event-count histogram per polarity: the 2 x H x W frame most CNN/SNN front-ends read."""

from __future__ import annotations

import numba
import numpy as np

from evrt.encoders.functional._common import (
    check_out,
    count_limit,
    pixel_offset,
    raise_off_sensor,
    records,
)


@numba.njit(cache=True, nogil=True)
def _histogram_kernel(ev, top, out) -> int:
    """Add one count per event at out[p>0, y, x], never past `top` (the dtype's largest
    value: integer counts saturate instead of wrapping); returns how many events were off
    the sensor."""
    height = out.shape[1]
    width = out.shape[2]
    plane = np.uint64(height * width)
    zero = np.uint64(0)
    flat = out.reshape(-1)
    bad = 0
    for i in range(ev.shape[0]):
        e = ev[i]
        on_sensor, pix = pixel_offset(e, width, height)
        if not on_sensor:
            bad += 1
            continue
        k = (plane if e.p != 0 else zero) + pix
        v = flat[k]
        if v < top:
            flat[k] = v + 1
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
    if _histogram_kernel(records(events), count_limit(out.dtype), out):
        raise_off_sensor(events, width, height, "histogram")
    return out

"""An RGB image of a window for people to look at: the latest polarity of each pixel in colour."""

from __future__ import annotations

import numba
import numpy as np

from evrt.encoders.functional._common import check_out, pixel_offset, raise_off_sensor, records

BACKGROUND = (255, 255, 255)
ON_COLOUR = (40, 90, 230)  # blue-ish
OFF_COLOUR = (30, 30, 30)  # near black


@numba.njit(cache=True, nogil=True)
def _paint_kernel(ev, on, off, out) -> int:
    height = out.shape[0]
    width = out.shape[1]
    three = np.uint64(3)
    flat = out.reshape(-1)  # unsigned flat indices: see pixel_offset
    bad = 0
    for i in range(ev.shape[0]):
        e = ev[i]
        on_sensor, pix = pixel_offset(e, width, height)
        if not on_sensor:
            bad += 1
            continue
        c = on if e.p != 0 else off
        j = three * pix
        flat[j] = c[0]
        flat[j + np.uint64(1)] = c[1]
        flat[j + np.uint64(2)] = c[2]
    return bad


def fill_background(out: np.ndarray, colour: tuple[int, int, int] = BACKGROUND) -> np.ndarray:
    """Set every pixel of a (..., 3) uint8 image to `colour`; returns `out`.

    A grey colour is one memset; numpy's broadcast of a 3-vector over the last axis is a
    strided loop several times slower than the painting itself."""
    r, g, b = (int(c) for c in colour)
    if r == g == b:
        out.fill(r)
    else:
        out[:] = np.asarray((r, g, b), dtype=np.uint8)
    return out


def event_image(
    events: np.ndarray, width: int, height: int,
    background: tuple[int, int, int] = BACKGROUND,
    on: tuple[int, int, int] = ON_COLOUR,
    off: tuple[int, int, int] = OFF_COLOUR,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """(height, width, 3) uint8: background where no event, else the colour of the pixel's last event."""
    if out is None:
        out = fill_background(np.empty((height, width, 3), dtype=np.uint8), background)
    check_out(out, (height, width, 3), "event_image")
    if _paint_kernel(records(events), np.asarray(on, np.uint8), np.asarray(off, np.uint8), out):
        raise_off_sensor(events, width, height, "event_image")
    return out

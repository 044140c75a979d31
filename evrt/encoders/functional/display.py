"""An RGB image of a window for people to look at: the latest polarity of each pixel in colour."""

from __future__ import annotations

import numba
import numpy as np

from evrt.encoders.functional._common import check_out, pixel_offset, raise_off_sensor, records
from evrt.errors import ConfigError

BACKGROUND = (255, 255, 255)
ON_COLOUR = (40, 90, 230)  # blue-ish
OFF_COLOUR = (30, 30, 30)  # near black


NO_EVENT, OFF_MARK, ON_MARK = 0, 1, 2  # what a polarity map holds per pixel


@numba.njit(cache=True, nogil=True)
def _mark_kernel(ev, marks) -> int:
    height = marks.shape[0]
    width = marks.shape[1]
    flat = marks.reshape(-1)
    bad = 0
    for i in range(ev.shape[0]):
        e = ev[i]
        on_sensor, pix = pixel_offset(e, width, height)
        if not on_sensor:
            bad += 1
            continue
        flat[pix] = ON_MARK if e.p != 0 else OFF_MARK  # time-sorted: the last event wins
    return bad


@numba.njit(cache=True, nogil=True)
def _colour_kernel(marks, palette, keep_unmarked, out) -> None:
    flat_marks = marks.reshape(-1)
    flat = out.reshape(-1)
    for i in range(flat_marks.shape[0]):
        m = flat_marks[i]
        if m == NO_EVENT and keep_unmarked:
            continue
        j = 3 * i
        flat[j] = palette[m, 0]
        flat[j + 1] = palette[m, 1]
        flat[j + 2] = palette[m, 2]


def mark_polarities(events: np.ndarray, width: int, height: int,
                    marks: np.ndarray | None = None) -> np.ndarray:
    """(height, width) uint8 map of each pixel's last polarity: ON_MARK, OFF_MARK, or
    NO_EVENT where none; marks from several calls accumulate in `marks` (later events win).

    One byte per pixel keeps the map in cache at any sensor size (0.9 MB at 1280x720), where
    writing three colour bytes per event into the image itself does not."""
    if marks is None:
        marks = np.zeros((height, width), dtype=np.uint8)
    check_out(marks, (height, width), "mark_polarities")
    if _mark_kernel(records(events), marks):
        raise_off_sensor(events, width, height, "event_image")
    return marks


def colour_marks(marks: np.ndarray, out: np.ndarray | None = None,
                 background: tuple[int, int, int] | None = BACKGROUND,
                 on: tuple[int, int, int] = ON_COLOUR,
                 off: tuple[int, int, int] = OFF_COLOUR) -> np.ndarray:
    """(height, width, 3) uint8 image of a polarity map; `background=None` leaves the
    unmarked pixels of `out` as they are."""
    height, width = marks.shape
    if out is None:
        out = np.empty((height, width, 3), dtype=np.uint8)
        if background is None:
            raise ConfigError("colour_marks: a new image needs a background colour")
    check_out(out, (height, width, 3), "colour_marks")
    palette = np.array([background or (0, 0, 0), off, on], dtype=np.uint8)
    _colour_kernel(marks, palette, background is None, out)
    return out


def event_image(
    events: np.ndarray, width: int, height: int,
    background: tuple[int, int, int] = BACKGROUND,
    on: tuple[int, int, int] = ON_COLOUR,
    off: tuple[int, int, int] = OFF_COLOUR,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """(height, width, 3) uint8: background where no event, else the colour of the pixel's
    last event. Given `out`, only the pixels these events touch are painted over."""
    if out is not None:
        check_out(out, (height, width, 3), "event_image")
    marks = mark_polarities(events, width, height)
    return colour_marks(marks, out, None if out is not None else background, on, off)

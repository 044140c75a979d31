"""Stateless filters that select events or move them on the sensor: ROI, polarity,
spatial downsampling, flips and 90-degree rotations. Each returns a new event array."""

from __future__ import annotations

import numba
import numpy as np

from evrt.encoders.functional._common import check_positive, records, select
from evrt.events import copy_events


@numba.njit(cache=True, nogil=True)
def _roi_mask(ev, x0, y0, x1, y1, keep) -> int:
    n = 0
    for i in range(ev.shape[0]):
        e = ev[i]
        k = e.x >= x0 and e.x < x1 and e.y >= y0 and e.y < y1
        keep[i] = k
        n += k
    return n


@numba.njit(cache=True, nogil=True)
def _polarity_mask(ev, polarity, keep) -> int:
    n = 0
    for i in range(ev.shape[0]):
        k = (ev[i].p != 0) == polarity
        keep[i] = k
        n += k
    return n


@numba.njit(cache=True, nogil=True)
def _shift(x, y, dx, dy) -> None:
    for i in range(x.shape[0]):
        x[i] = x[i] + dx
        y[i] = y[i] + dy


@numba.njit(cache=True, nogil=True)
def _divide(x, y, factor) -> None:
    if factor & (factor - 1) == 0:
        # a power of two: an arithmetic shift is floor division, negatives included, and
        # costs a cycle where a 64-bit division costs tens (2 M events: 20 -> 4 ms)
        shift = 0
        while (1 << shift) < factor:
            shift += 1
        for i in range(x.shape[0]):
            x[i] = x[i] >> shift
            y[i] = y[i] >> shift
        return
    for i in range(x.shape[0]):
        x[i] = x[i] // factor
        y[i] = y[i] // factor


@numba.njit(cache=True, nogil=True)
def _orient(x, y, width, height, flip_x, flip_y, turns) -> None:
    """Flip (in the source frame) then rotate counter-clockwise by `turns` * 90 degrees, as np.rot90."""
    for i in range(x.shape[0]):
        xi = x[i]
        yi = y[i]
        if flip_x:
            xi = width - 1 - xi
        if flip_y:
            yi = height - 1 - yi
        if turns == 1:
            xi, yi = yi, width - 1 - xi
        elif turns == 2:
            xi, yi = width - 1 - xi, height - 1 - yi
        elif turns == 3:
            xi, yi = height - 1 - yi, xi
        x[i] = xi
        y[i] = yi


def _select(events: np.ndarray, keep: np.ndarray, count: int) -> np.ndarray:
    return copy_events(events) if count == events.shape[0] else select(events, keep)


def roi(events: np.ndarray, x0: int, y0: int, width: int, height: int, shift: bool = True) -> np.ndarray:
    """Events inside [x0, x0+width) x [y0, y0+height); with `shift`, coordinates become ROI-relative."""
    events = records(events)
    keep = np.empty(events.shape[0], dtype=np.bool_)
    n = _roi_mask(events, x0, y0, x0 + width, y0 + height, keep)
    out = _select(events, keep, n)
    if shift and out.size:
        _shift(out["x"], out["y"], -x0, -y0)
    return out


def polarity(events: np.ndarray, keep_on: bool) -> np.ndarray:
    """Only ON (`keep_on=True`) or only OFF events."""
    events = records(events)
    keep = np.empty(events.shape[0], dtype=np.bool_)
    n = _polarity_mask(events, bool(keep_on), keep)
    return _select(events, keep, n)


def downsample(events: np.ndarray, factor: int) -> np.ndarray:
    """Every event moved to pixel (x // factor, y // factor); the sensor shrinks to ceil(W/f) x ceil(H/f)."""
    check_positive(factor, "factor")
    out = copy_events(events)
    if out.size:
        _divide(out["x"], out["y"], factor)
    return out


def orient(events: np.ndarray, width: int, height: int, flip_x: bool = False,
           flip_y: bool = False, turns: int = 0) -> np.ndarray:
    """Mirror left-right (`flip_x`) / up-down (`flip_y`), then rotate by `turns` x 90 degrees
    counter-clockwise as seen in the image (the same as `np.rot90(image, turns)` on the frame).
    Odd `turns` swap the sensor's width and height."""
    out = copy_events(events)
    if out.size:
        _orient(out["x"], out["y"], width, height, flip_x, flip_y, turns % 4)
    return out

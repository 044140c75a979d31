"""Exponential time surface per polarity (Lagorce et al. 2016, HOTS; tonic's `ToTimesurface`).

The state is the time of the latest event at every (polarity, y, x). A surface sampled at
time t_ref is exp(-(t_ref - last) / tau), and 0 where the pixel never fired. Updating the
state is separate from sampling it, so the state simply carries from packet to packet.
"""

from __future__ import annotations

import numba
import numpy as np

from evrt.encoders.functional._common import NEVER, check_out, raise_off_sensor, records


def new_time_state(width: int, height: int) -> np.ndarray:
    """(2, height, width) int64 latest-event times, all `NEVER`."""
    return np.full((2, height, width), NEVER, dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _update_kernel(ev, last) -> int:
    height = last.shape[1]
    width = last.shape[2]
    bad = 0
    for i in range(ev.shape[0]):
        e = ev[i]
        xi = e.x
        yi = e.y
        if xi < 0 or xi >= width or yi < 0 or yi >= height:
            bad += 1
            continue
        # events are time-sorted, so a plain store keeps the latest (and re-applying a
        # sorted run that was already applied leaves the state unchanged)
        last[1 if e.p != 0 else 0, yi, xi] = e.t
    return bad


@numba.njit(cache=True, nogil=True)
def _sample_kernel(last, t_ref, inv_tau, never, out) -> None:
    flat_last = last.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_last.shape[0]):
        tl = flat_last[i]
        if tl == never:
            flat_out[i] = 0.0
        else:
            flat_out[i] = np.exp(-(t_ref - tl) * inv_tau)


def update_time_state(events: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Record each event's time as its pixel's latest (per polarity); returns `state`."""
    if _update_kernel(records(events), state):
        raise_off_sensor(events, state.shape[2], state.shape[1], "time_surface")
    return state


def sample_time_surface(
    state: np.ndarray, t_ref: int, tau: float, out: np.ndarray | None = None
) -> np.ndarray:
    """exp(-(t_ref - last) / tau) per cell, 0 where never fired: (2, H, W) float32.

    Only events before `t_ref` should be in the state; a later one gives a value > 1.
    """
    if out is None:
        out = np.empty(state.shape, dtype=np.float32)
    check_out(out, state.shape, "sample_time_surface")
    _sample_kernel(state, np.int64(t_ref), 1.0 / float(tau), NEVER, out)
    return out


def time_surface(
    events: np.ndarray, width: int, height: int, t_ref: int, tau: float,
    state: np.ndarray | None = None,
) -> np.ndarray:
    """One-shot surface of `events` (plus an optional earlier state, which is updated) at `t_ref`."""
    if state is None:
        state = new_time_state(width, height)
    update_time_state(events, state)
    return sample_time_surface(state, t_ref, tau)

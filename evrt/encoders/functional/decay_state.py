"""Time surface from a decaying state: each cell keeps exp((t_last - anchor) / tau).

The same surface as `time_surface` (exp(-(t_ref - t_last) / tau), 0 where never fired),
kept in a form that makes sampling cheap. With the latest-time state, sampling evaluates
exp on every cell of the sensor once per window, and that dense exp is most of a
time-surface node's cost. Here the exp is paid once per event, in a vectorised pass over
the packet, and sampling is one multiply per cell:

    exp(-(t_ref - t_last) / tau) = exp((t_last - anchor) / tau) * exp(-(t_ref - anchor) / tau)

The `anchor` is a time the caller picks and moves forward with `rescale_decay_state`
before the stored values leave the float32 range: the node keeps t_ref - anchor <=
`REANCHOR_TAUS` * tau, so stored values stay below e**64.

The state is float32, like the surface it gives: half the bytes of float64 to scatter
into per event and to read per sampled window, which measured 1.3x faster for a 1280x720
node. The price is rounding. The stored value, each rescale (at most two, see
`REANCHOR_TAUS`) and the sampling product are each rounded to float32, each adding at most
2**-24 relative, so a cell is within 4 * 2**-24 relative of the exact surface (the
latest-time path's float32 value is within 2**-24 of it). On the real recordings the two
paths are 1 ulp apart in 15-26% of the non-zero cells and 2 ulps in under 0.1%; the tests
hold them to 2 ulps.

A value below the smallest normal float32 (~1.2e-38) is stored as 0, where the latest-time
path may give a subnormal; subnormals would make every later multiply a slow microcode
assist. Never-fired cells hold 0, so they need no test when sampling.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np

from evrt.encoders.functional._common import (
    PREFETCH_ABOVE_BYTES,
    PREFETCH_AHEAD,
    PREFETCH_RING,
    check_out,
    on_plane_offset,
    polarity_cell,
    prefetch_for_write,
    raise_off_sensor,
    records,
)
from evrt.encoders.functional.time_surface import check_polarities, exp_simd_for_float32
from evrt.errors import ConfigError

REANCHOR_TAUS = 64.0
"""How far (in tau) a sampling time may run ahead of the anchor before the state is rescaled:
stored values stay <= e**64 (float32 holds up to e**88), and a rescale (one dense pass)
happens every 64 tau of stream. A rescale multiplies every value by e**-64 or less, so a
cell that does not fire again is flushed to 0 by its second rescale: no value goes through
more than two rescale roundings."""

_FLUSH = float(np.finfo(np.float32).tiny)
"""Values below the smallest normal float32 are stored as 0 (see the module docstring)."""


def new_decay_state(width: int, height: int, polarities: int = 2) -> np.ndarray:
    """(polarities, height, width) float32 zeros: no pixel has fired."""
    check_polarities(polarities)
    return np.zeros((polarities, height, width), dtype=np.float32)


@numba.njit(cache=True, nogil=True, inline="always", fastmath={"contract"})
def _decayed(since_anchor, inv_tau):
    """exp(since_anchor / tau) as stored: 0 below `_FLUSH` (float64; rounded when stored)."""
    v = exp_simd_for_float32(since_anchor * inv_tau)
    return v if v >= _FLUSH else 0.0


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _update_kernel(ev, state, anchor, inv_tau) -> int:
    n = ev.shape[0]
    times = np.empty(n)
    # times into a contiguous buffer first: the exp loop below then vectorises (it does not
    # when it reads the 16-byte records directly, measured 2x slower); it writes float32,
    # so the stores below move 4 bytes (12% faster than rounding there)
    for i in range(n):
        times[i] = np.float64(ev[i].t - anchor)
    values = np.empty(n, np.float32)
    for i in range(n):
        values[i] = _decayed(times[i], inv_tau)
    on_plane = on_plane_offset(state)
    flat = state.reshape(-1)
    bad = 0
    for i in range(n):
        on_sensor, k = polarity_cell(ev[i], state.shape[2], state.shape[1], on_plane)
        if not on_sensor:
            bad += 1
            continue
        flat[k] = values[i]  # time-sorted: the latest wins
    return bad


_EXP_BLOCK = 8
"""Events whose exps the prefetching update evaluates in one vectorised loop (two 4-lane
float64 vectors); the ring holds `PREFETCH_RING // _EXP_BLOCK` such blocks."""

_NO_CELL = np.uint64(2**64 - 1)
"""Ring marker for an event off the sensor (or past the end of the input): nothing to store."""


@numba.njit(cache=True, nogil=True, inline="always")
def _store_block(flat, cells, values, first) -> None:
    for j in range(first, first + _EXP_BLOCK):
        k = cells[j]
        if k != _NO_CELL:
            flat[k] = np.float32(values[j])  # event order: the latest wins


@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _update_kernel_prefetched(ev, state, anchor, inv_tau) -> int:
    """`_update_kernel` for states far larger than the L2 cache. Events go through a ring in
    blocks of `_EXP_BLOCK`: a block's cells are prefetched as they are found, its exps are
    evaluated in one vectorised loop, and its stores wait until `PREFETCH_AHEAD` more events
    have been read. Measured 1.2-1.45x faster than finding, exp-ing and storing 64-event
    chunks one after the other (1280x720, 5000-event packets)."""
    n = ev.shape[0]
    height = state.shape[1]
    width = state.shape[2]
    on_plane = on_plane_offset(state)
    flat = state.reshape(-1)
    cells = np.empty(PREFETCH_RING, np.uint64)
    values = np.empty(PREFETCH_RING)
    blocks = PREFETCH_RING // _EXP_BLOCK
    behind = PREFETCH_AHEAD // _EXP_BLOCK
    bad = 0
    block = 0
    for start in range(0, n, _EXP_BLOCK):
        first = (block % blocks) * _EXP_BLOCK
        for j in range(_EXP_BLOCK):
            i = start + j
            if i < n:
                e = ev[i]
                on_sensor, k = polarity_cell(e, width, height, on_plane)
                if on_sensor:
                    prefetch_for_write(flat, k)
                    cells[first + j] = k
                else:
                    cells[first + j] = _NO_CELL
                    bad += 1
                values[first + j] = np.float64(e.t - anchor)
            else:
                cells[first + j] = _NO_CELL
                values[first + j] = 0.0
        for j in range(first, first + _EXP_BLOCK):  # contiguous: this loop vectorises
            values[j] = _decayed(values[j], inv_tau)
        if block >= behind:
            _store_block(flat, cells, values, ((block - behind) % blocks) * _EXP_BLOCK)
        block += 1
    for pending in range(max(block - behind, 0), block):
        _store_block(flat, cells, values, (pending % blocks) * _EXP_BLOCK)
    return bad


@numba.njit(cache=True, nogil=True)
def _rescale_kernel(state, factor, flush) -> None:
    flat = state.reshape(-1)
    for i in range(flat.shape[0]):
        v = np.float64(flat[i]) * factor
        flat[i] = np.float32(v) if v >= flush else np.float32(0.0)


@numba.njit(cache=True, nogil=True)
def _sample_kernel(state, factor, out) -> None:
    flat = state.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat.shape[0]):
        flat_out[i] = np.float64(flat[i]) * factor  # one rounding, to float32


def _check_state(state: np.ndarray) -> None:
    if (state.ndim != 3 or state.shape[0] not in (1, 2) or state.dtype != np.float32
            or not state.flags.c_contiguous):
        raise ConfigError("decay state must be a C-contiguous float32 array shaped (1 or 2, H, W) "
                          f"(see new_decay_state), got {state.dtype} {state.shape}")


def decay_updater(state: np.ndarray) -> Callable[[np.ndarray, np.int64, float], None]:
    """`update(events, anchor, inv_tau)`: `update_decay_state` on `state`, checked here once.

    For a caller that updates one state packet after packet (the time-surface node): the
    checks and the kernel choice cost about as much as the kernel on a small packet. `anchor`
    is an `np.int64`, `inv_tau` is 1 / tau; events off the sensor raise `EventDataError`.
    """
    _check_state(state)
    kernel = _update_kernel_prefetched if state.nbytes > PREFETCH_ABOVE_BYTES else _update_kernel
    height, width = state.shape[1], state.shape[2]

    def update(events: np.ndarray, anchor: np.int64, inv_tau: float) -> None:
        if kernel(records(events), state, anchor, inv_tau):
            raise_off_sensor(events, width, height, "time_surface")

    return update


def update_decay_state(events: np.ndarray, state: np.ndarray, anchor: int, tau: float) -> np.ndarray:
    """Store exp((t - anchor) / tau) for each event at its pixel (per polarity, or merged if
    `state` has one plane); returns `state`. Events must be time-sorted, with
    t - anchor <= `REANCHOR_TAUS` * tau."""
    decay_updater(state)(events, np.int64(anchor), 1.0 / float(tau))
    return state


def rescale_decay_state(state: np.ndarray, shift_us: int, tau: float) -> np.ndarray:
    """Move the anchor `shift_us` later: every stored value times exp(-shift_us / tau)."""
    _check_state(state)
    if shift_us < 0:
        raise ConfigError(f"the anchor only moves forward, got a shift of {shift_us} us")
    _rescale_kernel(state, math.exp(-float(shift_us) / float(tau)), _FLUSH)
    return state


def sample_decay_state(
    state: np.ndarray, since_anchor_us: int, tau: float, out: np.ndarray | None = None
) -> np.ndarray:
    """The time surface at anchor + `since_anchor_us`: float32 (polarities, H, W)."""
    _check_state(state)
    if out is None:
        out = np.empty(state.shape, dtype=np.float32)
    check_out(out, state.shape, "sample_decay_state")
    _sample_kernel(state, math.exp(-float(since_anchor_us) / float(tau)), out)
    return out

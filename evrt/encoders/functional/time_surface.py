"""Exponential time surface per polarity (Lagorce et al. 2016, HOTS; tonic's `ToTimesurface`).

The state is the time of the latest event at every (polarity, y, x). A surface sampled at
time t_ref is exp(-(t_ref - last) / tau), and 0 where the pixel never fired. Updating the
state is separate from sampling it, so the state simply carries from packet to packet.

Sampling evaluates exp on every cell of the state, once per sampling time (the graph node
keeps the decaying form in `decay_state` instead, which needs one exp per event and one
multiply per cell). libm's exp is one scalar call per cell; `exp_simd` is a
branch-free float64 exp that the compiler vectorises (SIMD lanes), accurate to ~1e-15
relative, so the float32 surface it gives equals libm's exp rounded to float32 on every
cell the tests and benchmarks check (a last-bit difference is possible only when the
float64 value lies within ~1e-15 of a float32 rounding boundary).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from evrt.encoders.functional._common import (
    NEVER,
    PREFETCH_ABOVE_BYTES,
    PREFETCH_AHEAD,
    PREFETCH_RING,
    RING_MASK,
    check_out,
    on_plane_offset,
    polarity_cell,
    prefetch_for_write,
    raise_off_sensor,
    records,
)
from evrt.errors import ConfigError


def check_polarities(polarities: int) -> None:
    """A time state has one plane (polarities merged) or two (OFF, ON)."""
    if polarities not in (1, 2):
        raise ConfigError(f"polarities must be 1 or 2, got {polarities}", key="polarities")


def new_time_state(width: int, height: int, polarities: int = 2) -> np.ndarray:
    """(polarities, height, width) int64 latest-event times, all `NEVER`.

    Two planes keep OFF and ON apart (HOTS, tonic's `ToTimesurface`); one plane keeps the
    latest event of either polarity, like dv-processing's `TimeSurface`.
    """
    check_polarities(polarities)
    return np.full((polarities, height, width), NEVER, dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _update_kernel(ev, last) -> int:
    on_plane = on_plane_offset(last)
    flat = last.reshape(-1)
    bad = 0
    for i in range(ev.shape[0]):
        e = ev[i]
        on_sensor, k = polarity_cell(e, last.shape[2], last.shape[1], on_plane)
        if not on_sensor:
            bad += 1
            continue
        # events are time-sorted, so a plain store keeps the latest (and re-applying a
        # sorted run that was already applied leaves the state unchanged)
        flat[k] = e.t
    return bad


@numba.njit(cache=True, nogil=True)
def _update_kernel_prefetched(ev, last) -> int:
    """`_update_kernel` for states far larger than the L2 cache: each cell is prefetched as
    soon as its event is read, and stored `PREFETCH_AHEAD` events later (a small ring holds
    the cells and times in between; stores keep event order, so the latest still wins)."""
    on_plane = on_plane_offset(last)
    flat = last.reshape(-1)
    cells = np.empty(PREFETCH_RING, np.uint64)
    times = np.empty(PREFETCH_RING, np.int64)
    found = 0
    stored = 0
    bad = 0
    for i in range(ev.shape[0]):
        e = ev[i]
        on_sensor, k = polarity_cell(e, last.shape[2], last.shape[1], on_plane)
        if not on_sensor:
            bad += 1
            continue
        prefetch_for_write(flat, k)
        s = found & RING_MASK
        cells[s] = k
        times[s] = e.t
        found += 1
        if found - stored > PREFETCH_AHEAD:
            s = stored & RING_MASK
            flat[cells[s]] = times[s]
            stored += 1
    while stored < found:
        s = stored & RING_MASK
        flat[cells[s]] = times[s]
        stored += 1
    return bad


@intrinsic
def _as_float64(typingctx, bits):
    """Reinterpret an int64's bits as a float64 (no conversion): builds 2**k for exp."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # ln 2 split in two so that k * _LN2_HI is exact
_LN2_LO = 1.9082149292705877e-10
_ROUND = 6755399441055744.0  # 1.5 * 2**52: adding and subtracting it rounds to an integer
_FLOOR_X = -104.0  # exp(-104) < 2**-150: below half the smallest float32, rounds to 0


_C = tuple(1.0 / math.factorial(i) for i in range(13))  # Taylor coefficients of exp


@numba.njit(cache=True, nogil=True, inline="always", fastmath={"contract"})
def _reduce(x):
    """(k, r) with exp(x) = 2**k * exp(r), |r| <= ln(2) / 2; x floored at -104."""
    x = max(x, _FLOOR_X)
    k = (x * _LOG2E + _ROUND) - _ROUND  # nearest integer to x / ln 2
    r = (x - k * _LN2_HI) - k * _LN2_LO
    return k, r


@numba.njit(cache=True, nogil=True, inline="always")
def _times_2_to_the(p, k):
    return p * _as_float64((np.int64(k) + 1023) << 52)


@numba.njit(cache=True, nogil=True, inline="always", fastmath={"contract"})
def exp_simd(x):
    """exp(x) in straight-line float64 code (vectorisable; no libm call).

    For x <= 700; below -104 (where exp rounds to float32 0) it returns exp(-104). Callers
    compile with fastmath "contract": inlined, this code takes the caller's flags."""
    k, r = _reduce(x)
    # Taylor series to r**12 / 12! (truncation < 1e-16 relative for |r| <= 0.35), grouped
    # by Estrin's scheme: a shallow dependency chain keeps the SIMD units busy
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    c = _C
    low = (c[0] + c[1] * r) + r2 * (c[2] + c[3] * r)
    mid = (c[4] + c[5] * r) + r2 * (c[6] + c[7] * r)
    high = (c[8] + c[9] * r) + r2 * (c[10] + c[11] * r) + r4 * c[12]
    return _times_2_to_the(low + r4 * mid + r8 * high, k)


@numba.njit(cache=True, nogil=True, inline="always", fastmath={"contract"})
def exp_simd_for_float32(x):
    """`exp_simd` with the series cut at r**8 / 8!: truncation < 3e-10 relative (r**9 / 9!
    times e**|r|), 0.005 of a float32 ulp, for values that are stored as float32 (the
    decaying time-surface state). 10% faster updates of that state than the full series."""
    k, r = _reduce(x)
    r2 = r * r
    r4 = r2 * r2
    c = _C
    low = (c[0] + c[1] * r) + r2 * (c[2] + c[3] * r)
    mid = (c[4] + c[5] * r) + r2 * (c[6] + c[7] * r)
    return _times_2_to_the(low + r4 * mid + (r4 * r4) * c[8], k)


# fastmath "contract" here, not only on exp_simd: numba inlines the callee's IR into this
# loop, which is compiled with the caller's flags, so without it the polynomial loses its
# fused multiply-adds (measured 1.5x slower sampling)
@numba.njit(cache=True, nogil=True, fastmath={"contract"})
def _sample_kernel(last, t_ref, inv_tau, never, out) -> None:
    flat_last = last.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_last.shape[0]):
        tl = flat_last[i]
        v = exp_simd(-np.float64(t_ref - tl) * inv_tau)
        flat_out[i] = v if tl != never else 0.0


def update_time_state(events: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Record each event's time as its pixel's latest (per polarity, or merged if `state`
    has one plane); returns `state`."""
    if (state.ndim != 3 or state.shape[0] not in (1, 2) or state.dtype != np.int64
            or not state.flags.c_contiguous):
        raise ConfigError("time state must be a C-contiguous int64 array shaped (1 or 2, H, W) "
                          f"(see new_time_state), got {state.dtype} {state.shape}")
    kernel = _update_kernel_prefetched if state.nbytes > PREFETCH_ABOVE_BYTES else _update_kernel
    if kernel(records(events), state):
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
    state: np.ndarray | None = None, polarities: int = 2,
) -> np.ndarray:
    """One-shot surface of `events` (plus an optional earlier state, which is updated) at `t_ref`."""
    if state is None:
        state = new_time_state(width, height, polarities)
    update_time_state(events, state)
    return sample_time_surface(state, t_ref, tau)

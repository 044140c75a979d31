"""Spike tensors for multi-step SNNs: T x 2 x H x W time bins, and the cumulative stack.

Bin k of a window [t_start, t_end) holds the events with
    t_start + k * D / T <= t < t_start + (k + 1) * D / T,   D = t_end - t_start,
computed exactly in integers as k = ((t - t_start) * T) // D.

Cumulative stacking (the representation MSS-DepthNet feeds its multi-step SNN): frame k
holds every event from the window start up to the end of bin k,
    t_start <= t < t_start + (k + 1) * D / T,
i.e. the running sum of the spike tensor over k. Frame T - 1 is the whole window's
histogram; each later step sees strictly more of the window than the one before, so a
network that stops early has still seen a coherent, growing view of the scene.
`binary=True` turns counts into 0/1 ("did this pixel fire (so far)?").
"""

from __future__ import annotations

import numba
import numpy as np

from evrt.encoders.functional._common import (
    check_out,
    check_positive,
    check_window,
    pixel_offset,
    raise_off_sensor,
    records,
)


@numba.njit(cache=True, nogil=True)
def _bin_kernel(ev, t_start, t_end, binary, out) -> int:
    steps = out.shape[0]
    height = out.shape[2]
    width = out.shape[3]
    plane = np.uint64(height * width)  # unsigned flat indices: see pixel_offset
    flat = out.reshape(-1)
    span = t_end - t_start
    bad = 0
    for i in range(ev.shape[0]):
        e = ev[i]
        on_sensor, pix = pixel_offset(e, width, height)
        if not on_sensor:
            bad += 1
            continue
        dt = e.t - t_start
        if dt < 0 or dt >= span:
            continue
        k = np.uint64((dt * steps) // span)
        j = (np.uint64(2) * k + np.uint64(1 if e.p != 0 else 0)) * plane + pix
        if binary:
            flat[j] = 1
        else:
            flat[j] += 1
    return bad


@numba.njit(cache=True, nogil=True)
def _cumulate(out, binary) -> None:
    steps = out.shape[0]
    flat = out.reshape(steps, -1)
    for k in range(1, steps):
        for j in range(flat.shape[1]):
            v = flat[k, j] + flat[k - 1, j]
            if binary and v > 1:
                v = 1
            flat[k, j] = v


def spike_tensor(
    events: np.ndarray, width: int, height: int, steps: int, t_start: int, t_end: int,
    binary: bool = True, out: np.ndarray | None = None, dtype: np.dtype | str = np.float32,
) -> np.ndarray:
    """(steps, 2, height, width) spikes (binary) or counts per time bin of [t_start, t_end)."""
    check_window(t_start, t_end, "spike_tensor")
    check_positive(steps, "steps")
    if out is None:
        out = np.zeros((steps, 2, height, width), dtype=dtype)
    check_out(out, (steps, 2, height, width), "spike_tensor")
    if _bin_kernel(records(events), np.int64(t_start), np.int64(t_end), binary, out):
        raise_off_sensor(events, width, height, "spike_tensor")
    return out


def cumulate_bins(tensor: np.ndarray, binary: bool = False) -> np.ndarray:
    """Turn a spike tensor (per-bin counts or spikes) into the cumulative stack, in place."""
    _cumulate(tensor, binary)
    return tensor


def cumulative_stack(
    events: np.ndarray, width: int, height: int, steps: int, t_start: int, t_end: int,
    binary: bool = False, dtype: np.dtype | str = np.float32,
) -> np.ndarray:
    """(steps, 2, height, width): frame k counts all events in [t_start, t_start + (k+1)D/T)."""
    out = spike_tensor(events, width, height, steps, t_start, t_end, binary, dtype=dtype)
    _cumulate(out, binary)
    return out

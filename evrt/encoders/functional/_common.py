"""Shared helpers for the numba kernels: column views of an event array and input checks."""

from __future__ import annotations

import functools

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from evrt.errors import ConfigError, EventDataError
from evrt.events import EVENT_DTYPE, as_events, copy_events

NEVER = np.int64(np.iinfo(np.int64).min // 4)
"""Timestamp meaning 'this pixel never fired' in per-pixel time state (far enough from the
int64 limit that `t - NEVER` cannot overflow for any real timestamp)."""


def columns(events: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t, x, y, p) strided views of an event array: no copy, numba reads them directly."""
    ev = as_events(events)
    return ev["t"], ev["x"], ev["y"], ev["p"]


def records(events: np.ndarray) -> np.ndarray:
    """The events as a C-contiguous `EVENT_DTYPE` array (a view when it already is one).

    Kernels read whole 16-byte records (`ev[i].t`, `.x`, ...): one contiguous stream,
    about twice as fast in numba as four strided column views.
    """
    ev = as_events(events)
    return ev if ev.flags.c_contiguous else copy_events(ev)


@numba.njit(cache=True, nogil=True, inline="always")
def pixel_offset(e, width, height):
    """(on the sensor?, y * width + x) of one event record, the offset as uint64.

    One unsigned compare per axis also rejects negative coordinates, and kernels that build
    flat indices from unsigned offsets skip the negative-index wraparound code numba adds
    to signed ones (about 20% of the voxel-grid kernel)."""
    xi = np.uint32(np.int32(e.x))
    yi = np.uint32(np.int32(e.y))
    if xi >= width or yi >= height:
        return False, np.uint64(0)
    return True, np.uint64(yi) * np.uint64(width) + np.uint64(xi)


@numba.njit(cache=True, nogil=True, inline="always")
def pixel_xy(e, width, height):
    """(on the sensor?, x, y) of one event record, x and y as uint64 for 2-D indexing: the
    same unsigned compare per axis as `pixel_offset`, for kernels that index (H, W) arrays
    (which may be non-contiguous, so a flat offset would not do)."""
    xi = np.uint32(np.int32(e.x))
    yi = np.uint32(np.int32(e.y))
    return xi < width and yi < height, np.uint64(xi), np.uint64(yi)


@numba.njit(cache=True, nogil=True, inline="always")
def polarity_cell(e, width, height, on_plane):
    """(on the sensor?, flat offset of the event's cell) in a (planes, H, W) array whose ON
    plane starts at `on_plane` (H * W with one plane per polarity; 0 with both merged)."""
    on_sensor, pix = pixel_offset(e, width, height)
    return on_sensor, (on_plane if e.p != 0 else np.uint64(0)) + pix


@numba.njit(cache=True, nogil=True, inline="always")
def on_plane_offset(planes):
    """`polarity_cell`'s `on_plane` for a (planes, H, W) time state: H * W with one plane per
    polarity, 0 with both polarities merged into one plane."""
    return np.uint64(planes.shape[1] * planes.shape[2] if planes.shape[0] == 2 else 0)


PREFETCH_ABOVE_BYTES = 2 << 20
"""Kernels that scatter into a grid or state larger than this (the benchmark machine's L2
caches together: 1 MiB per core) take their prefetching variant: measured 1.3-1.5x faster
with 7-15 MB arrays (1280x720), and 1.2-1.4x slower with 0.7-1.4 MB ones (346x260), which
stay in cache without the prefetches and the ring of pending stores."""

PREFETCH_AHEAD = 32
"""Events between the prefetch of a cell and the store or add into it (16-64 measured alike)."""

PREFETCH_RING = 64
"""Slots in a prefetching kernel's ring of pending stores: a power of two above
`PREFETCH_AHEAD`, so a slot is `i & (PREFETCH_RING - 1)` and the ring stays in L1."""

RING_MASK = PREFETCH_RING - 1  # event i's slot: i & RING_MASK

@intrinsic
def prefetch_for_write(typingctx, array, index):
    """Hint the CPU to fetch `array[index]` (a 1-D array) for writing; no fault if out of range.

    For scattered stores over arrays far larger than the L2 cache. Issued when an event's
    cell is known and `PREFETCH_AHEAD` events before the store, the fetches overlap with
    each other and with the work on the events in between, instead of stalling one by one.
    Against the earlier form (cells of a 2048-event chunk first, then its stores, each
    prefetched 32 stores ahead), three interleaved A/B runs at 1280x720 measured: voxel grid
    1.22-1.32x, histogram 1.13-1.14x, time-state update 1.04-1.25x. The chunked form left the
    stores nothing else to overlap with."""
    if not isinstance(array, types.Array) or array.ndim != 1 or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]))
        address = builder.bitcast(builder.gep(data, [args[1]]), byte_ptr)
        # write, highest temporal locality, data cache
        builder.call(fn, [address, ir.Constant(i32, 1), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.none(array, index), codegen


def raise_off_sensor(events: np.ndarray, width: int, height: int, where: str) -> None:
    """Called when a kernel reported out-of-range coordinates: name the first bad event."""
    x, y = events["x"], events["y"]
    bad = np.flatnonzero((x < 0) | (x >= width) | (y < 0) | (y >= height))
    i = int(bad[0]) if bad.size else -1
    raise EventDataError(
        f"{where}: event {i} at (x={int(x[i])}, y={int(y[i])}) is outside the "
        f"{width}x{height} sensor"
    )


def check_positive(value: int, key: str) -> None:
    """A count parameter (bins, steps, factor) must be >= 1: the kernels index with it."""
    if int(value) < 1:
        raise ConfigError(f"{key} must be >= 1, got {value}", key=key)


def check_out(out: np.ndarray, shape: tuple[int, ...], where: str) -> None:
    """A caller-supplied output array must have exactly the shape the kernel writes."""
    if tuple(out.shape) != tuple(shape) or not out.flags.c_contiguous:
        raise ConfigError(f"{where}: out must be a C-contiguous array of shape {tuple(shape)}, "
                          f"got shape {tuple(out.shape)}")


@functools.lru_cache(maxsize=64)
def count_limit(dtype: np.dtype) -> int | float:
    """The largest count a histogram-like array of `dtype` can hold (kernels saturate there)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        return int(np.iinfo(dtype).max)
    if dtype.kind == "f":
        return float("inf")
    raise ConfigError(f"counts need an integer or float dtype, got {dtype}", key="dtype")


def check_window(t_start: int, t_end: int, where: str) -> None:
    if t_end <= t_start:
        raise EventDataError(f"{where}: empty time window [{t_start}, {t_end}) (expected t_end > t_start)")


@numba.njit(cache=True, nogil=True)
def _compact(words, keep, out) -> None:
    j = 0
    for i in range(keep.shape[0]):
        if keep[i]:
            out[j, 0] = words[i, 0]
            out[j, 1] = words[i, 1]
            j += 1


def select(events: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """events[keep] as a new contiguous array, copied 16 bytes at a time by a numba loop
    (numpy's boolean indexing of structured records is several times slower)."""
    events = as_events(events)
    count = int(np.count_nonzero(keep))
    if not events.flags.c_contiguous:
        return events[keep]
    out = np.empty(count, dtype=EVENT_DTYPE)
    if count:
        _compact(events.view(np.int64).reshape(-1, 2), keep, out.view(np.int64).reshape(-1, 2))
    return out

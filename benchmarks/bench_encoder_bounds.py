"""Where the time goes in the two encoder rows that miss 10x tonic (issue 4).

    .venv/bin/python benchmarks/bench_encoder_bounds.py [--events 2000000] [--passes 3]

Same inputs as bench_encoders.py (the real recordings tiled to `--events` events). Each
part below is one variant of the evrt operation with one piece taken out, timed in the
same rounds as the full operation and tonic (best of 7 rounds per pass, contenders taking
turns), so that the difference between two lines is what that piece costs:

- 1280x720 voxel grid (5 bins): the function as users call it (fresh output); the kernel
  into a reused grid (no allocation); the same kernel arithmetic adding into a 256 KB grid
  (every offset masked: the grid stays in the L2 cache, so only the placing is left); the
  kernel's memory traffic with almost no arithmetic (same cells, two adds per event); a loop
  that only reads the event records; a numpy copy of the events.
- 346x260 time-surface node (50 ms windows, 5000-event packets): the node; the node without
  its per-window sampling; without its per-event updates; without both (windowing and
  messages only).

10x tonic is tonic's time / 10, printed beside each block.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

import numba
import numpy as np
from bench_encoders import interleaved, load_davis, load_gen4, tile

from evrt.encoders import functional as E
from evrt.encoders.functional._common import (
    PREFETCH_AHEAD,
    PREFETCH_RING,
    RING_MASK,
    pixel_offset,
    prefetch_for_write,
)
from evrt.encoders.nodes import TimeSurfaceEncoder
from evrt.events import EventPacket, to_tonic

voxel_module = importlib.import_module("evrt.encoders.functional.voxel_grid")
_place, _weights, grid_geometry = voxel_module._place, voxel_module._weights, voxel_module.grid_geometry

_SMALL_GRID_MASK = np.uint64((1 << 16) - 1)  # 64 Ki float32 cells = 256 KB


@numba.njit(nogil=True)
def _voxel_into_small_grid(ev, t_first, t_last, out):
    """`_voxel_kernel`'s arithmetic, every offset masked into the first 256 KB of `out`."""
    width, height, plane, flat, span, top, last_bin, fspan = grid_geometry(out, t_first, t_last)
    bad = 0
    for i in range(ev.shape[0]):
        where, left, k, frac, pol = _place(ev[i], t_first, span, top, fspan, width, height, plane)
        if where != 0:
            bad += 1
            continue
        w_left, w_right = _weights(left, last_bin, frac, pol)
        flat[k & _SMALL_GRID_MASK] += w_left
        if left < last_bin:
            flat[(k + np.uint64(4096)) & _SMALL_GRID_MASK] += w_right
    return bad


@numba.njit(nogil=True)
def _adds_without_arithmetic(ev, t_first, t_last, out):
    """The prefetching kernel's memory traffic with almost none of its arithmetic: each event
    adds two constants to its pixel in two neighbouring planes, the plane chosen by the
    event's index instead of its time (the events are time-sorted and spread evenly over
    the window, so the same cells are touched in about the same order)."""
    width, height, plane, flat, span, top, last_bin, fspan = grid_geometry(out, t_first, t_last)
    n = ev.shape[0]
    per = n // top + 1
    pending = np.empty(PREFETCH_RING, np.uint64)
    placed = 0
    added = 0
    for i in range(n):
        on_sensor, pix = pixel_offset(ev[i], width, height)
        if not on_sensor:
            continue
        k = np.uint64(i // per) * plane + pix
        prefetch_for_write(flat, k)
        prefetch_for_write(flat, k + plane)
        pending[placed & RING_MASK] = k
        placed += 1
        if placed - added > PREFETCH_AHEAD:
            k = pending[added & RING_MASK]
            flat[k] += np.float32(0.25)
            flat[k + plane] += np.float32(0.75)
            added += 1
    return placed


@numba.njit(nogil=True)
def _read_records(ev):
    total = 0
    for i in range(ev.shape[0]):
        e = ev[i]
        total += e.t + e.x + e.y + e.p
    return total


def _report(title: str, names: list[str], runs: list[list[float]], n: int) -> None:
    ms = np.median(np.array(runs), axis=0)  # per contender: median over passes of best-of-rounds
    print(f"\n{title} ({n} events; ms, median over {len(runs)} passes of best-of-7)")
    for name, m in zip(names, ms, strict=True):
        print(f"  {name:<58} {m:7.2f} ms")
    tonic = ms[names.index("tonic")]
    print(f"  {'10x tonic needs':<58} {tonic / 10:7.2f} ms")


def voxel_bounds(events: np.ndarray, g, passes: int) -> None:
    import tonic.functional as tf

    w, h = g.width, g.height
    t0, t1 = np.int64(events["t"][0]), np.int64(events["t"][-1])
    tev = to_tonic(events)
    reused = np.zeros((5, h, w), np.float32)
    words = events.view(np.int64)
    copied = np.empty_like(words)
    small = np.zeros((5, h, w), np.float32)
    spare = np.zeros((5, h, w), np.float32)
    kernel = voxel_module._voxel_kernel_prefetched
    parts = {
        "tonic": lambda: tf.to_voxel_grid_numpy(tev, (w, h, 2), 5),
        "evrt voxel_grid (fresh output, as called)": lambda: E.voxel_grid(events, w, h, 5, int(t0), int(t1)),
        "evrt kernel into a reused grid": lambda: kernel(events, t0, t1, reused),
        "same arithmetic, adds into a 256 KB grid (placing only)": lambda: _voxel_into_small_grid(events, t0, t1, small),
        "same cells and adds, almost no arithmetic (memory only)": lambda: _adds_without_arithmetic(events, t0, t1, spare),
        "read the event records only": lambda: _read_records(events),
        "numpy copy of the events' bytes (int64 words)": lambda: np.copyto(copied, words),
        "numpy sum of the events' bytes (read only)": lambda: words.sum(),
    }
    names = list(parts)
    runs = []
    for p in range(passes):
        print(f"voxel pass {p + 1}/{passes}", file=sys.stderr)
        mev = interleaved(list(parts.values()), [events.shape[0]] * len(parts), rounds=7)
        runs.append([events.shape[0] / m / 1e3 for m in mev])
    _report("1280x720 voxel grid, 5 bins", names, runs, events.shape[0])


class _NodeWithout(TimeSurfaceEncoder):
    """The time-surface node with its updates and/or its sampling left out."""

    def __init__(self, update: bool, sample: bool, **kw) -> None:
        super().__init__(**kw)
        self._do_update, self._do_sample = update, sample

    def encode(self, window):  # TimeSurfaceEncoder.encode, with the two pieces switchable
        anchor = self.anchor_for(window)
        if self._do_update:
            for part in window.parts:
                self._update(part, anchor, self._inv_tau)
        out = self.ring.take(None)
        if self._do_sample:
            E.sample_decay_state(self.state, window.t_end - self.anchor, self.tau, out=out)
        return self._msg(out, window, tau_us=self.tau)


def node_bounds(events: np.ndarray, g, passes: int) -> None:
    import tonic.functional as tf

    n = events.shape[0]
    whole = EventPacket(events, g)
    packets = [whole[i:i + 5000] for i in range(0, n, 5000)]
    tev = to_tonic(events)

    def stream(make):
        def go():
            node = make()
            for packet in packets:
                node.process(packet)
            node.finish()
        return go

    kw = {"tau_us": 50_000.0, "window_us": 50_000}
    parts = {
        "tonic": lambda: tf.to_timesurface_numpy(tev, (g.width, g.height, 2), dt=50_000, tau=50_000.0,
                                                 include_incomplete=True),
        "evrt time-surface node": stream(lambda: TimeSurfaceEncoder(**kw)),
        "node without sampling": stream(lambda: _NodeWithout(True, False, **kw)),
        "node without updates": stream(lambda: _NodeWithout(False, True, **kw)),
        "node without both (windowing, messages)": stream(lambda: _NodeWithout(False, False, **kw)),
    }
    names = list(parts)
    runs = []
    for p in range(passes):
        print(f"node pass {p + 1}/{passes}", file=sys.stderr)
        mev = interleaved(list(parts.values()), [n] * len(parts), rounds=7)
        runs.append([n / m / 1e3 for m in mev])
    _report("346x260 time-surface node, 50 ms windows, 5000-event packets", names, runs, n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    t = time.perf_counter()
    base, g = load_gen4()
    voxel_bounds(tile(base, args.events), g, args.passes)
    base, g = load_davis()
    node_bounds(tile(base, args.events), g, args.passes)
    print(f"\n({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()

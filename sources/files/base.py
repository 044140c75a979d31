"""The `Reader` every file format implements, and the packet cutting they all share.

A format module only has to decode its file into a stream of *blocks* (`_blocks`): event
arrays in file order, tagged with their stream name and byte offset, plus ready messages
(`Frame`, `Imu`, `Trigger`) for the other streams. Cutting those blocks into packets by time
window or event count, clipping to `[t_start, t_end)`, checking that time never goes
backwards, seeking and `info()` live here, so every format behaves the same and a packet
sequence always equals "read the whole file, then slice it".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from evrt.errors import ConfigError, FormatError
from evrt.events import EVENT_DTYPE, EventPacket, Geometry


@dataclass
class EventBlock:
    """Decoded events of one stream, in file order, and where in the file they came from."""

    stream: str
    events: np.ndarray
    offset: int
    """Byte offset of the block's first record (used to name the place of a bad timestamp)."""
    record_size: int = 0
    """Bytes per event record when it is fixed (lets errors point at the exact record), else 0."""
    ordered: bool = False
    """The decoder already checked that time never decreases inside the block."""


@dataclass
class _Summary:
    stream: str
    n: int
    t0: int
    t1: int


class Reader:
    """A streaming reader of one recorded file.

    Subclasses set `path`, `format`, `geometry`, `streams` (name -> kind: "events",
    "frames", "imu", "triggers", "depth", ...) and implement `_blocks(t_start, t_end)`.
    Memory stays bounded by one file block plus one output packet.
    """

    path: str
    format: str = "unknown"
    filters_streams: bool = False
    """True when `_blocks` takes `streams=` (a set of names, or None) and skips the others
    without decoding them; the base class filters again either way."""
    geometry: Geometry
    streams: dict[str, str]

    def __init__(self, path: Any) -> None:
        self.path = str(path)
        self.streams = {}
        self._seek_t: int | None = None
        self._closed = False

    # -- what a format implements ------------------------------------------------------

    def _blocks(self, t_start: int | None, t_end: int | None) -> Iterator[Any]:
        """Yield `EventBlock`s and other messages in file order.

        `t_start`/`t_end` are hints: a format with an index should start at the first block
        that may hold `t >= t_start` and may stop after `t_end`; the base class clips exactly.
        """
        raise NotImplementedError

    # -- the public interface ------------------------------------------------------------

    def packets(
        self,
        window_us: int | None = None,
        count: int | None = None,
        t_start: int | None = None,
        t_end: int | None = None,
        streams: list[str] | None = None,
    ) -> Iterator[Any]:
        """Stream the file as messages.

        Event packets are cut into windows `[t0 + k*window_us, t0 + (k+1)*window_us)` (t0 =
        `t_start`, or the stream's first event; empty windows are skipped) and/or into runs
        of `count` events (with both, each window is split into runs of at most `count`).
        With neither, the file's own packets are passed on. Other streams (frames, IMU,
        triggers) come as their own messages, in file order. `streams` selects stream names.
        """
        if window_us is not None and int(window_us) <= 0:
            raise ConfigError(f"window_us must be > 0, got {window_us}", key="window_us")
        if count is not None and int(count) <= 0:
            raise ConfigError(f"count must be > 0, got {count}", key="count")
        if t_start is None:
            t_start = self._seek_t
        if t_start is not None and t_end is not None and t_end <= t_start:
            return
        wanted = set(streams) if streams is not None else None
        cutters: dict[str, _Cutter] = {}
        last_t: dict[str, tuple[int, int]] = {}
        blocks = (self._blocks(t_start, t_end, streams=wanted) if self.filters_streams
                  else self._blocks(t_start, t_end))
        for item in blocks:
            if isinstance(item, EventBlock):
                if wanted is not None and item.stream not in wanted:
                    continue
                ev = item.events
                if ev.size == 0:
                    continue
                self._check_order(item, last_t)
                t = ev["t"]
                if t_start is not None and t[0] < t_start:
                    ev = ev[int(np.searchsorted(t, t_start, side="left")):]
                    t = ev["t"]
                stop = False
                if t_end is not None and t.size and t[-1] >= t_end:
                    ev = ev[: int(np.searchsorted(t, t_end, side="left"))]
                    stop = True
                cutter = cutters.get(item.stream)
                if cutter is None:
                    cutter = cutters[item.stream] = _Cutter(
                        self.geometry, item.stream, window_us, count, t_start, t_end)
                if ev.size:
                    yield from cutter.push(ev)
                if stop:
                    cutter.reached_end = True
                    if all(k in cutters and cutters[k].reached_end
                           for k in self._event_streams(wanted)):
                        break
            else:
                if wanted is not None and getattr(item, "stream", None) not in wanted:
                    continue
                item = _clip_message(item, t_start, t_end)
                if item is None:
                    continue
                ts = item.t_start
                # events of earlier, complete windows go first so time stays ordered
                for cutter in cutters.values():
                    yield from cutter.release_before(ts)
                yield item
        for cutter in cutters.values():
            yield from cutter.flush()

    def read_all(self, stream: str | None = None, t_start: int | None = None,
                 t_end: int | None = None) -> np.ndarray:
        """All events of one stream (default: the first event stream) as one array."""
        name = stream or self.event_stream
        parts = [m.events for m in self.packets(t_start=t_start, t_end=t_end, streams=[name])
                 if isinstance(m, EventPacket)]
        return concat_exact(parts)

    def seek(self, t_us: int) -> None:
        """The next `packets()` without an explicit `t_start` begins at the first event with t >= t_us."""
        self._seek_t = int(t_us)

    def info(self) -> dict[str, Any]:
        """Format, sensor size, streams, event count, time range and event rate (one streaming pass)."""
        counts: dict[str, int] = {}
        t_first: int | None = None
        t_last: int | None = None
        events = 0
        seek, self._seek_t = self._seek_t, None  # info describes the whole file
        try:
            for m in self._info_pass():
                if isinstance(m, _Summary):
                    events += m.n
                    counts[m.stream] = counts.get(m.stream, 0) + m.n
                    t_first = m.t0 if t_first is None else min(t_first, m.t0)
                    t_last = m.t1 if t_last is None else max(t_last, m.t1)
                else:
                    k = getattr(m, "stream", "?")
                    counts[k] = counts.get(k, 0) + _message_size(m)
        finally:
            self._seek_t = seek
        return self._info_dict(events, t_first, t_last, counts)

    def _info_pass(self) -> Iterator[Any]:
        """Light messages for `info()`: each event packet replaced by its count and time range."""
        for m in self.packets():
            if isinstance(m, EventPacket) and len(m):
                t = m.events["t"]
                yield _Summary(m.stream, len(m), int(t[0]), int(t[-1]))
            elif not isinstance(m, EventPacket):
                yield m

    def close(self) -> None:
        """Release the file. Idempotent."""
        self._closed = True

    def __del__(self) -> None:
        # a reader whose constructor raised (bad header) still closes its file handle
        f = getattr(self, "_file", None)
        if f is not None and not f.closed:
            f.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        g = getattr(self, "geometry", None)
        size = f"{g.width}x{g.height}" if g else "?"
        return f"<{type(self).__name__} {self.format} {size} {self.path}>"

    # -- helpers for formats ---------------------------------------------------------------

    @property
    def event_stream(self) -> str:
        """The name of the first event stream (usually "events")."""
        for name, kind in self.streams.items():
            if kind == "events":
                return name
        raise FormatError(self.path, None, "the file has no event stream")

    def _info_dict(self, events: int, t_first: int | None, t_last: int | None,
                   counts: dict[str, int]) -> dict[str, Any]:
        duration = (t_last - t_first) if t_first is not None and t_last is not None else 0
        return {
            "path": self.path,
            "format": self.format,
            "width": self.geometry.width,
            "height": self.geometry.height,
            "streams": dict(self.streams),
            "counts": counts,
            "events": int(events),
            "t_first": t_first,
            "t_last": t_last,
            "duration_us": int(duration),
            "event_rate_hz": (events / (duration / 1e6)) if duration > 0 else 0.0,
        }

    def _event_streams(self, wanted: set[str] | None) -> list[str]:
        names = [n for n, k in self.streams.items() if k == "events"]
        return [n for n in names if wanted is None or n in wanted]

    def _check_order(self, block: EventBlock, last_t: dict[str, tuple[int, int]]) -> None:
        """FormatError (file + byte offset) if time goes backwards inside or between blocks."""
        t = block.events["t"]
        prev = last_t.get(block.stream)
        if prev is not None and t[0] < prev[0]:
            raise FormatError(self.path, block.offset,
                              f"stream '{block.stream}': time goes backwards: t={int(t[0])} after "
                              f"t={prev[0]} (expected non-decreasing timestamps)")
        if t.size > 1 and not block.ordered:
            back = np.flatnonzero(t[1:] < t[:-1])
            if back.size:
                i = int(back[0]) + 1
                offset = block.offset + i * block.record_size if block.record_size else block.offset
                where = f"event {i} of the block" if not block.record_size else "this record"
                raise FormatError(self.path, offset,
                                  f"stream '{block.stream}': time goes backwards at {where}: "
                                  f"t={int(t[i])} after t={int(t[i - 1])} "
                                  "(expected non-decreasing timestamps)")
        last_t[block.stream] = (int(t[-1]), block.offset)


def concat_exact(arrays: list[np.ndarray]) -> np.ndarray:
    """Byte-exact concatenation of event arrays (padding bytes kept, unlike numpy's concatenate).

    Readers zero the padding when they decode, so a byte copy is all that is needed here and
    is faster than `evrt.events.concat_events`, which rebuilds padding from untrusted input.
    A single array is returned as is (no copy).
    """
    if not arrays:
        return np.zeros(0, EVENT_DTYPE)
    if len(arrays) == 1:
        return arrays[0]
    raw = np.concatenate([np.ascontiguousarray(a).view(np.uint8) for a in arrays])
    return raw.view(EVENT_DTYPE)


def copy_events(events: np.ndarray) -> np.ndarray:
    """A byte-exact copy (numpy's `.copy()` of a padded structured array leaves padding undefined)."""
    return np.ascontiguousarray(events).view(np.uint8).copy().view(EVENT_DTYPE)


def _clip_message(m: Any, t_start: int | None, t_end: int | None) -> Any:
    """A non-event message limited to [t_start, t_end): sample arrays are sliced, others kept
    or dropped by their start time. None when nothing is left."""
    for name in ("samples", "triggers"):
        a = getattr(m, name, None)
        if a is not None and a.dtype.names and "t" in a.dtype.names:
            t = a["t"]
            lo = int(np.searchsorted(t, t_start, side="left")) if t_start is not None else 0
            hi = int(np.searchsorted(t, t_end, side="left")) if t_end is not None else t.size
            if hi <= lo:
                return None
            if lo == 0 and hi == t.size:
                return m
            part = a[lo:hi]
            return replace(m, **{name: part, "t_start": int(part["t"][0]),
                                 "t_end": int(part["t"][-1]) + 1})
    ts = getattr(m, "t_start", 0)
    if (t_start is not None and ts < t_start) or (t_end is not None and ts >= t_end):
        return None
    return m


def _message_size(m: Any) -> int:
    for name in ("samples", "triggers"):
        a = getattr(m, name, None)
        if a is not None:
            return int(len(a))
    return 1


class _Cutter:
    """Cuts one event stream into packets by window and/or count, across block boundaries."""

    def __init__(self, geometry: Geometry, stream: str, window_us: int | None,
                 count: int | None, t_start: int | None, t_end: int | None) -> None:
        self.geometry = geometry
        self.stream = stream
        self.window = int(window_us) if window_us is not None else None
        self.count = int(count) if count is not None else None
        self.t_start = t_start
        self.t_end = t_end
        self.win_start: int | None = None
        self.pending: list[np.ndarray] = []
        self.pending_n = 0
        self.reached_end = False

    def _packet(self, ev: np.ndarray, t0: int | None = None, t1: int | None = None) -> EventPacket:
        return EventPacket(ev, self.geometry, self.stream, t0, t1)

    def _by_count(self, ev: np.ndarray, t0: int | None, t1: int | None) -> Iterator[EventPacket]:
        """A finished window split into runs of `count` (window bounds kept on the first/last)."""
        if self.count is None or ev.size <= self.count:
            yield self._packet(ev, t0, t1)
            return
        n = ev.size
        for a in range(0, n, self.count):
            part = ev[a:a + self.count]
            yield self._packet(part, t0 if a == 0 else None, t1 if a + self.count >= n else None)

    def push(self, ev: np.ndarray) -> Iterator[EventPacket]:
        if self.window is None:
            if self.count is None:
                yield self._packet(ev)
                return
            # runs of exactly `count` across block boundaries
            self.pending.append(ev)
            self.pending_n += ev.size
            if self.pending_n < self.count:
                return
            whole = concat_exact(self.pending)
            full = (whole.size // self.count) * self.count
            for a in range(0, full, self.count):
                yield self._packet(whole[a:a + self.count])
            rest = whole[full:]
            self.pending = [rest] if rest.size else []
            self.pending_n = rest.size
            return
        w = self.window
        t = ev["t"]
        if self.win_start is None:
            self.win_start = self.t_start if self.t_start is not None else int(t[0])
            self._skip_empty(int(t[0]))
        while ev.size:
            win_end = self.win_start + w
            k = int(np.searchsorted(t, win_end, side="left"))
            if k == ev.size:
                self.pending.append(ev)
                self.pending_n += ev.size
                return
            if k:
                self.pending.append(ev[:k])
                self.pending_n += k
            yield from self._emit_window()
            ev, t = ev[k:], t[k:]
            self.win_start = win_end
            self._skip_empty(int(t[0]))

    def _skip_empty(self, t_next: int) -> None:
        """Move the window forward to the one holding `t_next` (empty windows are not sent)."""
        assert self.win_start is not None and self.window is not None
        if t_next >= self.win_start + self.window:
            self.win_start += ((t_next - self.win_start) // self.window) * self.window

    def _emit_window(self) -> Iterator[EventPacket]:
        if not self.pending_n:
            return
        assert self.win_start is not None and self.window is not None
        ev = concat_exact(self.pending)
        t1 = self.win_start + self.window
        if self.t_end is not None:
            t1 = min(t1, self.t_end)
        self.pending, self.pending_n = [], 0
        yield from self._by_count(ev, self.win_start, t1)

    def release_before(self, t: int) -> Iterator[EventPacket]:
        """Emit the pending window if it ends at or before `t` (keeps messages in time order)."""
        if self.window is not None and self.win_start is not None \
                and self.win_start + self.window <= t:
            yield from self._emit_window()

    def flush(self) -> Iterator[EventPacket]:
        if not self.pending_n:
            return
        if self.window is not None:
            yield from self._emit_window()
            return
        ev = concat_exact(self.pending)
        self.pending, self.pending_n = [], 0
        yield self._packet(ev)


def empty_block(stream: str, offset: int) -> EventBlock:
    return EventBlock(stream, np.zeros(0, EVENT_DTYPE), offset)

"""Cutting a packet stream into encoder windows, by time (with overlap) or by event count.

A windower holds back only the packets that an unfinished window still needs, so a stream
gives the same windows whether it arrives in one packet or in many. It never concatenates:
a window is a list of views ("parts") into the packets it spans, and the encoders
accumulate part by part into one output.

Time windows are [origin + k * stride, origin + k * stride + window) with stride =
window - overlap; origin is the first packet's `t_start` (or `origin_us` when given). A
window is complete once the stream has provably passed its end: an event at or after it
was seen, or a packet's `t_end - 1` reached it (a packet cut inside a run of identical
timestamps may be followed by more events at its last microsecond). Count windows hold
`count` consecutive events and advance by `count - overlap`; their time range is
[first t, last t + 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evrt.errors import ConfigError, EventDataError
from evrt.events import EventPacket, concat_events, empty_events

_NO_START = -(2**62)  # 'emit no incomplete window'


@dataclass
class Window:
    """One window: its events as views into the packets it spans, and its time range [t_start, t_end)."""

    parts: list[np.ndarray]
    t_start: int
    t_end: int
    index: int

    @property
    def count(self) -> int:
        return sum(int(p.shape[0]) for p in self.parts)

    @property
    def events(self) -> np.ndarray:
        """All the window's events in one array (a view if they sit in one packet, else a copy)."""
        if len(self.parts) == 1:
            return self.parts[0]
        return concat_events(self.parts) if self.parts else empty_events(0)


class TimeWindower:
    """Fixed-duration windows, possibly overlapping, stateful across packets."""

    def __init__(self, window_us: int, overlap_us: int = 0, include_incomplete: bool = True,
                 origin_us: int | None = None) -> None:
        if window_us <= 0:
            raise ConfigError(f"window_us must be > 0, got {window_us}", key="window_us")
        if not 0 <= overlap_us < window_us:
            raise ConfigError(f"overlap_us must be in [0, window_us={window_us}), got {overlap_us}",
                              key="overlap_us")
        self.window = int(window_us)
        self.stride = int(window_us - overlap_us)
        self.include_incomplete = include_incomplete
        self.origin = origin_us
        self.index = 0
        # non-empty, time-sorted packets in arrival order, each kept with its time column and
        # its first and last time (read once: numpy field views cost a microsecond each)
        self.chunks: list[tuple[np.ndarray, np.ndarray, int, int]] = []
        self.stream_end: int | None = None
        self.safe_end: int | None = None
        self.last_t: int | None = None

    def push(self, packet: EventPacket) -> list[Window]:
        """Add a packet; return every window that it completes (a list, not a generator: this
        runs once per packet, and generator frames were a third of its cost)."""
        events = packet.events
        t_end = int(packet.t_end)
        if self.origin is None:
            self.origin = int(packet.t_start)
        last_t = self.last_t
        n = events.shape[0]
        if n:
            t = events["t"]
            first, last = int(t[0]), int(t[n - 1])
            if last_t is not None and first < last_t:
                raise EventDataError(f"time goes backwards across packets: {first} after {last_t}")
            self.last_t = last_t = last
            self.chunks.append((events, t, first, last))
        if last_t is None:
            end, safe = t_end, t_end - 1
        else:
            end = t_end if t_end > last_t else last_t + 1
            safe = t_end - 1 if t_end - 1 > last_t else last_t
        if self.stream_end is None or end > self.stream_end:
            self.stream_end = end
        if self.safe_end is None or safe > self.safe_end:
            self.safe_end = safe
        return self._emit(self.safe_end, _NO_START)

    def _parts(self, a: int, b: int) -> list[np.ndarray]:
        parts = []
        for events, t, first, last in self.chunks:
            if last < a:
                continue
            if first >= b:
                break
            i0 = int(np.searchsorted(t, a, side="left")) if first < a else 0
            i1 = int(np.searchsorted(t, b, side="left")) if last >= b else t.shape[0]
            if i1 > i0:
                parts.append(events[i0:i1])
        return parts

    def _emit(self, complete_until: int, start_until: int) -> list[Window]:
        """Windows whose end is <= complete_until, then (incomplete) ones starting <= start_until."""
        windows = []
        origin, stride, window = self.origin, self.stride, self.window
        while True:
            a = origin + self.index * stride
            b = a + window
            if b > complete_until and a > start_until:
                break
            windows.append(Window(self._parts(a, b), a, b, self.index))
            self.index += 1
        next_start = origin + self.index * stride
        chunks = self.chunks
        drop = 0
        while drop < len(chunks) and chunks[drop][3] < next_start:
            drop += 1
        if drop:
            del chunks[:drop]
        return windows

    def finish(self) -> list[Window]:
        """End of stream: the complete windows left, then (if wanted) the incomplete ones holding events."""
        if self.stream_end is None:
            return []
        if self.include_incomplete and self.last_t is not None:
            start_until = self.last_t
        else:
            start_until = _NO_START
        return self._emit(self.stream_end, start_until)


class CountWindower:
    """Windows of `count` consecutive events advancing by `count - overlap`."""

    def __init__(self, count: int, overlap: int = 0, include_incomplete: bool = True) -> None:
        if count <= 0:
            raise ConfigError(f"window_events must be > 0, got {count}", key="window_events")
        if not 0 <= overlap < count:
            raise ConfigError(f"overlap_events must be in [0, window_events={count}), got {overlap}",
                              key="overlap_events")
        self.count = int(count)
        self.stride = int(count - overlap)
        self.include_incomplete = include_incomplete
        self.index = 0
        self.chunks: list[np.ndarray] = []
        self.first = 0  # stream index of chunks[0][0]
        self.total = 0  # events seen
        self.next_start = 0  # stream index where the next window begins

    def _parts(self, s: int, e: int) -> list[np.ndarray]:
        parts, base = [], self.first
        for chunk in self.chunks:
            n = chunk.shape[0]
            lo, hi = max(s, base), min(e, base + n)
            if hi > lo:
                parts.append(chunk[lo - base:hi - base])
            base += n
            if base >= e:
                break
        return parts

    def _window(self, s: int, e: int) -> Window:
        parts = self._parts(s, e)
        return Window(parts, int(parts[0]["t"][0]), int(parts[-1]["t"][-1]) + 1, self.index)

    def push(self, packet: EventPacket) -> list[Window]:
        """Add a packet; return every window that it completes."""
        windows = []
        if packet.events.size:
            self.chunks.append(packet.events)
            self.total += packet.events.shape[0]
        while self.total - self.next_start >= self.count:
            windows.append(self._window(self.next_start, self.next_start + self.count))
            self.index += 1
            self.next_start += self.stride
        while self.chunks and self.first + self.chunks[0].shape[0] <= self.next_start:
            self.first += self.chunks.pop(0).shape[0]
        return windows

    def finish(self) -> list[Window]:
        """The last, shorter window, if there are events no full window has covered."""
        left = self.total - self.next_start
        if not self.include_incomplete or left <= 0:
            return []
        if self.index > 0 and left <= self.count - self.stride:
            return []  # all of these were already in the previous (overlapping) window
        window = self._window(self.next_start, self.total)
        self.index += 1
        return [window]


def make_windower(window_us: int, overlap_us: int, window_events: int, overlap_events: int,
                  include_incomplete: bool) -> TimeWindower | CountWindower:
    """Build the windower a node's parameters ask for; exactly one of window_us / window_events."""
    if (window_us > 0) == (window_events > 0):
        raise ConfigError("set exactly one of window_us (time windows) or window_events "
                          f"(count windows); got window_us={window_us}, window_events={window_events}",
                          key="window_us")
    if window_us > 0:
        return TimeWindower(window_us, overlap_us, include_incomplete)
    return CountWindower(window_events, overlap_events, include_incomplete)

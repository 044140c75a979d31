"""The `file` source node: replays a recording through a graph.

Pacing is the runner's job: `speed` (1.0 = real time, 2.0 = twice as fast, 0 = as fast as
possible) is read by the runner, which sleeps until each packet's end time and reports how
far it runs behind (`lag_ms` in the live stats and the run's stats JSON).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from evrt.errors import ConfigError
from evrt.events import EventPacket
from evrt.graph.node import Source
from evrt.sources.files.base import copy_events


class FileSource(Source):
    """Replays a recorded file (AEDAT 2/3.1/4, Prophesee RAW/DAT, MVSEC, DSEC) packet by packet."""

    def __init__(self, path: str, window_us: int = 0, count: int = 0, start_us: int = -1,
                 end_us: int = -1, relative: bool = True, loop: bool = False,
                 speed: float = 0.0, streams: list[str] | None = None) -> None:
        """window_us / count: packet cut (0 = the file's own packets); start_us / end_us: time
        range (-1 = file start / end), relative to the first event when `relative`;
        loop: replay forever, shifting time so it keeps increasing."""
        if window_us < 0 or count < 0:
            raise ConfigError("window_us and count must be >= 0", key="window_us")
        if speed < 0:
            raise ConfigError(f"speed must be >= 0 (0 = as fast as possible), got {speed}",
                              key="speed")
        self.path = path
        self.window_us = window_us or None
        self.count = count or None
        self.start_us = start_us
        self.end_us = end_us
        self.relative = relative
        self.loop = loop
        self.speed = float(speed)
        self.streams = streams
        self.reader: Any = None
        self.loops_done = 0

    def open(self, context: Any) -> None:
        super().open(context)
        from evrt.sources.files import open_file

        self.reader = open_file(self.path)

    def _range(self) -> tuple[int | None, int | None]:
        base = 0
        if self.relative and (self.start_us >= 0 or self.end_us >= 0):
            info = self.reader.info()
            base = info["t_first"] or 0
        t0 = base + self.start_us if self.start_us >= 0 else None
        t1 = base + self.end_us if self.end_us >= 0 else None
        return t0, t1

    def messages(self) -> Iterator[Any]:
        t0, t1 = self._range()
        shift = 0
        while True:
            first = last = None
            for m in self.reader.packets(self.window_us, self.count, t0, t1, self.streams):
                if first is None:
                    first = m.t_start
                last = max(last or m.t_end, m.t_end)
                if shift:
                    m = _shifted(m, shift)
                yield m
            self.loops_done += 1
            if not self.loop or first is None:
                return
            shift += (last - first) + 1 if last is not None else 1

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


def _shifted(m: Any, shift: int) -> Any:
    """A copy of a message moved `shift` µs later (looped replay keeps time increasing)."""
    if isinstance(m, EventPacket):
        ev = copy_events(m.events)
        ev["t"] += shift
        return EventPacket(ev, m.geometry, m.stream, m.t_start + shift, m.t_end + shift, dict(m.meta))
    for name in ("samples", "triggers"):
        a = getattr(m, name, None)
        if a is not None:
            a = a.copy()
            a["t"] += shift
            return replace(m, **{name: a, "t_start": m.t_start + shift, "t_end": m.t_end + shift})
    return replace(m, t_start=m.t_start + shift, t_end=m.t_end + shift)

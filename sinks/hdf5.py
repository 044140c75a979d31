"""HDF5 writer in the DSEC `events.h5` layout, as a plain class and as the sink `hdf5`.

Layout: `events/x`, `events/y` (uint16), `events/p` (uint8), `events/t` (uint32 µs
relative to `t_offset`), `ms_to_idx` (uint64: index of the first event with
`t >= ms * 1000`, one entry per millisecond plus a final end entry) and `t_offset`
(int64 µs). The sensor size goes into the root attributes `width` / `height` (DSEC's own
files have none and mean 640 x 480). Columns are chunked and compressed (Blosc/ZSTD through `hdf5plugin`, like
DSEC; or gzip, readable without plugins). Events are buffered up to one chunk and
appended, and `ms_to_idx` grows as the milliseconds close, so memory stays bounded. The
file is written under `<path>.partial` and renamed on close: a file under its final
name is always complete.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from evrt.errors import ConfigError, EventDataError
from evrt.events import EventPacket, Geometry, concat_events
from evrt.graph.node import Sink

COMPRESSIONS = ("zstd", "gzip", "none")
_COLUMNS = (("x", np.uint16), ("y", np.uint16), ("p", np.uint8), ("t", np.uint32))


def _filter_kwargs(compression: str) -> dict[str, Any]:
    if compression == "zstd":
        import hdf5plugin

        return dict(hdf5plugin.Blosc(cname="zstd", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    return {}


class DsecWriter:
    """Append event arrays (non-decreasing t) to a DSEC-layout HDF5 file; `close()` finishes it."""

    def __init__(self, path: str, compression: str = "zstd", chunk_events: int = 1 << 18,
                 t_offset: int | None = None, geometry: Geometry | None = None) -> None:
        import h5py

        if compression not in COMPRESSIONS:
            raise ConfigError(f"compression must be one of {COMPRESSIONS}, got {compression!r}",
                              key="compression")
        self.path = str(path)
        self.partial = self.path + ".partial"
        self.chunk = max(1, int(chunk_events))
        self.t_offset = t_offset
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self.file = h5py.File(self.partial, "w")
        self.geometry = geometry
        filters = _filter_kwargs(compression)
        group = self.file.create_group("events")
        self.columns = {
            name: group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype,
                                       chunks=(self.chunk,), **filters)
            for name, dtype in _COLUMNS
        }
        self.ms_to_idx = self.file.create_dataset("ms_to_idx", shape=(0,), maxshape=(None,),
                                                  dtype=np.uint64, chunks=(4096,), **filters)
        self.pending: list[np.ndarray] = []
        self.pending_n = 0
        self.written = 0
        self.next_ms = 0
        self.last_t: int | None = None

    def append(self, events: np.ndarray) -> None:
        """Queue events; whole chunks are written as soon as they are complete."""
        if events.size == 0:
            return
        t = events["t"]
        if self.last_t is not None and t[0] < self.last_t or np.any(t[1:] < t[:-1]):
            raise EventDataError(f"{self.path}: time goes backwards in the events to write "
                                 "(DSEC layout needs non-decreasing timestamps)")
        if self.t_offset is None:
            self.t_offset = int(t[0])
        if int(t[0]) < self.t_offset or int(t[-1]) - self.t_offset >= 1 << 32:
            raise EventDataError(f"{self.path}: t={int(t[-1])} does not fit uint32 µs after "
                                 f"t_offset={self.t_offset} (DSEC layout)")
        self.last_t = int(t[-1])
        self.pending.append(events)
        self.pending_n += events.size
        if self.pending_n >= self.chunk:
            self._flush(whole_chunks_only=True)

    def _flush(self, whole_chunks_only: bool) -> None:
        if not self.pending_n:
            return
        ev = concat_events(self.pending) if len(self.pending) > 1 else self.pending[0]
        n = (ev.size // self.chunk) * self.chunk if whole_chunks_only else ev.size
        if n == 0:
            return
        out, rest = ev[:n], ev[n:]
        a = self.written
        rel = out["t"] - self.t_offset
        for name, dtype in _COLUMNS:
            col = self.columns[name]
            col.resize((a + n,))
            col[a:] = (rel if name == "t" else out[name]).astype(dtype)
        # every millisecond that starts at or before the last event written is now decided
        last_ms = int(rel[-1]) // 1000
        if last_ms >= self.next_ms:
            ms = np.arange(self.next_ms, last_ms + 1, dtype=np.int64)
            idx = a + np.searchsorted(rel, ms * 1000, side="left")
            self._append_ms(idx)
            self.next_ms = last_ms + 1
        self.written = a + n
        self.pending = [rest] if rest.size else []
        self.pending_n = int(rest.size)

    def _append_ms(self, idx: np.ndarray) -> None:
        m = self.ms_to_idx.shape[0]
        self.ms_to_idx.resize((m + idx.size,))
        self.ms_to_idx[m:] = idx.astype(np.uint64)

    def close(self) -> None:
        """Write what is buffered, the final ms_to_idx entry and t_offset; rename into place."""
        if self.file is None:
            return
        try:
            self._flush(whole_chunks_only=False)
            self._append_ms(np.array([self.written], np.int64))  # end entry
            self.file.create_dataset("t_offset", data=np.int64(self.t_offset or 0))
            if self.geometry is not None:
                self.file.attrs["width"] = int(self.geometry.width)
                self.file.attrs["height"] = int(self.geometry.height)
        finally:
            self.file.close()
            self.file = None
        os.replace(self.partial, self.path)


def write_dsec(path: str, events: np.ndarray, **kw: Any) -> None:
    """Write one event array as a DSEC `events.h5` (tests, conversions)."""
    writer = DsecWriter(path, **kw)
    try:
        writer.append(events)
    finally:
        writer.close()


class Hdf5Sink(Sink):
    """Records one event stream into a compressed HDF5 file in the DSEC layout.

    `stream` picks the event stream (default: the first one that arrives); other streams
    are counted and skipped. `compression`: zstd (Blosc, as DSEC), gzip or none.
    """

    def __init__(self, path: str, stream: str = "", compression: str = "zstd",
                 chunk_events: int = 262144) -> None:
        if compression not in COMPRESSIONS:
            raise ConfigError(f"compression must be one of {COMPRESSIONS}, got {compression!r}",
                              key="compression")
        self.path = path
        self.stream = stream
        self.compression = compression
        self.chunk_events = chunk_events
        self.skipped: dict[str, int] = {}
        self.writer: DsecWriter | None = None

    def open(self, context: Any) -> None:
        super().open(context)
        self.writer = DsecWriter(self.path, self.compression, self.chunk_events)

    def process(self, message: Any) -> None:
        if not isinstance(message, EventPacket):
            self.skipped[message.stream] = self.skipped.get(message.stream, 0) + 1
            return
        if not self.stream:
            self.stream = message.stream
        if message.stream != self.stream:
            self.skipped[message.stream] = self.skipped.get(message.stream, 0) + 1
            return
        assert self.writer is not None
        if self.writer.geometry is None:
            self.writer.geometry = message.geometry
        self.writer.append(message.events)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

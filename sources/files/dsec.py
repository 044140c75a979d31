"""DSEC `events.h5`: `events/{x,y,p,t}` columns, `ms_to_idx` and `t_offset` (640 x 480).

The sensor size is DSEC's 640 x 480 unless the root attributes `width` / `height` (which
evrt's writer adds) say otherwise.

`t` is uint32 µs relative to `t_offset`; `ms_to_idx[ms]` is the index of the first event
with `t >= ms * 1000`, which makes seeking one lookup. The files are Blosc/ZSTD
compressed, so `hdf5plugin` is imported before h5py opens them. Events are read in
index blocks, never whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from evrt.errors import FormatError
from evrt.events import EVENT_DTYPE, Geometry
from evrt.sources.files.base import Reader
from evrt.sources.files.hdf5_common import (
    PACK_BACKWARDS,
    event_block,
    is_hdf5,
    open_h5,
    pack_columns,
    raise_pack_error,
)

NAME = "dsec"
DSEC_CAMERA = Geometry(640, 480)
DEFAULT_BLOCK_EVENTS = 1 << 20
FIELDS = ("x", "y", "p", "t")


def detect(head: bytes) -> bool:
    """Any HDF5 file; `open_reader` checks for the DSEC layout (`events/t`, `ms_to_idx`)."""
    return is_hdf5(head)


class DsecReader(Reader):
    """Streaming DSEC reader: one event stream "events"; seeks through `ms_to_idx`."""

    format = NAME

    def __init__(self, path: Any, geometry: Geometry | None = None,
                 block_events: int = DEFAULT_BLOCK_EVENTS) -> None:
        super().__init__(path)
        self._h5 = open_h5(self.path)
        missing = [f"events/{f}" for f in FIELDS if f"events/{f}" not in self._h5]
        if missing or "ms_to_idx" not in self._h5:
            self._h5.close()
            raise FormatError(self.path, None, "not a DSEC events file: missing "
                              + ", ".join(missing + ([] if missing else ["ms_to_idx"])))
        self._cols = {f: self._h5[f"events/{f}"] for f in FIELDS}
        sizes = {f: c.shape[0] for f, c in self._cols.items()}
        if len(set(sizes.values())) != 1:
            self._h5.close()
            raise FormatError(self.path, None, f"events/x,y,p,t differ in length: {sizes}")
        self.n_events = sizes["t"]
        self._ms_to_idx = self._h5["ms_to_idx"]
        self.t_offset = int(self._h5["t_offset"][()]) if "t_offset" in self._h5 else 0
        if geometry is None and "width" in self._h5.attrs and "height" in self._h5.attrs:
            geometry = Geometry(int(self._h5.attrs["width"]), int(self._h5.attrs["height"]))
        self.geometry = geometry or DSEC_CAMERA
        self.block_events = max(1, int(block_events))
        self.streams = {"events": "events"}

    def _index_at(self, t_us: int) -> int:
        """An index at or before the first event with t >= t_us (from ms_to_idx)."""
        ms = (int(t_us) - self.t_offset) // 1000
        if ms <= 0:
            return 0
        m = self._ms_to_idx.shape[0]
        if ms >= m:
            return int(self._ms_to_idx[m - 1]) if m else 0
        return min(int(self._ms_to_idx[ms]), self.n_events)

    def _blocks(self, t_start: int | None, t_end: int | None) -> Iterator[Any]:
        if self._closed:
            raise FormatError(self.path, None, "reader is closed")
        a = 0 if t_start is None else self._index_at(t_start)
        stop = self.n_events
        if t_end is not None:
            ms_end = -(-(int(t_end) - self.t_offset) // 1000)  # ceil
            if 0 <= ms_end < self._ms_to_idx.shape[0]:
                stop = min(stop, int(self._ms_to_idx[ms_end]))
        last_t = None
        while a < stop:
            b = min(stop, a + self.block_events)
            ev = np.empty(b - a, EVENT_DTYPE)  # every byte is written by _fill
            last_t = self._fill(ev, a, b, last_t)
            yield event_block("events", ev, a)
            a = b

    def _fill(self, ev: np.ndarray, a: int, b: int, last_t: int | None) -> int:
        """Read rows a..b into `ev` (one numba pass, order and coordinates checked)."""
        t, x, y, p = (self._cols[f][a:b] for f in ("t", "x", "y", "p"))
        prev = -(1 << 62) if last_t is None else last_t
        code, i = pack_columns(t, x, y, p, self.t_offset, ev.view(np.int64).reshape(-1, 2),
                               self.geometry.width, self.geometry.height, prev)
        if code:
            before = int(t[i - 1]) + self.t_offset if i > 0 else prev
            raise_pack_error(self.path, "events/t" if code == PACK_BACKWARDS else "events/x,y",
                             a, code, i, (int(t[i]) + self.t_offset, int(x[i]), int(y[i])),
                             before, self.geometry)
        return int(ev["t"][-1]) if b > a else prev

    def read_all(self, stream: str | None = None, t_start: int | None = None,
                 t_end: int | None = None) -> np.ndarray:
        """All events; the whole file is read block by block into one array (no concat)."""
        if (stream not in (None, "events") or t_start is not None or t_end is not None
                or self._seek_t is not None):
            return super().read_all(stream, t_start, t_end)
        if self._closed:
            raise FormatError(self.path, None, "reader is closed")
        out = np.empty(self.n_events, EVENT_DTYPE)  # every byte is written by _fill
        last_t = None
        for a in range(0, self.n_events, self.block_events):
            b = min(self.n_events, a + self.block_events)
            last_t = self._fill(out[a:b], a, b, last_t)
        return out

    def close(self) -> None:
        h = getattr(self, "_h5", None)
        if h is not None:
            h.close()
            self._h5 = None
        super().close()


def open_reader(path: Any, **kw: Any) -> DsecReader:
    return DsecReader(path, **kw)

"""MVSEC `<sequence>_data.hdf5` events (left and right DAVIS 346x260) and `_gt.hdf5` depth.

Events are `davis/<side>/events`, float64 N x 4 (x, y, t in seconds, p in {-1, +1}); they
become µs (rounded) and 0/1 polarity, one event stream per camera ("left", "right"),
read by time range with h5py slices and binary searches, never whole. The ground-truth
file next to it (`<sequence>_gt.hdf5`, found by name or given as `gt=`) adds
`davis/<side>/depth_image_raw|rect` (float32 metres, NaN unknown) with their `_ts`
datasets as `TensorMsg` streams "<side>_depth_raw" / "<side>_depth_rect", and the data
file's APS images `davis/<side>/image_raw` (+ `image_raw_ts`) become `Frame` streams
"<side>_frames"; both are placed in time order between the events.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from evrt.errors import FormatError
from evrt.events import EVENT_DTYPE, Geometry
from evrt.messages import Frame, TensorMsg
from evrt.sources.files.base import Reader
from evrt.sources.files.hdf5_common import (
    event_block,
    is_hdf5,
    open_h5,
    pack_mvsec_rows,
    raise_pack_error,
    search_sorted,
)

NAME = "mvsec"
DAVIS346 = Geometry(346, 260)
SIDES = ("left", "right")
DEPTH_KINDS = ("raw", "rect")
DEFAULT_BLOCK_EVENTS = 1 << 18


def detect(head: bytes) -> bool:
    """Any HDF5 file; `open_reader` checks for the MVSEC layout (`davis/<side>/events`)."""
    return is_hdf5(head)


def seconds_to_us(t: np.ndarray) -> np.ndarray:
    """MVSEC seconds (float64, ROS epoch) -> int64 µs, rounded to the nearest µs."""
    return np.rint(np.asarray(t, dtype=np.float64) * 1e6).astype(np.int64)


def rows_to_events(rows: np.ndarray, out: np.ndarray | None = None, *, path: Any = "<rows>",
                   where: str = "events", first_row: int = 0, last_t: int | None = None,
                   geometry: Geometry = DAVIS346) -> np.ndarray:
    """N x 4 float rows (x, y, t [s], p ±1) -> evrt events (into `out` when given).

    FormatError (naming `where` and the row) if time goes backwards or an event is off the
    sensor."""
    if out is None:
        out = np.empty(rows.shape[0], EVENT_DTYPE)  # every byte is written below
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    prev = -(1 << 62) if last_t is None else last_t
    code, i = pack_mvsec_rows(rows, out.view(np.int64).reshape(-1, 2), geometry.width,
                              geometry.height, prev)
    if code:
        t = int(np.rint(rows[i, 2] * 1e6))
        before = int(out["t"][i - 1]) if i > 0 else prev
        raise_pack_error(path, where, first_row, code, i, (t, int(rows[i, 0]), int(rows[i, 1])),
                         before, geometry)
    return out


def gt_path_for(path: str) -> str | None:
    """`<seq>_data.hdf5` -> `<seq>_gt.hdf5` when that file exists."""
    base = os.path.basename(path)
    if "_data." not in base:
        return None
    candidate = os.path.join(os.path.dirname(path), base.replace("_data.", "_gt.", 1))
    return candidate if os.path.isfile(candidate) else None


class MvsecReader(Reader):
    """Streaming MVSEC reader: "left"/"right" event streams, APS frames, ground-truth depth."""

    format = NAME

    def __init__(self, path: Any, gt: str | None = None, cameras: tuple[str, ...] = SIDES,
                 depth: tuple[str, ...] = DEPTH_KINDS, frames: bool = True,
                 block_events: int = DEFAULT_BLOCK_EVENTS) -> None:
        super().__init__(path)
        self.geometry = DAVIS346
        self.block_events = max(1, int(block_events))
        self._h5 = open_h5(self.path)
        self._events: dict[str, Any] = {}
        for side in cameras:
            ds = self._h5.get(f"davis/{side}/events")
            if ds is None:
                continue
            if ds.ndim != 2 or ds.shape[1] != 4:
                raise FormatError(self.path, None, f"davis/{side}/events has shape {ds.shape}, "
                                  "expected N x 4 (x, y, t, p)")
            self._events[side] = ds
            self.streams[side] = "events"
        if not self._events:
            self._h5.close()
            raise FormatError(self.path, None, "not an MVSEC data file: no davis/left/events "
                              "or davis/right/events dataset")
        self.gt_path = gt if gt is not None else gt_path_for(self.path)
        self._gt = open_h5(self.gt_path) if self.gt_path else None
        # timed image streams: name -> (images dataset, stamps µs, kind)
        self._depth: dict[str, tuple[Any, np.ndarray, str]] = {}
        for side in cameras if frames else ():
            images = self._h5.get(f"davis/{side}/image_raw")
            stamps = self._h5.get(f"davis/{side}/image_raw_ts")
            if images is not None and stamps is not None:
                self._depth[f"{side}_frames"] = (images, seconds_to_us(stamps[()]), "frames")
                self.streams[f"{side}_frames"] = "frames"
        if self._gt is not None:
            for side in SIDES:
                for kind in depth:
                    images = self._gt.get(f"davis/{side}/depth_image_{kind}")
                    stamps = self._gt.get(f"davis/{side}/depth_image_{kind}_ts")
                    if images is None or stamps is None:
                        continue
                    name = f"{side}_depth_{kind}"
                    self._depth[name] = (images, seconds_to_us(stamps[()]), "depth")
                    self.streams[name] = "depth"

    def _times(self, side: str) -> Any:
        ds = self._events[side]
        return lambda a, b: seconds_to_us(ds[a:b, 2])

    def _blocks(self, t_start: int | None, t_end: int | None) -> Iterator[Any]:
        if self._closed:
            raise FormatError(self.path, None, "reader is closed")
        cursors = {}
        for side, ds in self._events.items():
            n = ds.shape[0]
            cursors[side] = 0 if t_start is None else search_sorted(n, self._times(side), t_start)
        last_t: dict[str, int | None] = dict.fromkeys(self._events)
        depth_pos = {name: 0 if t_start is None else int(np.searchsorted(ts, t_start))
                     for name, (_, ts, _) in self._depth.items()}
        big = np.iinfo(np.int64).max
        while True:
            # the block ends where the first stream reaches block_events rows
            end_t = big
            for side, ds in self._events.items():
                c = cursors[side] + self.block_events
                if c < ds.shape[0]:
                    end_t = min(end_t, int(seconds_to_us(ds[c, 2])))
            if t_end is not None:
                end_t = min(end_t, t_end)
            parts: dict[str, np.ndarray] = {}
            for side, ds in self._events.items():
                a = cursors[side]
                n = ds.shape[0]
                if end_t == big:
                    b = n
                else:
                    hi = min(n, a + self.block_events + 1)
                    t_slice = seconds_to_us(ds[a:hi, 2])
                    b = a + int(np.searchsorted(t_slice, end_t, side="left"))
                if b > a:
                    ev = rows_to_events(ds[a:b], path=self.path, where=f"davis/{side}/events",
                                        first_row=a, last_t=last_t[side],
                                        geometry=self.geometry)
                    last_t[side] = int(ev["t"][-1])
                    parts[side] = ev
                cursors[side] = b
            yield from self._merge_depth(parts, cursors, depth_pos, end_t)
            done = all(cursors[s] >= ds.shape[0] for s, ds in self._events.items())
            if done or (t_end is not None and end_t >= t_end):
                if done:
                    yield from self._merge_depth({}, cursors, depth_pos, big if t_end is None
                                                 else t_end)
                return

    def read_all(self, stream: str | None = None, t_start: int | None = None,
                 t_end: int | None = None) -> np.ndarray:
        """All events of one camera; the whole file is read by row blocks into one array."""
        name = stream or self.event_stream
        if (name not in self._events or t_start is not None or t_end is not None
                or self._seek_t is not None):
            return super().read_all(stream, t_start, t_end)
        if self._closed:
            raise FormatError(self.path, None, "reader is closed")
        ds = self._events[name]
        out = np.zeros(ds.shape[0], EVENT_DTYPE)
        last_t = None
        for a in range(0, ds.shape[0], self.block_events):
            b = min(ds.shape[0], a + self.block_events)
            rows_to_events(ds[a:b], out[a:b], path=self.path, where=f"davis/{name}/events",
                           first_row=a, last_t=last_t, geometry=self.geometry)
            last_t = int(out["t"][b - 1])
        return out

    def _merge_depth(self, parts: dict[str, np.ndarray], cursors: dict[str, int],
                     depth_pos: dict[str, int], end_t: int) -> Iterator[Any]:
        """Yield this block's events cut at each image time, with the images between."""
        stamps: list[tuple[int, str, int]] = []
        for name, (_, ts, _) in self._depth.items():
            i = depth_pos[name]
            while i < ts.size and ts[i] < end_t:
                stamps.append((int(ts[i]), name, i))
                i += 1
            depth_pos[name] = i
        stamps.sort()
        done = dict.fromkeys(parts, 0)
        cuts = [s[0] for s in stamps] + [None]
        for k, cut in enumerate(cuts):
            for side, ev in parts.items():
                a = done[side]
                b = ev.size if cut is None else int(np.searchsorted(ev["t"], cut, side="left"))
                if b > a:
                    yield event_block(side, ev[a:b], cursors[side] - ev.size + a)
                done[side] = b
            if cut is not None:
                t, name, i = stamps[k]
                images, _, kind = self._depth[name]
                if kind == "frames":
                    yield Frame(np.asarray(images[i]), name, t, t + 1, {"index": i})
                else:
                    yield TensorMsg(np.asarray(images[i], dtype=np.float32), name, t, t + 1,
                                    {"ground_truth": "depth", "unit": "m", "index": i})

    def close(self) -> None:
        for h in (getattr(self, "_h5", None), getattr(self, "_gt", None)):
            if h is not None:
                h.close()
        self._h5 = self._gt = None
        super().close()


def open_reader(path: Any, **kw: Any) -> MvsecReader:
    return MvsecReader(path, **kw)

"""The one event representation of evrt.

`EVENT_DTYPE` is byte-identical to dv-processing's `EventStore.numpy()` records and to the
AEDAT4 `EVTS` element (16 bytes: int64 t [µs] at 0, int16 x at 8, int16 y at 10, int8 p
at 12, 3 padding bytes). Field names are tonic's (`t, x, y, p`), so tonic transforms can
read an evrt array directly. Time is int64 microseconds everywhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evrt.errors import EventDataError

EVENT_DTYPE = np.dtype(
    {
        "names": ["t", "x", "y", "p"],
        "formats": ["<i8", "<i2", "<i2", "i1"],
        "offsets": [0, 8, 10, 12],
        "itemsize": 16,
    }
)

# The same fields without padding (13 bytes): for digests and comparisons that must not
# see the 3 undefined padding bytes.
PACKED_EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")])

DV_EVENT_DTYPE = np.dtype(
    {
        "names": ["timestamp", "x", "y", "polarity"],
        "formats": ["<i8", "<i2", "<i2", "i1"],
        "offsets": [0, 8, 10, 12],
        "itemsize": 16,
    }
)

TONIC_DTYPE = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])


@dataclass(frozen=True)
class Geometry:
    """Sensor size in pixels; x in [0, width), y in [0, height), origin top-left."""

    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), the numpy/torch image shape."""
        return (self.height, self.width)

    def as_tuple(self) -> tuple[int, int]:
        return (self.width, self.height)


def empty_events(n: int = 0) -> np.ndarray:
    """A zeroed event array of `n` records."""
    return np.zeros(n, dtype=EVENT_DTYPE)


def make_events(t: Any, x: Any, y: Any, p: Any) -> np.ndarray:
    """Build an event array from four columns with one vectorised copy per field."""
    t = np.asarray(t)
    out = np.zeros(t.shape[0], dtype=EVENT_DTYPE)
    out["t"] = t
    out["x"] = x
    out["y"] = y
    out["p"] = p
    return out


def copy_events(events: np.ndarray) -> np.ndarray:
    """A new C-contiguous `EVENT_DTYPE` array holding the same records, padding bytes included.

    The records are copied as int64 words: numpy's copy of this padded record dtype goes
    field by field and measured 4-5x slower (2 M events: ~41 ms against ~8 ms).
    """
    events = as_events(events)
    out = np.empty(events.shape, dtype=EVENT_DTYPE)
    if events.flags.c_contiguous:
        np.copyto(out.view(np.int64), events.view(np.int64))
    else:  # strided records: copied as opaque 16-byte items, still every byte
        np.copyto(out.view(np.void(16).dtype), events.view(np.void(16).dtype))
    return out


def concat_events(arrays: list[np.ndarray]) -> np.ndarray:
    """Concatenate event arrays into one `EVENT_DTYPE` array with zeroed padding bytes.

    numpy 2's concatenate drops the padding (or leaves it undefined when asked for the
    padded dtype), so fields are copied one by one into a zeroed array: the bytes of the
    result are deterministic and digests over them are stable.
    """
    total = sum(int(a.shape[0]) for a in arrays)
    out = np.zeros(total, dtype=EVENT_DTYPE)
    i = 0
    for a in arrays:
        j = i + int(a.shape[0])
        for name in ("t", "x", "y", "p"):
            out[name][i:j] = a[name]
        i = j
    return out


def as_events(array: np.ndarray) -> np.ndarray:
    """View (no copy) any 16-byte array with evrt's layout as `EVENT_DTYPE`.

    Accepts evrt arrays, dv-processing `EventStore.numpy()` results and raw `uint8`
    buffers whose length is a multiple of 16.
    """
    if array.dtype == EVENT_DTYPE:
        return array
    if array.dtype.itemsize == 16 and array.dtype.names is not None:
        fields = array.dtype.fields
        offsets = sorted(v[1] for v in fields.values())
        if offsets == [0, 8, 10, 12]:
            return array.view(EVENT_DTYPE)
    if array.dtype == np.uint8 and array.ndim == 1 and array.size % 16 == 0:
        return array.view(EVENT_DTYPE)
    if array.dtype.names is not None and set(array.dtype.names) == {"t", "x", "y", "p"}:
        return array.astype(EVENT_DTYPE)  # e.g. the packed layout numpy's concatenate returns
    raise EventDataError(
        f"cannot view dtype {array.dtype} as evrt events: expected 16-byte records "
        "(int64 t at 0, int16 x at 8, int16 y at 10, int8 p at 12)"
    )


def from_dv(store: Any) -> np.ndarray:
    """dv-processing `EventStore` (or its `.numpy()` result) -> evrt events.

    The `.numpy()` records are byte-identical to ours, so this is a view of that array.
    """
    array = store if isinstance(store, np.ndarray) else store.numpy()
    return as_events(array)


def to_dv(events: np.ndarray) -> Any:
    """evrt events -> dv-processing `EventStore`.

    dv-processing 2.0's Python binding has no constructor from an array, so this goes
    through `push_back` (C++ per call, ~1-2 Mev/s). Use it at the edge, not on a hot path.
    """
    import dv_processing as dv

    store = dv.EventStore()
    push = store.push_back
    for t, x, y, p in zip(
        events["t"].tolist(), events["x"].tolist(), events["y"].tolist(), events["p"].tolist()
    ):
        push(t, x, y, bool(p))
    return store


def from_tonic(array: np.ndarray) -> np.ndarray:
    """tonic structured array (fields x, y, t, p in any dtype/order) -> evrt events."""
    names = array.dtype.names or ()
    missing = {"x", "y", "t", "p"} - set(names)
    if missing:
        raise EventDataError(f"tonic array lacks fields {sorted(missing)}; has {names}")
    p = array["p"]
    if p.dtype.kind in "if" and p.size and p.min() < 0:
        p = p > 0
    return make_events(array["t"], array["x"], array["y"], p)


def to_tonic(events: np.ndarray, dtype: np.dtype = TONIC_DTYPE) -> np.ndarray:
    """evrt events -> tonic structured array (one vectorised copy per field)."""
    out = np.empty(events.shape[0], dtype=dtype)
    for name in ("x", "y", "t", "p"):
        out[name] = events[name]
    return out


def check_events(events: np.ndarray, geometry: Geometry | None, *, where: str = "events") -> None:
    """Raise `EventDataError` if time goes backwards or a coordinate is off the sensor."""
    if events.size == 0:
        return
    t = events["t"]
    back = np.flatnonzero(t[1:] < t[:-1])
    if back.size:
        i = int(back[0]) + 1
        raise EventDataError(
            f"{where}: time goes backwards at event {i}: t={int(t[i])} after t={int(t[i - 1])} "
            "(expected non-decreasing timestamps)"
        )
    if geometry is not None:
        x, y = events["x"], events["y"]
        bad = np.flatnonzero((x < 0) | (x >= geometry.width) | (y < 0) | (y >= geometry.height))
        if bad.size:
            i = int(bad[0])
            raise EventDataError(
                f"{where}: event {i} at (x={int(x[i])}, y={int(y[i])}) is outside the "
                f"{geometry.width}x{geometry.height} sensor"
            )


class EventChecksum:
    """Count and order-sensitive BLAKE2b digest of event records, to prove end-to-end delivery.

    Hashes the packed fields, so the 3 undefined padding bytes never change a digest.
    """

    def __init__(self) -> None:
        self.count = 0
        self.hash = hashlib.blake2b(digest_size=16)

    def update(self, events: np.ndarray) -> None:
        self.count += int(events.shape[0])
        self.hash.update(events.astype(PACKED_EVENT_DTYPE).tobytes())

    def hexdigest(self) -> str:
        return self.hash.hexdigest()


@dataclass
class EventPacket:
    """A time-sorted run of events from one stream, with its time window `[t_start, t_end)`.

    Slicing is cheap: `packet[a:b]` slices by count and `packet.slice_time(t0, t1)` by time
    (binary search); both return views that share memory with the parent.
    """

    events: np.ndarray
    geometry: Geometry
    stream: str = "events"
    t_start: int | None = None
    t_end: int | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.events = as_events(self.events)
        if self.t_start is None:
            self.t_start = int(self.events["t"][0]) if self.events.size else 0
        if self.t_end is None:
            self.t_end = int(self.events["t"][-1]) + 1 if self.events.size else self.t_start
        self.t_start = int(self.t_start)
        self.t_end = int(self.t_end)

    def __len__(self) -> int:
        return int(self.events.shape[0])

    @classmethod
    def trusted(cls, events: np.ndarray, geometry: Geometry, stream: str, t_start: int, t_end: int,
                meta: dict) -> EventPacket:
        """Build without checks: for transport, where the array already has `EVENT_DTYPE`."""
        self = object.__new__(cls)
        self.events, self.geometry, self.stream = events, geometry, stream
        self.t_start, self.t_end, self.meta = t_start, t_end, meta
        return self

    @property
    def t(self) -> np.ndarray:
        return self.events["t"]

    @property
    def x(self) -> np.ndarray:
        return self.events["x"]

    @property
    def y(self) -> np.ndarray:
        return self.events["y"]

    @property
    def p(self) -> np.ndarray:
        return self.events["p"]

    @property
    def duration(self) -> int:
        return self.t_end - self.t_start

    def _derive(self, events: np.ndarray, t_start: int, t_end: int) -> EventPacket:
        return EventPacket(events, self.geometry, self.stream, t_start, t_end, dict(self.meta))

    def __getitem__(self, item: slice) -> EventPacket:
        if not isinstance(item, slice):
            raise TypeError("EventPacket supports slices by count; index .events for one event")
        events = self.events[item]
        if events.size:
            return self._derive(events, int(events["t"][0]), int(events["t"][-1]) + 1)
        return self._derive(events, self.t_start, self.t_start)

    def slice_time(self, t0: int, t1: int) -> EventPacket:
        """Events with t0 <= t < t1, as a view; the window is clipped to this packet's."""
        t = self.events["t"]
        a = int(np.searchsorted(t, t0, side="left"))
        b = int(np.searchsorted(t, t1, side="left"))
        return self._derive(self.events[a:b], max(t0, self.t_start), min(t1, self.t_end))

    def check(self) -> EventPacket:
        check_events(self.events, self.geometry, where=f"stream '{self.stream}'")
        return self

    @classmethod
    def concat(cls, packets: list[EventPacket]) -> EventPacket:
        if not packets:
            raise ValueError("concat needs at least one packet")
        events = concat_events([p.events for p in packets])
        return cls(events, packets[0].geometry, packets[0].stream, packets[0].t_start, packets[-1].t_end)

    def to_dv(self) -> Any:
        return to_dv(self.events)

    def to_tonic(self) -> np.ndarray:
        return to_tonic(self.events)

    @classmethod
    def from_dv(cls, store: Any, geometry: Geometry, stream: str = "events") -> EventPacket:
        return cls(from_dv(store), geometry, stream)

    @classmethod
    def from_tonic(cls, array: np.ndarray, geometry: Geometry, stream: str = "events") -> EventPacket:
        return cls(from_tonic(array), geometry, stream)

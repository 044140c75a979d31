"""The shared reader framework: packet cutting equals whole-then-slice, seek, detection errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evrt.errors import FormatError
from evrt.events import EVENT_DTYPE, EventPacket, Geometry
from evrt.messages import Trigger
from evrt.sources.files import open_file
from evrt.sources.files.base import EventBlock, Reader, concat_exact


class ArrayReader(Reader):
    """A reader over an in-memory array cut into blocks of given sizes (stands in for a file)."""

    format = "test"

    def __init__(self, events, block_sizes, triggers=()):
        super().__init__("<memory>")
        self.geometry = Geometry(64, 48)
        self.streams = {"events": "events", "triggers": "triggers"}
        self.events = events
        self.block_sizes = block_sizes
        self.triggers = list(triggers)

    def _blocks(self, t_start, t_end):
        a = 0
        sizes = list(self.block_sizes) or [self.events.size]
        i = 0
        trig = list(self.triggers)
        while a < self.events.size:
            n = max(1, sizes[i % len(sizes)])
            i += 1
            block = self.events[a:a + n]
            while trig and trig[0] <= block["t"][0]:
                tt = trig.pop(0)
                yield Trigger(np.array([(tt, 1)], dtype=[("t", "<i8"), ("type", "i1")]),
                              t_start=tt, t_end=tt + 1)
            yield EventBlock("events", block, offset=100 + 16 * a, record_size=16)
            a += n


def _events(deltas):
    ev = np.zeros(len(deltas), EVENT_DTYPE)
    ev["t"] = 1000 + np.cumsum(np.asarray(deltas, dtype=np.int64))
    ev["x"] = np.arange(len(deltas)) % 64
    ev["y"] = np.arange(len(deltas)) % 48
    ev["p"] = np.arange(len(deltas)) % 2
    return ev


@settings(max_examples=60, deadline=None)
@given(deltas=st.lists(st.integers(0, 300), min_size=1, max_size=400),
       sizes=st.lists(st.integers(1, 97), min_size=1, max_size=5),
       window=st.one_of(st.none(), st.integers(1, 2000)),
       count=st.one_of(st.none(), st.integers(1, 150)),
       cut=st.tuples(st.integers(0, 60000), st.integers(0, 60000)))
def test_chunked_equals_whole_then_sliced(deltas, sizes, window, count, cut):
    ev = _events(deltas)
    t_start, t_end = 1000 + min(cut), 1000 + max(cut) + 1
    reader = ArrayReader(ev, sizes)
    packets = [m for m in reader.packets(window, count, t_start, t_end) if isinstance(m, EventPacket)]
    whole = EventPacket(ev, reader.geometry).slice_time(t_start, t_end).events
    got = concat_exact([p.events for p in packets])
    assert got.tobytes() == whole.tobytes()
    for p in packets:
        assert len(p) > 0
        assert p.t_start <= int(p.t[0]) and int(p.t[-1]) < p.t_end
        if count is not None:
            assert len(p) <= count
    if window is not None:
        for p in packets:  # each window's events are exactly the whole array's slice
            w0 = t_start + ((p.t_start - t_start) // window) * window
            ref = EventPacket(whole, reader.geometry).slice_time(w0, w0 + window)
            if count is None:
                assert p.events.tobytes() == ref.events.tobytes()
    elif count is not None:
        assert all(len(p) == count for p in packets[:-1])


def test_seek_starts_at_first_event_at_or_after_time():
    ev = _events([10] * 100)
    reader = ArrayReader(ev, [7])
    reader.seek(int(ev["t"][42]) - 3)
    first = next(m for m in reader.packets() if isinstance(m, EventPacket))
    assert int(first.t[0]) == int(ev["t"][42])


def test_other_streams_keep_time_order_with_windows():
    ev = _events([10] * 100)
    reader = ArrayReader(ev, [5], triggers=[int(ev["t"][50])])
    out = list(reader.packets(window_us=100))
    starts = [m.t_start for m in out]
    assert starts == sorted(starts)
    assert sum(isinstance(m, Trigger) for m in out) == 1


def test_time_going_backwards_names_the_record_offset():
    ev = _events([10] * 20)
    ev["t"][13] = 5
    reader = ArrayReader(ev, [8])
    with pytest.raises(FormatError) as err:
        list(reader.packets())
    assert err.value.offset == 100 + 16 * 13
    assert "backwards" in str(err.value) and "<memory>" in str(err.value)


def test_info_counts_and_rate():
    ev = _events([10] * 101)
    info = ArrayReader(ev, [9]).info()
    assert info["events"] == 101 and info["duration_us"] == 1000
    assert info["event_rate_hz"] == pytest.approx(101_000)
    assert (info["width"], info["height"]) == (64, 48)


def test_unknown_format_names_file_offset_and_known_formats(tmp_path):
    path = tmp_path / "mystery.aedat4"
    path.write_bytes(b"NOT AN EVENT FILE" * 10)
    with pytest.raises(FormatError) as err:
        open_file(path)
    assert err.value.offset == 0 and str(path) in str(err.value)
    assert "unknown file format" in str(err.value)


def test_info_describes_the_whole_file_after_a_seek():
    ev = _events([10] * 101)
    reader = ArrayReader(ev, [9])
    reader.seek(int(ev["t"][50]))
    assert reader.info()["events"] == 101
    assert int(next(iter(reader.packets())).t[0]) == int(ev["t"][50])

"""The event model: layout identical to dv-processing, conversions, packets, invariants."""

from __future__ import annotations

import dv_processing as dv
import numpy as np
import pytest
import tonic.functional as tf

from evrt.errors import EventDataError
from evrt.events import (
    DV_EVENT_DTYPE,
    EVENT_DTYPE,
    PACKED_EVENT_DTYPE,
    EventPacket,
    Geometry,
    as_events,
    check_events,
    concat_events,
    copy_events,
    from_dv,
    from_tonic,
    make_events,
    to_dv,
    to_tonic,
)
from evrt.sources.synthetic.patterns import PatternSource


def _sample(n: int = 1000, seed: int = 1) -> np.ndarray:
    return PatternSource("poisson", width=64, height=48, duration=n / 1e6 * 10, rate=1e5, seed=seed).all_events()


def test_dtype_is_byte_identical_to_dv_processing():
    store = dv.EventStore()
    store.push_back(1633953690975950, 218, 15, True)
    store.push_back(1633953690975951, 17, 259, False)
    raw = store.numpy()
    assert raw.dtype.itemsize == EVENT_DTYPE.itemsize == 16
    assert [raw.dtype.fields[n][1] for n in DV_EVENT_DTYPE.names] == [0, 8, 10, 12]
    ev = from_dv(store)
    assert ev.dtype == EVENT_DTYPE
    assert ev["t"].tolist() == [1633953690975950, 1633953690975951]
    assert ev["x"].tolist() == [218, 17] and ev["y"].tolist() == [15, 259]
    assert ev["p"].tolist() == [1, 0]


def test_from_dv_numpy_is_a_view_not_a_copy():
    store = dv.EventStore()
    for i in range(10):
        store.push_back(i, i, i, bool(i % 2))
    raw = store.numpy()
    ev = from_dv(raw)
    assert np.shares_memory(ev, raw)


def test_dv_round_trip_keeps_every_field():
    ev = _sample()
    back = from_dv(to_dv(ev))
    for f in "txyp":
        np.testing.assert_array_equal(back[f], ev[f])


def test_tonic_round_trip_and_tonic_transform_reads_evrt_arrays():
    ev = _sample()
    tarr = to_tonic(ev)
    back = from_tonic(tarr)
    for f in "txyp":
        np.testing.assert_array_equal(back[f], ev[f])
    # tonic's functional core accepts an evrt array directly (same field names)
    frames_evrt = tf.to_frame_numpy(ev, sensor_size=(64, 48, 2), n_time_bins=3)
    frames_tonic = tf.to_frame_numpy(tarr, sensor_size=(64, 48, 2), n_time_bins=3)
    np.testing.assert_array_equal(frames_evrt, frames_tonic)
    assert frames_evrt.sum() > 0


def test_tonic_signed_polarity_maps_to_on_off():
    arr = np.zeros(3, dtype=[("x", int), ("y", int), ("t", int), ("p", int)])
    arr["p"] = [-1, 1, -1]
    assert from_tonic(arr)["p"].tolist() == [0, 1, 0]


def test_concat_keeps_layout_and_as_events_converts_packed():
    a = make_events([1, 2], [0, 1], [0, 1], [1, 0])
    c = concat_events([a, a])
    assert c.dtype == EVENT_DTYPE and c.size == 4
    packed = np.concatenate([a, a])  # numpy 2 drops the padding here
    assert as_events(packed).dtype == EVENT_DTYPE


def test_packet_slicing_by_time_and_count_are_views():
    ev = make_events(np.arange(0, 100, 10), np.arange(10), np.zeros(10), np.ones(10))
    pk = EventPacket(ev, Geometry(16, 16))
    assert (pk.t_start, pk.t_end, len(pk)) == (0, 91, 10)
    s = pk.slice_time(15, 45)
    assert s.t.tolist() == [20, 30, 40] and (s.t_start, s.t_end) == (15, 45)
    assert np.shares_memory(s.events, ev)
    c = pk[2:5]
    assert c.t.tolist() == [20, 30, 40] and np.shares_memory(c.events, ev)
    assert len(pk.slice_time(1000, 2000)) == 0


def test_check_events_names_the_problem():
    ev = make_events([5, 3], [0, 0], [0, 0], [1, 1])
    with pytest.raises(EventDataError, match="backwards at event 1"):
        check_events(ev, None)
    ev = make_events([1, 2], [0, 40], [0, 0], [1, 1])
    with pytest.raises(EventDataError, match=r"\(x=40, y=0\) is outside the 32x32"):
        check_events(ev, Geometry(32, 32))


def test_concat_zeroes_padding_bytes_even_from_uninitialised_inputs():
    a = np.empty(50_000, dtype=EVENT_DTYPE)  # padding bytes hold whatever was in memory
    a.view(np.uint8).reshape(-1, 16)[:, 13:] = 0xAB
    a["t"], a["x"], a["y"], a["p"] = np.arange(a.size), 1, 2, 1
    c = concat_events([a, a[:10]])
    assert not c.view(np.uint8).reshape(-1, 16)[:, 13:].any()
    np.testing.assert_array_equal(c["t"][:a.size], a["t"])


def test_copy_events_copies_every_byte_into_new_memory():
    a = np.empty(1001, dtype=EVENT_DTYPE)
    a.view(np.uint8)[:] = np.arange(a.nbytes) % 251  # every byte differs from its neighbours
    c = copy_events(a)
    assert c.dtype == EVENT_DTYPE and c.flags.c_contiguous and not np.shares_memory(a, c)
    assert c.tobytes() == a.tobytes()  # padding bytes too (the word copy moves all 16)
    strided = a[::3]
    s = copy_events(strided)
    assert s.flags.c_contiguous and s.tobytes() == b"".join(r.tobytes() for r in strided)
    packed = copy_events(a.astype(PACKED_EVENT_DTYPE))
    assert packed.dtype == EVENT_DTYPE
    for name in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(packed[name], a[name])
    assert copy_events(a[:0]).shape == (0,)

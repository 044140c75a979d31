"""Kernel details the speed work relies on: unsigned bounds checks, saturating counts, the vectorised exp."""

from __future__ import annotations

import numpy as np
import pytest

from evrt.encoders import functional as F
from evrt.encoders.functional._common import NEVER, PREFETCH_AHEAD
from evrt.errors import EventDataError
from evrt.events import make_events

W, H = 6, 5


@pytest.mark.parametrize("x, y", [(-1, 0), (0, -1), (-32768, 2), (2, -32768), (W, 0), (0, H), (32767, 32767)])
def test_every_kernel_rejects_a_coordinate_off_the_sensor(x, y):
    ev = make_events([1, 2, 3], [1, x, 2], [1, y, 2], [1, 0, 1])
    calls = [
        ("histogram", lambda: F.histogram(ev, W, H)),
        ("voxel_grid", lambda: F.voxel_grid(ev, W, H, 3, 1, 3)),
        ("time_surface", lambda: F.update_time_state(ev, F.new_time_state(W, H))),
        ("time_surface", lambda: F.update_decay_state(ev, F.new_decay_state(W, H), 3, 10.0)),
        ("spike_tensor", lambda: F.spike_tensor(ev, W, H, 2, 1, 4)),
        ("event_image", lambda: F.event_image(ev, W, H)),
    ]
    for name, call in calls:
        with pytest.raises(EventDataError, match=rf"{name}: event 1 at \(x={x}, y={y}\) is outside the {W}x{H}"):
            call()
    # the in-range events were still counted before the error
    hist = np.zeros((2, H, W), np.int32)
    with pytest.raises(EventDataError):
        F.histogram(ev, W, H, out=hist)
    assert hist.sum() == 2 and hist[1, 1, 1] == 1 and hist[1, 2, 2] == 1


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
def test_integer_counts_saturate_instead_of_wrapping(dtype):
    top = int(np.iinfo(dtype).max)
    n = top + 40
    ev = make_events(np.arange(n), np.full(n, 2), np.full(n, 3), np.ones(n))
    hist = F.histogram(ev, W, H, dtype=dtype)
    assert hist[1, 3, 2] == top and hist.sum() == top
    # accumulating into the same frame in pieces saturates at the same value
    acc = np.zeros((2, H, W), dtype)
    for i in range(0, n, 17):
        F.histogram(ev[i:i + 17], W, H, out=acc)
    np.testing.assert_array_equal(acc, hist)
    floats = F.histogram(ev, W, H, dtype=np.float32)
    assert floats[1, 3, 2] == n


def test_vectorised_exp_equals_libm_rounded_to_float32():
    """The surface uses a polynomial exp; check it cell by cell against numpy's exp (float64,
    then rounded to float32), over ages from 0 to 110 tau: normal, subnormal and zero outputs."""
    rng = np.random.default_rng(3)
    tau = 1000.0
    ages = np.concatenate([np.arange(0, 5000), rng.integers(0, 110_000, 400_000),
                           np.arange(86_000, 105_000)])  # float32 subnormals start near 87.3 tau
    t_ref = 10**12
    state = (t_ref - ages).astype(np.int64)
    state[::97] = NEVER
    state = state[: state.size // 2 * 2].reshape(2, 1, -1)
    got = F.sample_time_surface(state, t_ref, tau)
    want = np.where(state == NEVER, 0.0, np.exp(-(t_ref - state) / tau)).astype(np.float32)
    assert np.count_nonzero(got != want) == 0
    assert (got[state == NEVER] == 0).all()
    assert np.count_nonzero((want > 0) & (want < np.finfo(np.float32).tiny)) > 1000  # subnormals covered
    assert np.count_nonzero(want == 0) > np.count_nonzero(state == NEVER)  # and underflow to 0


def test_merged_polarity_time_surface_node_and_bad_states():
    from evrt.encoders.nodes import TimeSurfaceEncoder
    from evrt.errors import ConfigError
    from evrt.events import EventPacket, Geometry

    ev = make_events([10, 20, 30], [1, 1, 2], [1, 1, 2], [1, 0, 0])
    node = TimeSurfaceEncoder(tau_us=10.0, polarities=1, window_us=40)
    msgs = [*node.process(EventPacket(ev, Geometry(W, H), t_start=0, t_end=40)), *node.finish()]
    (m,) = msgs
    assert m.data.shape == (1, H, W)
    assert m.data[0, 1, 1] == np.float32(np.exp(-2.0))  # the OFF event at t=20 is the latest
    assert m.data[0, 2, 2] == np.float32(np.exp(-1.0))
    with pytest.raises(ConfigError, match="polarities"):
        TimeSurfaceEncoder(polarities=3, window_us=10)
    with pytest.raises(ConfigError, match="polarities"):
        F.new_time_state(W, H, polarities=0)
    with pytest.raises(ConfigError, match="time state"):
        F.update_time_state(ev, np.zeros((2, H, W), np.int32))


def test_histogram_node_dtype_must_hold_counts():
    from evrt.encoders.nodes import HistogramEncoder
    from evrt.errors import ConfigError

    assert HistogramEncoder(window_us=10).dtype == np.int16  # tonic's ToFrame dtype
    for bad in ("bool", "complex64", "not-a-dtype"):
        with pytest.raises(ConfigError, match="dtype"):
            HistogramEncoder(window_us=10, dtype=bad)


def test_prefetching_voxel_kernel_equals_the_single_pass_bit_for_bit():
    import importlib

    vg = importlib.import_module("evrt.encoders.functional.voxel_grid")
    from evrt.encoders.functional._common import records

    rng = np.random.default_rng(3)
    n = 3 * 2048 + 77  # the ring of pending adds wraps round many times
    w, h = 1280, 720
    t = np.sort(rng.integers(0, 50_000, n))
    t[100:400] = t[100]  # a run of identical times
    x = rng.integers(0, w, n)
    y = rng.integers(0, h, n)
    x[500:3000] = x[500]  # many adds into one cell, in order
    y[500:3000] = y[500]
    ev = records(make_events(t, x, y, rng.integers(0, 2, n)))
    assert 8 * h * w > vg.PREFETCH_ABOVE_BYTES  # voxel_grid takes the prefetching kernel here
    for t_first, t_last in [(int(t[0]), int(t[-1])), (10_000, 30_000), (int(t[100]), int(t[100]))]:
        single = np.zeros((5, h, w), np.float32)
        chunked = np.zeros((5, h, w), np.float32)
        assert vg._voxel_kernel(ev, t_first, t_last, single) == 0
        assert vg._voxel_kernel_prefetched(ev, t_first, t_last, chunked) == 0
        assert np.array_equal(single.view(np.uint32), chunked.view(np.uint32))  # incl. signs of 0
        assert np.count_nonzero(single) >= 300  # the zero-span case keeps the 300-event run
        np.testing.assert_array_equal(F.voxel_grid(ev, w, h, 5, t_first, t_last), single)
    for short in (ev[:1], ev[:PREFETCH_AHEAD - 1], ev[:PREFETCH_AHEAD + 1]):  # drained at the end
        single = np.zeros((5, h, w), np.float32)
        fetched = np.zeros((5, h, w), np.float32)
        vg._voxel_kernel(short, int(t[0]), int(t[-1]), single)
        vg._voxel_kernel_prefetched(short, int(t[0]), int(t[-1]), fetched)
        assert np.count_nonzero(fetched) >= short.shape[0]
        assert np.array_equal(single.view(np.uint32), fetched.view(np.uint32))
    bad = records(make_events([1, 2, 3], [1, w, 2], [1, 0, 2], [1, 0, 1]))
    with pytest.raises(EventDataError, match=rf"voxel_grid: event 1 at \(x={w}, y=0\)"):
        F.voxel_grid(bad, w, h, 3, 1, 3)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32"])
def test_prefetching_histogram_equals_the_plain_one(dtype):
    import importlib

    hg = importlib.import_module("evrt.encoders.functional.histogram")
    from evrt.encoders.functional._common import PREFETCH_ABOVE_BYTES, count_limit, records

    rng = np.random.default_rng(5)
    n = 5 * 2048 + 13
    w, h = 1280, 720
    x, y, p = rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n)
    x[1000:1400], y[1000:1400] = 3, 4  # ~200 counts per polarity on one cell: int8 saturates
    x[17], y[23] = -1, h  # off the sensor: counted as bad, the rest still added
    ev = records(make_events(np.arange(n), x, y, p))
    good = np.ones(n, bool)
    good[[17, 23]] = False
    counts = np.zeros((2, h, w), np.int64)
    np.add.at(counts, (p[good], y[good], x[good]), 1)
    top = count_limit(np.dtype(dtype))
    expected = np.minimum(counts, top)
    assert counts[:, 4, 3].min() > 127  # the saturating cell is exercised for int8
    plain = np.zeros((2, h, w), dtype)
    fetched = np.zeros((2, h, w), dtype)
    assert hg._histogram_kernel(ev, top, plain) == 2
    assert hg._histogram_kernel_prefetched(ev, top, fetched) == 2
    np.testing.assert_array_equal(plain, expected)
    np.testing.assert_array_equal(fetched, expected)
    if fetched.nbytes > PREFETCH_ABOVE_BYTES:  # int16 and int32 frames: histogram() takes this kernel
        np.testing.assert_array_equal(F.histogram(ev[good], w, h, dtype=dtype), expected)
    for stop in (1, PREFETCH_AHEAD - 1, PREFETCH_AHEAD + 1):  # fewer events than the prefetch distance
        fetched[:] = 0
        hg._histogram_kernel_prefetched(ev[:stop], top, fetched)
        assert int(fetched.sum()) == int(good[:stop].sum())  # events 17 and 23 are off the sensor


@pytest.mark.parametrize("polarities", [1, 2])
def test_prefetching_time_state_update_equals_the_plain_one(polarities):
    import importlib

    ts = importlib.import_module("evrt.encoders.functional.time_surface")
    from evrt.encoders.functional._common import PREFETCH_ABOVE_BYTES, records

    rng = np.random.default_rng(9)
    n = 3 * 2048 + 5
    w, h = 1280, 720
    x, y = rng.integers(0, w, n), rng.integers(0, h, n)
    x[50:90], y[50:90] = 7, 8  # one cell hit 40 times: the last time must win
    x[11] = w  # off the sensor
    ev = records(make_events(np.sort(rng.integers(0, 10**6, n)), x, y, rng.integers(0, 2, n)))
    plain = F.new_time_state(w, h, polarities)
    fetched = F.new_time_state(w, h, polarities)
    assert fetched.nbytes > PREFETCH_ABOVE_BYTES  # update_time_state takes the prefetching kernel
    assert ts._update_kernel(ev, plain) == 1
    assert ts._update_kernel_prefetched(ev, fetched) == 1
    np.testing.assert_array_equal(plain, fetched)
    assert np.count_nonzero(fetched != NEVER) > n // 2
    last_on_cell = np.flatnonzero((x == 7) & (y == 8))[-1]
    assert fetched[:, 8, 7].max() == ev[last_on_cell]["t"]
    for stop in (1, PREFETCH_AHEAD - 1, PREFETCH_AHEAD + 1):  # fewer events than the prefetch distance
        plain = F.new_time_state(w, h, polarities)
        fetched = F.new_time_state(w, h, polarities)
        ts._update_kernel(ev[:stop], plain)
        ts._update_kernel_prefetched(ev[:stop], fetched)
        np.testing.assert_array_equal(plain, fetched)
        assert np.count_nonzero(fetched != NEVER) == stop - (stop > 11)


def test_event_image_paints_each_pixels_last_polarity_and_keeps_what_it_does_not_touch():
    from evrt.encoders.functional.display import OFF_COLOUR, ON_COLOUR
    from evrt.errors import ConfigError

    rng = np.random.default_rng(4)
    n, w, h = 20_000, 64, 48
    x, y, p = rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n)
    ev = make_events(np.arange(n), x, y, p)
    want = np.full((h, w, 3), F.BACKGROUND, np.uint8)
    last = np.full((h, w), -1)
    last[y, x] = p  # numpy assigns in order: the last event of each pixel stays
    want[last == 1] = ON_COLOUR
    want[last == 0] = OFF_COLOUR
    assert (last == -1).sum() > 0 and (last == 0).sum() > 100 and (last == 1).sum() > 100
    np.testing.assert_array_equal(F.event_image(ev, w, h), want)
    # painted in pieces into one image: the same; pixels no event touches keep their colour
    out = np.full((h, w, 3), 7, np.uint8)
    for piece in np.array_split(ev, 9):
        F.event_image(piece, w, h, out=out)
    np.testing.assert_array_equal(out[last >= 0], want[last >= 0])
    assert (out[last == -1] == 7).all()
    marks = F.mark_polarities(ev, w, h)
    assert set(np.unique(marks)) == {0, 1, 2}
    with pytest.raises(ConfigError, match="background"):
        F.colour_marks(marks, None, background=None)

"""Filters against tonic's functional implementations and dv-processing, on real recordings.

Convention: evrt starts every pixel at "never fired" (a very negative time); tonic and
dv-processing start at t = 0. On these recordings (absolute µs clocks, ~1.6e15) the two
agree exactly; the edge case near t = 0 is covered in test_filters_properties.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from _event_samples import load_sample
from conftest import shared_file

from evrt.events import PACKED_EVENT_DTYPE, EventPacket, from_dv, to_dv, to_tonic
from evrt.filters import functional as F
from evrt.filters.nodes import BackgroundActivityFilter, RefractoryFilter

SAMPLES = ["aedat4/tonic_sample.aedat4", "aedat4/aestream_davis.aedat4",
           "evt2/expelliarmus_evt2_test_sparklers.raw"]
N = 30_000  # tonic's filters are Python loops: a slice keeps the test fast


def _recording(name: str):
    events, g = load_sample(str(shared_file(name)))
    return events[:N], g


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    for f in "txyp":
        np.testing.assert_array_equal(a[f].astype(np.int64), b[f].astype(np.int64), err_msg=f)


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("filter_time", [1000, 10_000])
def test_denoise_equals_tonic_with_4_neighbourhood(name, filter_time):
    tf = pytest.importorskip("tonic.functional")
    events, g = _recording(name)
    expected = tf.denoise_numpy(to_tonic(events), filter_time=filter_time)
    kept = events[F.background_activity(events, F.new_pixel_times(g.width, g.height),
                                        filter_time, neighbourhood=4)]
    assert 0 < len(kept) < len(events)
    _same(kept, expected)


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("period", [500, 5000])
def test_refractory_period_equals_tonic(name, period):
    tf = pytest.importorskip("tonic.functional")
    events, g = _recording(name)
    expected = tf.refractory_period_numpy(to_tonic(events), refractory_period=period)
    node = RefractoryFilter(period_us=period)
    kept = node.process(EventPacket(events, g))[0].events
    assert 0 < len(kept) < len(events)
    _same(kept, expected)


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("duration", [2000, 20_000])
def test_background_activity_equals_dv_processing(name, duration):
    dv = pytest.importorskip("dv_processing")
    from datetime import timedelta

    events, g = _recording(name)
    filt = dv.noise.BackgroundActivityNoiseFilter((g.width, g.height), timedelta(microseconds=duration))
    filt.accept(to_dv(events))
    expected = from_dv(filt.generateEvents())
    node = BackgroundActivityFilter(duration_us=duration, neighbourhood=8)
    kept = node.process(EventPacket(events, g))[0].events
    assert 0 < len(kept) < len(events)
    _same(kept, expected)


@pytest.mark.parametrize("name", SAMPLES)
def test_roi_polarity_mask_equal_dv_processing(name):
    dv = pytest.importorskip("dv_processing")
    events, g = _recording(name)
    store = to_dv(events)
    region = dv.EventRegionFilter((40, 30, 120, 90))
    region.accept(store)
    _same(F.roi(events, 40, 30, 120, 90, shift=False), from_dv(region.generateEvents()))
    for on in (True, False):
        pol = dv.EventPolarityFilter(on)
        pol.accept(store)
        _same(F.polarity(events, on), from_dv(pol.generateEvents()))
    # Hot pixels given up front behave as dv's mask filter with those pixels zeroed.
    rng = np.random.default_rng(0)
    hot = [(int(x), int(y)) for x, y in zip(rng.integers(0, g.width, 300), rng.integers(0, g.height, 300), strict=False)]
    hot += [(int(events["x"][i]), int(events["y"][i])) for i in range(0, 2000, 7)]
    mask = np.full((g.height, g.width), 255, np.uint8)
    for x, y in hot:
        mask[y, x] = 0
    masker = dv.EventMaskFilter(mask)
    masker.accept(store)
    state = F.HotPixelState(g.width, g.height, 0, 0, hot)
    kept = events[F.hot_pixels(events, state)]
    assert len(kept) < len(events)
    _same(kept, from_dv(masker.generateEvents()))


def test_dtype_of_filtered_packets_is_evrt():
    events, g = _recording(SAMPLES[0])
    out = BackgroundActivityFilter().process(EventPacket(events, g))[0]
    assert out.events.dtype.itemsize == 16 and out.events.dtype.names == ("t", "x", "y", "p")
    assert out.events.astype(PACKED_EVENT_DTYPE).shape == out.events.shape

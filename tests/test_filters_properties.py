"""Filters: packet-boundary invariance, geometric identities, edge cases, errors."""

from __future__ import annotations

import numpy as np
import pytest
from _packet_cuts import cuts, split, streams
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evrt.encoders import functional as E
from evrt.errors import ConfigError, EventDataError
from evrt.events import PACKED_EVENT_DTYPE, EventPacket, Geometry, concat_events, make_events
from evrt.filters import functional as F
from evrt.filters.nodes import (
    BackgroundActivityFilter,
    DownsampleFilter,
    HotPixelFilter,
    OrientFilter,
    PolarityFilter,
    RefractoryFilter,
    RoiFilter,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FILTERS = [
    lambda g: BackgroundActivityFilter(duration_us=15, neighbourhood=8),
    lambda g: BackgroundActivityFilter(duration_us=40, neighbourhood=4),
    lambda g: RefractoryFilter(period_us=10),
    lambda g: HotPixelFilter(pixels=[[0, 0]], learn_us=60, threshold=3),
    lambda g: RoiFilter(x=g.width // 3, y=g.height // 3, width=max(1, g.width // 2),
                        height=max(1, g.height // 2)),
    lambda g: PolarityFilter(polarity=0),
    lambda g: DownsampleFilter(factor=2),
    lambda g: OrientFilter(flip_x=True, rotate=270),
]


def _packed(events: np.ndarray) -> np.ndarray:
    return events.astype(PACKED_EVENT_DTYPE)


def _filter(node, packets):
    out = [m for p in packets for m in node.process(p)]
    return concat_events([m.events for m in out]), out


@pytest.mark.parametrize("make", FILTERS, ids=[f"f{i}" for i in range(len(FILTERS))])
@FAST
@given(data=st.data())
def test_any_packet_cut_gives_the_same_events(make, data):
    events, g, t0, t1 = data.draw(streams(max_events=80, max_dt=12))
    at = data.draw(cuts(events.shape[0]))
    whole, (msg,) = _filter(make(g), [EventPacket(events, g, t_start=t0, t_end=t1)])
    pieces, msgs = _filter(make(g), split(events, g, t0, t1, at))
    np.testing.assert_array_equal(_packed(whole), _packed(pieces))
    assert all(m.geometry == msg.geometry for m in msgs)
    assert (msgs[0].t_start, msgs[-1].t_end) == (t0, t1)
    msg.check()  # output coordinates lie on the output sensor


@FAST
@given(data=st.data(), turns=st.integers(0, 3), flip_x=st.booleans(), flip_y=st.booleans())
def test_orientation_matches_numpy_on_the_frame(data, turns, flip_x, flip_y):
    events, g, _, _ = data.draw(streams())
    frame = E.histogram(events, g.width, g.height)
    if flip_x:
        frame = frame[:, :, ::-1]
    if flip_y:
        frame = frame[:, ::-1, :]
    want = np.rot90(frame, turns, axes=(1, 2))
    out = F.orient(events, g.width, g.height, flip_x, flip_y, turns)
    w, h = (g.height, g.width) if turns % 2 else (g.width, g.height)
    np.testing.assert_array_equal(E.histogram(out, w, h), want)


@FAST
@given(data=st.data(), factor=st.integers(1, 4))
def test_downsample_is_a_block_sum_of_the_frame(data, factor):
    events, g, _, _ = data.draw(streams())
    node = DownsampleFilter(factor=factor)
    (msg,) = node.process(EventPacket(events, g))
    frame = E.histogram(events, g.width, g.height)
    H, W = msg.geometry.height * factor, msg.geometry.width * factor
    padded = np.zeros((2, H, W), frame.dtype)
    padded[:, : g.height, : g.width] = frame
    want = padded.reshape(2, H // factor, factor, W // factor, factor).sum(axis=(2, 4))
    np.testing.assert_array_equal(E.histogram(msg.events, msg.geometry.width, msg.geometry.height), want)


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 5, 8])
def test_downsample_floors_like_numpy_for_every_factor(factor):
    # powers of two take an arithmetic shift, the others a division: both floor, negatives too
    ev = make_events(np.arange(6), [-9, -8, -1, 0, 7, 345], [-3, 5, 259, -16, 1, 0], [1, 0, 1, 0, 1, 0])
    out = F.downsample(ev, factor)
    np.testing.assert_array_equal(out["x"], ev["x"] // factor)
    np.testing.assert_array_equal(out["y"], ev["y"] // factor)
    np.testing.assert_array_equal(out["t"], ev["t"])
    assert not np.shares_memory(out, ev)


def test_background_activity_border_and_never_convention():
    g = Geometry(3, 2)
    last = F.new_pixel_times(g.width, g.height)
    # corner pixel (2, 1) supported by its diagonal (1, 0) only in the 8-neighbourhood
    ev = make_events([100, 105, 300, 305], [1, 2, 0, 0], [0, 1, 1, 1], [1, 0, 1, 1])
    keep8 = F.background_activity(ev, last, 10, 8)
    keep4 = F.background_activity(ev, F.new_pixel_times(3, 2), 10, 4)
    assert keep8.tolist() == [False, True, False, False]  # own pixel never supports itself
    assert keep4.tolist() == [False, False, False, False]
    # near t = 0: evrt's 'never fired' is not 'fired at t = 0' (tonic/dv would keep this)
    early = make_events([3, 4], [0, 2], [0, 0], [1, 1])
    assert not F.background_activity(early, F.new_pixel_times(3, 2), 10, 8).any()


def test_refractory_restarts_on_dropped_events_and_hot_pixel_learning():
    ev = make_events([0, 5, 9, 30, 31], [1, 1, 1, 1, 0], [0, 0, 0, 0, 0], [1, 1, 0, 1, 1])
    keep = F.refractory_period(ev, F.new_pixel_times(2, 1), 5)
    assert keep.tolist() == [True, False, False, True, True]  # t=9 is 4 µs after the dropped t=5
    # hot pixel learning: (1, 0) fires 3 times in the first 10 µs, then is silenced
    node = HotPixelFilter(learn_us=10, threshold=3)
    stream = make_events([0, 2, 4, 6, 12, 13, 14], [1, 1, 1, 0, 1, 0, 1], [0] * 7, [1] * 7)
    (out,) = node.process(EventPacket(stream, Geometry(2, 1), t_start=0))
    assert out.events["t"].tolist() == [0, 2, 4, 6, 13]
    assert node.state.hot.tolist() == [[False, True]]


def test_filter_errors_are_evrt_errors():
    g = Geometry(4, 4)
    bad = make_events([1], [4], [0], [1])
    for node in (BackgroundActivityFilter(), RefractoryFilter(), HotPixelFilter()):
        with pytest.raises(EventDataError, match="outside the 4x4 sensor"):
            node.process(EventPacket(bad, g))
    with pytest.raises(ConfigError):
        RoiFilter(x=2, y=2, width=4, height=1).process(EventPacket(make_events([1], [0], [0], [0]), g))
    with pytest.raises(ConfigError):
        OrientFilter(rotate=45)
    with pytest.raises(ConfigError):
        BackgroundActivityFilter(neighbourhood=6)
    with pytest.raises(ConfigError):
        HotPixelFilter(pixels=[[9, 9]]).process(EventPacket(make_events([1], [0], [0], [0]), g))
    with pytest.raises(EventDataError, match="geometry changed"):
        node = RefractoryFilter()
        node.process(EventPacket(make_events([1], [0], [0], [0]), g))
        node.process(EventPacket(make_events([2], [0], [0], [0]), Geometry(5, 5)))


def test_non_event_messages_pass_through_filters():
    from evrt.messages import TensorMsg

    msg = TensorMsg(np.zeros(3))
    assert RefractoryFilter().process(msg) == (msg,)


@pytest.mark.parametrize("x, y", [(-1, 0), (0, -1), (-32768, 2), (2, -32768), (4, 0), (0, 4), (32767, 32767)])
def test_noise_filters_reject_any_coordinate_off_the_sensor(x, y):
    """One unsigned compare per axis must reject negative coordinates too."""
    w = h = 4
    ev = make_events([1, 2, 3], [1, x, 2], [1, y, 2], [1, 0, 1])
    calls = [
        ("background_activity", lambda: F.background_activity(ev, F.new_pixel_times(w, h), 10)),
        ("refractory_period", lambda: F.refractory_period(ev, F.new_pixel_times(w, h), 10)),
        ("hot_pixels", lambda: F.hot_pixels(ev, F.HotPixelState(w, h, 0, 0))),
    ]
    for name, call in calls:
        with pytest.raises(EventDataError, match=rf"{name}: event 1 at \(x={x}, y={y}\) is outside the 4x4"):
            call()
    last = F.new_pixel_times(w, h)  # the in-range events were still recorded before the error
    with pytest.raises(EventDataError):
        F.refractory_period(ev, last, 10)
    assert last[1, 1] == 1 and last[2, 2] == 3 and (last != E.NEVER).sum() == 2

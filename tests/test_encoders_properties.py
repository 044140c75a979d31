"""Encoders: packet-boundary invariance, definitions checked by brute force, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _packet_cuts import cuts, run, split, streams
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evrt.encoders import functional as F
from evrt.encoders.nodes import (
    CumulativeStackEncoder,
    EventImageEncoder,
    HistogramEncoder,
    SpikeTensorEncoder,
    TimeSurfaceEncoder,
    VoxelGridEncoder,
)
from evrt.errors import ConfigError, EventDataError
from evrt.events import EventPacket, Geometry, make_events

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WINDOWS = st.one_of(
    st.tuples(st.integers(1, 60), st.integers(0, 59)).filter(lambda w: w[1] < w[0]).map(
        lambda w: {"window_us": w[0], "overlap_us": w[1]}),
    st.tuples(st.integers(1, 12), st.integers(0, 11)).filter(lambda w: w[1] < w[0]).map(
        lambda w: {"window_events": w[0], "overlap_events": w[1]}),
)

ENCODERS = [
    lambda w: HistogramEncoder(**w),
    lambda w: VoxelGridEncoder(bins=3, **w),
    lambda w: VoxelGridEncoder(bins=4, normalize=True, **w),
    lambda w: TimeSurfaceEncoder(tau_us=25.0, **w),
    lambda w: SpikeTensorEncoder(steps=3, binary=True, **w),
    lambda w: SpikeTensorEncoder(steps=4, binary=False, dtype="int32", **w),
    lambda w: CumulativeStackEncoder(steps=3, **w),
    lambda w: EventImageEncoder(**w),
]


def _payload(msg):
    return msg.image if hasattr(msg, "image") else msg.data


@pytest.mark.parametrize("make", ENCODERS, ids=[f"enc{i}" for i in range(len(ENCODERS))])
@FAST
@given(data=st.data(), window=WINDOWS, incomplete=st.booleans())
def test_any_packet_cut_gives_the_same_windows(make, data, window, incomplete):
    events, g, t0, t1 = data.draw(streams())
    at = data.draw(cuts(events.shape[0]))
    whole = run(make(dict(window, include_incomplete=incomplete)),
                [EventPacket(events, g, t_start=t0, t_end=t1)])
    pieces = run(make(dict(window, include_incomplete=incomplete)), split(events, g, t0, t1, at))
    assert [(m.t_start, m.t_end) for m in whole] == [(m.t_start, m.t_end) for m in pieces]
    for a, b in zip(whole, pieces, strict=True):
        np.testing.assert_array_equal(_payload(a), _payload(b))
        assert a.meta == b.meta


@FAST
@given(data=st.data(), window=st.integers(1, 50), overlap=st.integers(0, 49))
def test_time_windows_cover_the_stream_and_count_every_event(data, window, overlap):
    overlap = overlap % window
    events, g, t0, t1 = data.draw(streams())
    msgs = run(HistogramEncoder(window_us=window, overlap_us=overlap), [EventPacket(events, g, t_start=t0, t_end=t1)])
    stride = window - overlap
    for k, m in enumerate(msgs):
        assert (m.t_start, m.t_end) == (t0 + k * stride, t0 + k * stride + window)
        inside = (events["t"] >= m.t_start) & (events["t"] < m.t_end)
        assert int(m.data.sum()) == int(inside.sum()) == m.meta["events"]
    if events.size:  # the windows reach every event (the last incomplete one included)
        assert msgs and msgs[-1].t_end > events["t"][-1]
    # complete windows: all whose end the stream reached
    assert sum(m.t_end <= t1 for m in msgs) == max(0, (t1 - t0 - window) // stride + 1)


@FAST
@given(data=st.data(), steps=st.integers(1, 5), binary=st.booleans())
def test_spike_tensor_and_cumulative_stack_match_their_definitions(data, steps, binary):
    events, g, t0, t1 = data.draw(streams())
    spikes = F.spike_tensor(events, g.width, g.height, steps, t0, t1, binary, dtype=np.int32)
    stack = F.cumulative_stack(events, g.width, g.height, steps, t0, t1, binary, dtype=np.int32)
    d = t1 - t0
    for k in range(steps):
        # bin k: t0 + k D / T <= t < t0 + (k+1) D / T, in exact integer arithmetic
        in_bin = ((events["t"] - t0) * steps >= k * d) & ((events["t"] - t0) * steps < (k + 1) * d)
        up_to = (events["t"] - t0) * steps < (k + 1) * d
        for sel, got in ((in_bin, spikes[k]), (up_to, stack[k])):
            h = F.histogram(events[sel], g.width, g.height)
            np.testing.assert_array_equal(got, np.minimum(h, 1) if binary else h)
    if not binary:
        np.testing.assert_array_equal(stack, np.cumsum(spikes, axis=0))
        np.testing.assert_array_equal(stack[-1], F.histogram(events, g.width, g.height))


@FAST
@given(data=st.data(), tau=st.floats(1.0, 100.0))
def test_time_surface_matches_its_definition(data, tau):
    events, g, t0, t1 = data.draw(streams())
    state = F.new_time_state(g.width, g.height)
    F.update_time_state(events, state)
    surf = F.sample_time_surface(state, t1, tau)
    for c in range(2):
        for yy in range(g.height):
            for xx in range(g.width):
                sel = (events["p"] == c) & (events["x"] == xx) & (events["y"] == yy)
                want = math.exp(-(t1 - int(events["t"][sel].max())) / tau) if sel.any() else 0.0
                assert surf[c, yy, xx] == pytest.approx(want, rel=1e-6, abs=1e-30)


@FAST
@given(data=st.data(), bins=st.integers(1, 5))
def test_voxel_grid_conserves_polarity_and_places_each_event(data, bins):
    events, g, _, _ = data.draw(streams())
    if not events.size:
        return
    a, b = int(events["t"][0]), int(events["t"][-1])
    grid = F.voxel_grid(events, g.width, g.height, bins, a, b)
    want = np.zeros((bins, g.height, g.width))
    for ev in events:
        u = (bins - 1) * (int(ev["t"]) - a) / (b - a) if b > a else 0.0
        lo = int(u)
        s = 1.0 if ev["p"] else -1.0
        want[lo, ev["y"], ev["x"]] += s * (1 - (u - lo))
        if lo + 1 < bins:
            want[lo + 1, ev["y"], ev["x"]] += s * (u - lo)
    np.testing.assert_allclose(grid, want, rtol=1e-5, atol=1e-5)


def test_edge_cases_empty_single_border_identical():
    g = Geometry(5, 4)
    # only empty packets: zero frames for every complete window, nothing else
    msgs = run(HistogramEncoder(window_us=10), [EventPacket(make_events([], [], [], []), g, t_start=0, t_end=25)])
    assert [(m.t_start, m.t_end) for m in msgs] == [(0, 10), (10, 20)]
    assert all(m.data.sum() == 0 for m in msgs)
    # a single event on the far corner
    one = make_events([7], [4], [3], [1])
    (m,) = run(VoxelGridEncoder(bins=3, window_events=1), [EventPacket(one, g)])
    assert m.data[0, 3, 4] == 1.0 and m.data.sum() == 1.0 and (m.t_start, m.t_end) == (7, 8)
    (m,) = run(TimeSurfaceEncoder(tau_us=10.0, window_events=1), [EventPacket(one, g)])
    assert m.data[1, 3, 4] == pytest.approx(math.exp(-0.1)) and m.data[0].sum() == 0
    # identical timestamps: the whole window is one microsecond, everything in bin 0
    same = make_events([5, 5, 5, 5], [0, 4, 0, 4], [0, 0, 3, 3], [1, 0, 1, 0])
    grid = F.voxel_grid(same, 5, 4, 4, 5, 5)
    assert grid[0].sum() == 0 and np.abs(grid[0]).sum() == 4 and not grid[1:].any()
    spikes = F.spike_tensor(same, 5, 4, 3, 5, 6)
    assert spikes[0].sum() == 4 and not spikes[1:].any()


def test_bad_input_raises_evrt_errors():
    g = Geometry(5, 4)
    off = make_events([1, 2], [1, 5], [0, 0], [1, 1])
    with pytest.raises(EventDataError, match=r"event 1 at \(x=5, y=0\) is outside the 5x4"):
        F.histogram(off, 5, 4)
    with pytest.raises(EventDataError):
        run(SpikeTensorEncoder(window_us=5), [EventPacket(off, g)])
    # a packet that skipped validation: the time-surface node (which calls its kernel
    # directly) still names the event, for the small and the prefetching kernel alike
    for geometry in (g, Geometry(1280, 720)):
        bad = make_events([1, 2], [1, geometry.width], [0, 0], [1, 1])
        packet = EventPacket.trusted(bad, geometry, "cam", 1, 3, {})
        with pytest.raises(EventDataError,
                           match=rf"time_surface: event 1 at \(x={geometry.width}, y=0\) is outside"):
            run(TimeSurfaceEncoder(window_us=5), [packet])
    with pytest.raises(ConfigError):
        HistogramEncoder()  # neither window_us nor window_events
    with pytest.raises(ConfigError):
        HistogramEncoder(window_us=10, window_events=3)
    with pytest.raises(ConfigError):
        HistogramEncoder(window_us=10, overlap_us=10)
    back = [EventPacket(make_events([10], [0], [0], [0]), g), EventPacket(make_events([3], [0], [0], [0]), g)]
    with pytest.raises(EventDataError, match="backwards"):
        run(HistogramEncoder(window_us=100), back)


def test_tensors_convert_to_torch_without_copy():
    torch = pytest.importorskip("torch")
    g = Geometry(8, 6)
    ev = make_events(np.arange(40), np.arange(40) % 8, np.arange(40) % 6, np.arange(40) % 2)
    for node in (HistogramEncoder(window_us=10), VoxelGridEncoder(window_us=10),
                 TimeSurfaceEncoder(window_us=10), SpikeTensorEncoder(window_us=10),
                 CumulativeStackEncoder(window_us=10)):
        for msg in run(node, [EventPacket(ev, g)]):
            tensor = msg.torch()
            assert isinstance(tensor, torch.Tensor)
            assert tensor.data_ptr() == msg.data.ctypes.data
            assert tuple(tensor.shape) == msg.data.shape


def test_encoders_are_registered_and_run_in_a_graph():
    from evrt.graph import registry
    from evrt.graph.api import Graph
    from evrt.graph.node import Sink

    class Collect(Sink):  # an instance with no required parameters (see report: callback sink)
        def __init__(self) -> None:
            self.got: list = []

        def process(self, message) -> None:
            self.got.append(message)

    names = registry.available()
    for name in ("histogram", "voxel_grid", "time_surface", "spike_tensor", "cumulative_stack",
                 "event_image", "denoise", "refractory", "hot_pixels", "roi", "polarity",
                 "downsample", "orient"):
        assert name in names
    sink = Collect()
    got = sink.got
    graph = Graph("encode-test")
    graph.add("src", "synthetic", pattern="moving_bar", duration=0.05)
    graph.add("clean", "refractory", inputs=["src"], period_us=100)
    graph.add("enc", "spike_tensor", inputs=["clean"], window_us=10_000, steps=4)
    graph.add("out", sink, inputs=["enc"])
    graph.run()
    tensors = [m for m in got if hasattr(m, "data")]
    assert len(tensors) >= 4
    assert all(m.data.shape[:2] == (4, 2) for m in tensors)
    assert all(b.t_start == a.t_start + 10_000 for a, b in zip(tensors, tensors[1:], strict=False))
    assert sum(float(m.data.sum()) for m in tensors) > 0


def test_bad_parameters_of_the_functions_are_config_errors():
    ev = make_events([1, 2], [0, 1], [0, 1], [0, 1])
    with pytest.raises(ConfigError, match="bins"):
        F.voxel_grid(ev, 4, 4, 0, 0, 5)
    with pytest.raises(ConfigError, match="steps"):
        F.spike_tensor(ev, 4, 4, 0, 0, 5)
    with pytest.raises(ConfigError, match="shape"):
        F.event_image(ev, 4, 4, out=np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ConfigError, match="shape"):
        F.histogram(ev, 4, 4, out=np.zeros((2, 3, 4), np.int32))
    with pytest.raises(ConfigError, match="shape"):
        F.sample_time_surface(F.new_time_state(4, 4), 5, 1.0, out=np.zeros((2, 4, 3), np.float32))
    from evrt.filters import functional as FF

    with pytest.raises(ConfigError, match="factor"):
        FF.downsample(ev, 0)

"""Encoders against tonic's functional implementations and dv-processing, on real recordings.

Conventions that differ from the oracles, and how each test accounts for them:
- Time windows: tonic slices [t0 + k*S, t0 + k*S + W) from the first event and keeps the
  windows that end at or before the last event's time; evrt completes a window once the
  stream's end (last event + 1 µs) reaches it, so evrt may have one more window at the
  very end. The tests compare the windows both produce.
- Voxel grid: tonic (from E2VID's code) puts time at u = B * (t - t_first) / (t_last -
  t_first) and drops what falls into bin B; evrt uses u = (B - 1) * (...) (E2VID's own
  formula), so tonic's B-bin grid equals evrt's (B + 1)-bin grid without its last bin.
"""

from __future__ import annotations

import numpy as np
import pytest
from _event_samples import load_sample
from conftest import shared_file

from evrt.encoders import functional as F
from evrt.encoders.nodes import (
    EventImageEncoder,
    HistogramEncoder,
    TimeSurfaceEncoder,
    VoxelGridEncoder,
)
from evrt.events import EventPacket, to_dv, to_tonic

tonic_functional = pytest.importorskip("tonic.functional")
SAMPLES = ["aedat4/tonic_sample.aedat4", "aedat4/aestream_davis.aedat4",
           "evt2/expelliarmus_evt2_test_sparklers.raw"]


def _recording(name: str):
    return load_sample(str(shared_file(name)))


def _run(node, packets):
    out = []
    for packet in packets:
        out.extend(node.process(packet) or ())
    out.extend(node.finish() or ())
    return out


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("window,overlap", [(20_000, 0), (30_000, 10_000)])
def test_histogram_equals_tonic_to_frame_time_windows(name, window, overlap):
    events, g = _recording(name)
    expected = tonic_functional.to_frame_numpy(
        to_tonic(events), (g.width, g.height, 2), time_window=window, overlap=overlap)
    node = HistogramEncoder(window_us=window, overlap_us=overlap, include_incomplete=False)
    got = _run(node, [EventPacket(events, g)])
    assert len(got) in (len(expected), len(expected) + 1)
    assert len(expected) >= 4
    for k, frame in enumerate(expected):
        np.testing.assert_array_equal(got[k].data, frame, err_msg=f"window {k}")
        assert got[k].t_start == int(events["t"][0]) + k * (window - overlap)
        assert got[k].t_end == got[k].t_start + window


@pytest.mark.parametrize("name", SAMPLES)
def test_histogram_equals_tonic_to_frame_count_windows(name):
    events, g = _recording(name)
    expected = tonic_functional.to_frame_numpy(
        to_tonic(events), (g.width, g.height, 2), event_count=7000, overlap=2000)
    got = _run(HistogramEncoder(window_events=7000, overlap_events=2000, include_incomplete=False),
               [EventPacket(events, g)])
    assert len(got) == len(expected) > 5
    for k, frame in enumerate(expected):
        np.testing.assert_array_equal(got[k].data, frame)
        assert got[k].meta["events"] == 7000


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("bins", [3, 5])
def test_voxel_grid_equals_tonic_with_the_bin_convention(name, bins):
    events, g = _recording(name)
    part = events[5000:45000]
    expected = tonic_functional.to_voxel_grid_numpy(to_tonic(part), (g.width, g.height, 2), bins)
    got = F.voxel_grid(part, g.width, g.height, bins + 1, int(part["t"][0]), int(part["t"][-1]))
    np.testing.assert_allclose(got[:bins], expected[:, 0], rtol=1e-5, atol=2e-5)
    # Sanity of the convention itself: evrt's (B+1)-grid keeps all the polarity mass.
    polarity_sum = np.where(part["p"] > 0, 1.0, -1.0).sum()
    assert got.sum(dtype=np.float64) == pytest.approx(polarity_sum, abs=1e-2)


def test_voxel_grid_normalisation_and_node_window_mapping():
    events, g = _recording(SAMPLES[0])
    node = VoxelGridEncoder(bins=5, normalize=True, window_us=50_000)
    msgs = _run(node, [EventPacket(events, g)])
    for m in msgs[:-1]:
        nz = m.data[m.data != 0]
        assert nz.size and abs(nz.mean()) < 1e-4 and abs(nz.std() - 1) < 1e-3
    raw = F.voxel_grid(events, g.width, g.height, 5, msgs[2].t_start, msgs[2].t_end - 1)
    w = events[(events["t"] >= msgs[2].t_start) & (events["t"] < msgs[2].t_end)]
    np.testing.assert_allclose(raw, F.voxel_grid(w, g.width, g.height, 5, msgs[2].t_start,
                                                 msgs[2].t_end - 1))


@pytest.mark.parametrize("name", SAMPLES)
def test_time_surface_equals_tonic(name):
    events, g = _recording(name)
    dt, tau = 25_000, 30_000.0
    expected = tonic_functional.to_timesurface_numpy(to_tonic(events), (g.width, g.height, 2),
                                                     dt=dt, tau=tau)
    got = _run(TimeSurfaceEncoder(tau_us=tau, window_us=dt, include_incomplete=False),
               [EventPacket(events, g)])
    assert len(got) in (len(expected), len(expected) + 1)
    for k, surface in enumerate(expected):
        np.testing.assert_allclose(got[k].data, surface, rtol=1e-6, atol=1e-7)


def _dv_store(events):
    return to_dv(events)


@pytest.mark.parametrize("name", SAMPLES)
def test_histogram_matches_dv_accumulator_and_edge_map(name):
    dv = pytest.importorskip("dv_processing")
    events, g = _recording(name)
    part = events[:60000]
    store = _dv_store(part)
    acc = dv.Accumulator((g.width, g.height), dv.Accumulator.Decay.NONE, 0.0, False, 1.0,
                         1e9, 0.0, -1e9, False)
    acc.accept(store)
    hist = F.histogram(part, g.width, g.height)
    np.testing.assert_array_equal(acc.getPotentialSurface(), hist[1] - hist[0])
    edges = dv.EdgeMapAccumulator((g.width, g.height), 1.0, True, 0.0, 1.0)
    edges.accept(store)
    fired = edges.generateFrame().image > 0
    np.testing.assert_array_equal(fired, hist.sum(axis=0) > 0)
    image = _run(EventImageEncoder(window_events=len(part)), [EventPacket(part, g)])[0].image
    np.testing.assert_array_equal((image != 255).any(axis=2), fired)


@pytest.mark.parametrize("name", SAMPLES)
def test_time_state_matches_dv_time_surface(name):
    dv = pytest.importorskip("dv_processing")
    events, g = _recording(name)
    part = events[:40000]
    ts = dv.TimeSurface((g.width, g.height))
    ts.accept(_dv_store(part))
    dv_last = np.array([[ts.at(y, x) for x in range(g.width)] for y in range(g.height)])
    state = F.new_time_state(g.width, g.height)
    F.update_time_state(part, state)
    ours = state.max(axis=0)  # dv keeps one timestamp per pixel, whatever the polarity
    ours = np.where(ours == F.NEVER, 0, ours)  # dv starts from 0, evrt from NEVER
    np.testing.assert_array_equal(dv_last, ours)
    # a one-plane state merges the polarities as dv does, whatever the packet cuts
    merged = F.new_time_state(g.width, g.height, polarities=1)
    for i in range(0, len(part), 3333):
        F.update_time_state(part[i:i + 3333], merged)
    np.testing.assert_array_equal(dv_last, np.where(merged[0] == F.NEVER, 0, merged[0]))

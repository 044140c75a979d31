"""The time-surface node's decaying state against the latest-time path, cell for cell.

The node stores float32 exp((t_last - anchor) / tau) and samples with one multiply; the
functional `time_surface` stores t_last and evaluates exp per cell. The node's surface must
stay within 2 float32 ulps of it (the roundings of the stored value, at most two rescales
and the product), through re-anchoring, overlapping windows and merged polarities.
"""

from __future__ import annotations

import importlib

import numba
import numpy as np
import pytest
from _event_samples import load_sample
from conftest import shared_file

from evrt.encoders import functional as F
from evrt.encoders.functional.decay_state import REANCHOR_TAUS
from evrt.encoders.nodes import TimeSurfaceEncoder
from evrt.errors import ConfigError
from evrt.events import EventPacket, Geometry, make_events

_ts = importlib.import_module("evrt.encoders.functional.time_surface")


def _node_surfaces(node, events, g, packet_events):
    out = []
    for i in range(0, events.shape[0], packet_events):
        out.extend(node.process(EventPacket(events[i:i + packet_events], g)) or ())
    out.extend(node.finish() or ())
    return out


TINY = np.finfo(np.float32).tiny


def _ulps_apart(got, want):
    """Float32 ulps between non-negative arrays (their bit patterns are ordered like them)."""
    return np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32))


def _assert_within_two_ulps(got, want, where):
    """The decay state's contract with the latest-time path (see decay_state's docstring)."""
    normal = want >= TINY
    far = np.flatnonzero(normal & (_ulps_apart(got, want) > 2))
    assert far.size == 0, (f"{where}: {far.size} cells more than 2 ulps apart, first "
                           f"{got.flat[far[0]]!r} vs {want.flat[far[0]]!r}")
    assert np.array_equal(got[want == 0], want[want == 0]), f"{where}: a zero cell is not zero"
    assert np.all(got[~normal] < TINY), f"{where}: a value below float32 tiny grew"
    return int(_ulps_apart(got[normal], want[normal]).max(initial=0))


def _latest_time_surfaces(msgs, events, g, polarities, tau):
    """The functional path: a fresh latest-time state per window, sampled at its end."""
    t = events["t"]
    for m in msgs:
        before_end = events[:np.searchsorted(t, m.t_end)]  # every event the node has seen
        yield m, F.time_surface(before_end, g.width, g.height, m.t_end, tau, polarities=polarities)


@pytest.mark.parametrize("name", ["aedat4/aestream_davis.aedat4", "evt2/expelliarmus_evt2_test_sparklers.raw"])
@pytest.mark.parametrize("polarities, window, overlap", [(2, 5_000, 0), (1, 4_000, 1_500)])
def test_node_is_within_two_ulps_of_the_latest_time_path_on_recordings(name, polarities, window, overlap):
    events, g = load_sample(str(shared_file(name)))
    tau = 200.0  # short: the node re-anchors every REANCHOR_TAUS * 0.2 ms of stream
    node = TimeSurfaceEncoder(tau_us=tau, polarities=polarities, window_us=window, overlap_us=overlap)
    msgs = _node_surfaces(node, events, g, 3_000)
    span = int(events["t"][-1] - events["t"][0])
    assert span > 4 * REANCHOR_TAUS * tau and len(msgs) > 8  # several re-anchors happened
    nonzero = 0
    worst = 0
    for m, want in _latest_time_surfaces(msgs, events, g, polarities, tau):
        worst = max(worst, _assert_within_two_ulps(m.data, want, f"window {m.meta['window']}"))
        nonzero += int(np.count_nonzero(want))
    assert nonzero > 10_000, "the windows must hold non-trivial surfaces"
    assert worst >= 1  # float32 state: rounding shows (so the comparison is not vacuous)


def test_rescaling_flushes_values_that_can_only_give_zero():
    g = Geometry(4, 3)
    ev = make_events([0, 10, 5_000], [0, 1, 2], [0, 0, 1], [1, 1, 0])
    node = TimeSurfaceEncoder(tau_us=10.0, window_us=100)
    msgs = _node_surfaces(node, ev, g, 2)
    # t=0 and t=10 decay below float32 tiny long before the last windows: exactly 0, no
    # subnormals
    assert (node.state[1, 0, :2] == 0).all()
    assert not np.any((node.state > 0) & (node.state < TINY))
    last = msgs[-1]
    assert last.t_end - 5_000 > 0 and np.count_nonzero(last.data) == 1
    want = np.float32(np.exp(-(last.t_end - 5_000) / 10.0))
    assert _ulps_apart(last.data[0, 1, 2:3], np.array([want])).max() <= 2
    # and the early windows saw the early events
    want = np.float32(np.exp(-(100 - 10) / 10.0))
    assert _ulps_apart(msgs[0].data[1, 0, 1:2], np.array([want])).max() <= 2


def test_single_packet_and_many_packets_agree_across_reanchors():
    rng = np.random.default_rng(7)
    n = 20_000
    t = np.sort(rng.integers(0, 400_000, n))
    ev = make_events(t, rng.integers(0, 32, n), rng.integers(0, 24, n), rng.integers(0, 2, n))
    g = Geometry(32, 24)
    one = _node_surfaces(TimeSurfaceEncoder(tau_us=2_000.0, window_us=7_000, overlap_us=2_000), ev, g, n)
    many = _node_surfaces(TimeSurfaceEncoder(tau_us=2_000.0, window_us=7_000, overlap_us=2_000), ev, g, 137)
    assert len(one) == len(many) > 50
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def _relative_error(exp_fn, x):
    """max |exp_fn(x) - exp(x)| / exp(x), exp_fn run inside a compiled loop as kernels run it."""
    @numba.njit(fastmath={"contract"})
    def apply(values):
        out = np.empty_like(values)
        for i in range(values.shape[0]):
            out[i] = exp_fn(values[i])
        return out

    want = np.exp(x)
    return float(np.max(np.abs(apply(x) - want) / want))


def test_vectorised_exp_holds_for_positive_arguments():
    x = np.concatenate([np.linspace(-103.0, 0.0, 100_001), np.linspace(0.0, 700.0, 100_001)])
    assert _relative_error(_ts.exp_simd, x) < 1e-15


def test_short_series_exp_is_far_below_a_float32_ulp():
    x = np.linspace(-103.0, 70.0, 400_001)  # what the decay state stores: up to e**64
    worst = _relative_error(_ts.exp_simd_for_float32, x)
    assert 1e-12 < worst < 3e-10  # the truncated series shows, at 0.005 of a float32 ulp


def test_bad_decay_states_and_shifts_are_config_errors():
    ev = make_events([1], [0], [0], [1])
    with pytest.raises(ConfigError, match="decay state"):
        F.update_decay_state(ev, np.zeros((2, 3, 4), np.float64), 0, 10.0)
    with pytest.raises(ConfigError, match="polarities"):
        F.new_decay_state(4, 3, polarities=3)
    with pytest.raises(ConfigError, match="forward"):
        F.rescale_decay_state(F.new_decay_state(4, 3), -1, 10.0)


def test_prefetching_update_equals_the_plain_one():
    ds = importlib.import_module("evrt.encoders.functional.decay_state")
    from evrt.encoders.functional._common import PREFETCH_ABOVE_BYTES, records

    rng = np.random.default_rng(11)
    n = 50_003  # not a whole number of the kernel's 8-event blocks
    w, h = 1280, 720
    x, y = rng.integers(0, w, n), rng.integers(0, h, n)
    x[7], y[9] = w, -1  # two events off the sensor: counted, not stored
    x[100:140], y[100:140] = 5, 6  # one cell hit 40 times in a row: the last value must win
    ev = records(make_events(np.sort(rng.integers(0, 90_000, n)), x, y, rng.integers(0, 2, n)))
    for polarities in (1, 2):
        plain = F.new_decay_state(w, h, polarities)
        fetched = F.new_decay_state(w, h, polarities)
        assert fetched.nbytes > PREFETCH_ABOVE_BYTES  # update_decay_state takes the prefetching kernel
        assert ds._update_kernel(ev, plain, 100_000, 1e-4) == 2
        assert ds._update_kernel_prefetched(ev, fetched, 100_000, 1e-4) == 2
        assert np.array_equal(plain, fetched) and np.count_nonzero(plain) > 10_000
    for stop in (1, 5, 13, 37):  # inputs shorter than the prefetch distance: only the drain stores
        plain = F.new_decay_state(w, h)
        fetched = F.new_decay_state(w, h)
        ds._update_kernel(ev[:stop], plain, 100_000, 1e-4)
        assert ds._update_kernel_prefetched(ev[:stop], fetched, 100_000, 1e-4) == (stop > 7) + (stop > 9)
        assert np.array_equal(plain, fetched)
        assert np.count_nonzero(fetched) == stop - (stop > 7) - (stop > 9)

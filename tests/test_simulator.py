"""Physics and determinism of the event simulator (sources/synthetic/simulator.py)."""

from __future__ import annotations

import numpy as np
import pytest
from evrt.sources.synthetic.simulator import EventSimulator, simulate_frames, simulate_render

from evrt.errors import ConfigError, EventDataError
from evrt.events import EVENT_DTYPE, Geometry

EPS = 1e-3


def level(base: float, log_step: float) -> float:
    """The linear intensity whose log(I + eps) is log_step above that of `base`."""
    return float(np.exp(np.log(base + EPS) + log_step) - EPS)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("sign", [1, -1])
def test_brightness_step_of_k_thresholds_gives_k_events(k: int, sign: int) -> None:
    g = Geometry(16, 12)
    sim = EventSimulator(g, sigma=0.05, seed=3, contrast_on=0.2, contrast_off=0.3)
    px, py = 5, 7
    i = py * g.width + px
    c = sim.thresholds_on[i] if sign > 0 else sim.thresholds_off[i]
    base = np.full(g.shape, 0.4)
    step = base.copy()
    step[py, px] = level(0.4, sign * (k + 0.5) * c)  # k and a half thresholds
    assert sim.feed(base, 1_000).size == 0
    ev = sim.feed(step, 11_000)
    assert ev.size == k
    assert (ev["x"] == px).all() and (ev["y"] == py).all()
    assert (ev["p"] == (1 if sign > 0 else 0)).all()
    # exact timestamps: log intensity is linear in time, so crossing j is at j / (k + 0.5) of the way
    expected = np.floor(1_000 + 10_000 * np.arange(1, k + 1) / (k + 0.5)).astype(np.int64)
    assert np.abs(ev["t"] - expected).max() <= 1


def test_static_scene_without_noise_gives_no_events() -> None:
    g = Geometry(64, 48)
    rng = np.random.default_rng(0)
    image = rng.random(g.shape)
    sim = EventSimulator(g, sigma=0.05, refractory_us=100, seed=1)
    total = sum(sim.feed(image, t).size for t in range(0, 100_000, 5_000))
    assert total == 0


def test_timestamps_lie_between_frames_and_are_ordered() -> None:
    g = Geometry(40, 30)
    rng = np.random.default_rng(2)
    sim = EventSimulator(g, seed=4, shot_noise_rate=50.0, leak_rate=2.0)
    t_prev = 7_000
    sim.feed(rng.random(g.shape), t_prev)
    for t in (12_000, 12_001, 30_000, 31_000):
        ev = sim.feed(rng.random(g.shape), t)
        assert ev.size > 0
        assert ev.dtype == EVENT_DTYPE
        assert (ev["t"] >= t_prev).all() and (ev["t"] <= t).all()
        assert (np.diff(ev["t"]) >= 0).all()
        assert ev["x"].min() >= 0 and ev["x"].max() < g.width
        assert ev["y"].min() >= 0 and ev["y"].max() < g.height
        t_prev = t


def bar_render(g: Geometry, path) -> callable:
    """A bright bar 6 px wide on a dark background; its left edge at path(t) (anti-aliased)."""
    cols = np.arange(g.width, dtype=np.float64)

    def render(t: int) -> np.ndarray:
        left = path(t)
        cover = np.clip(np.minimum(cols + 1, left + 6) - np.maximum(cols, left), 0, 1)
        return np.tile(0.1 + 0.7 * cover, (g.height, 1))

    return render


def test_on_off_balance_for_a_bar_moving_both_ways() -> None:
    g = Geometry(80, 4)
    speed = 200.0  # px/s
    half = 300_000  # µs each way: 60 px

    def path(t: int) -> float:
        return 5 + speed * (t if t <= half else 2 * half - t) / 1e6

    sim = EventSimulator(g, sigma=0.0, seed=0)
    ev = simulate_render(sim, bar_render(g, path), 0, 2 * half)
    on, off = int((ev["p"] == 1).sum()), int((ev["p"] == 0).sum())
    assert on > 500 and off > 500
    assert abs(on - off) <= 0.02 * (on + off)
    # moving right, the leading (right) edge brightens: ON events lie right of OFF events
    fwd = ev[(ev["t"] > 50_000) & (ev["t"] < half - 50_000)]
    back = ev[(ev["t"] > half + 50_000) & (ev["t"] < 2 * half - 50_000)]
    assert fwd["x"][fwd["p"] == 1].mean() > fwd["x"][fwd["p"] == 0].mean() + 4
    assert back["x"][back["p"] == 1].mean() < back["x"][back["p"] == 0].mean() - 4


def test_fast_motion_does_not_alias_to_frame_times() -> None:
    """An edge at 5000 px/s: every ON event fires while the edge is inside its pixel."""
    g = Geometry(100, 2)
    speed = 5000.0

    def path(t: int) -> float:
        return -6 + speed * t / 1e6  # the bar's right (leading) edge is at path + 6

    sim = EventSimulator(g, sigma=0.0, seed=0)
    ev = simulate_render(sim, bar_render(g, path), 0, 20_000)
    on = ev[ev["p"] == 1]
    assert on.size >= 2 * 90  # every column crossed by the leading edge fires
    enter = (on["x"].astype(float) - 0) / speed * 1e6  # leading edge reaches the column
    leave = (on["x"].astype(float) + 1) / speed * 1e6
    assert ((on["t"] >= np.floor(enter) - 1) & (on["t"] <= np.ceil(leave) + 1)).all()


def test_refractory_period_separates_events_at_a_pixel() -> None:
    g = Geometry(1, 1)
    sim = EventSimulator(g, sigma=0.0, refractory_us=1_000)
    sim.feed(np.full((1, 1), 0.05), 0)
    ev = sim.feed(np.full((1, 1), 0.9), 2_000)  # ~14 thresholds in 2 ms
    assert 2 <= ev.size <= 3
    assert (np.diff(ev["t"]) >= 999).all()


def test_leak_and_shot_noise_rates() -> None:
    g = Geometry(100, 100)
    image = np.full(g.shape, 0.5)
    sim = EventSimulator(g, seed=5, leak_rate=2.0)
    sim.feed(image, 0)
    ev = sim.feed(image, 1_000_000)
    assert (ev["p"] == 1).all()  # leak only makes ON events
    assert abs(ev.size - 2.0 * g.width * g.height) < 0.1 * 2.0 * g.width * g.height
    sim = EventSimulator(g, seed=6, shot_noise_rate=3.0)
    sim.feed(image, 0)
    ev = sim.feed(image, 1_000_000)
    mean = 3.0 * g.width * g.height
    assert abs(ev.size - mean) < 5 * np.sqrt(mean)
    assert abs((ev["p"] == 1).mean() - 0.5) < 0.03


def test_same_seed_same_events_bit_for_bit() -> None:
    g = Geometry(48, 32)
    rng = np.random.default_rng(9)
    frames = rng.random((6, *g.shape))
    times = np.arange(6) * 3_000
    kw = dict(sigma=0.05, refractory_us=200, shot_noise_rate=20.0, leak_rate=1.0)
    a = simulate_frames(frames, times, seed=11, **kw)
    b = simulate_frames(frames, times, seed=11, **kw)
    c = simulate_frames(frames, times, seed=12, **kw)
    assert a.size > 1000
    assert a.tobytes() == b.tobytes()
    assert a.size != c.size or a.tobytes() != c.tobytes()


def test_bad_input_gets_evrt_errors() -> None:
    sim = EventSimulator(Geometry(4, 3))
    with pytest.raises(EventDataError, match="shape"):
        sim.feed(np.zeros((4, 4)), 0)
    sim.feed(np.zeros((3, 4)), 10)
    with pytest.raises(EventDataError, match="before"):
        sim.feed(np.zeros((3, 4)), 5)
    bad = np.zeros((3, 4))
    bad[1, 2] = np.nan
    with pytest.raises(EventDataError, match=r"x=2, y=1"):
        sim.feed(bad, 20)
    bad[1, 2] = -1.0
    with pytest.raises(EventDataError, match="negative"):
        sim.feed(bad, 20)
    with pytest.raises(ConfigError):
        EventSimulator(Geometry(4, 3), contrast_on=0.0)
    with pytest.raises(ConfigError, match="unknown"):
        EventSimulator(Geometry(4, 3), threshold=0.2)


def test_frames_to_events_node_matches_the_simulator_and_tiles_time() -> None:
    from evrt.sources.synthetic.simulator import join_events

    from evrt import Graph
    from evrt.events import EventPacket
    from evrt.graph.node import Sink, Source
    from evrt.messages import Frame

    g = Geometry(30, 20)
    rng = np.random.default_rng(3)
    frames = rng.random((8, *g.shape))
    times = np.arange(8) * 2_000 + 500

    class Frames(Source):
        def messages(self):
            for f, t in zip(frames, times, strict=True):
                yield Frame(f, "frames", int(t), int(t))

    class Collect(Sink):
        def __init__(self) -> None:
            self.got: list = []

        def process(self, message) -> None:
            self.got.append(message)

    sink = Collect()
    graph = Graph("f2e")
    graph.add("src", Frames())
    graph.add("sim", "frames_to_events", inputs=["src"], sigma=0.05, seed=7, passthrough=False)
    graph.add("out", sink, inputs=["sim"])
    graph.run()
    packets = [m for m in sink.got if isinstance(m, EventPacket)]
    windows = [(p.t_start, p.t_end) for p in packets[:7]]
    assert windows == list(zip(times[:-1].tolist(), times[1:].tolist(), strict=True))
    for p in packets:
        assert p.events.size == 0 or (p.t_start <= p.events["t"].min() and p.events["t"].max() < p.t_end)
    expected = simulate_frames(frames, times, seed=7, sigma=0.05)
    assert join_events([p.events for p in packets]).tobytes() == expected.tobytes()

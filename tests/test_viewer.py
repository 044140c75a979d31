"""Viewer sink, rendering and the runner's stats forwarding, checked over real HTTP."""

from __future__ import annotations

import threading
import urllib.request

import numpy as np
import pytest
from viewer_helpers import MixedSource, free_port, get, get_json, png_pixels, wait_for

import evrt
from evrt.errors import ConfigError, NodeError
from evrt.events import EVENT_DTYPE, make_events
from evrt.graph import registry
from evrt.sinks.imaging import (
    OFF_RGB,
    ON_RGB,
    TIE_RGB,
    EventCounts,
    colour_map,
    colour_table,
    events_rgb,
    tensor_rgb,
)
from evrt.sinks.viewer.node import ViewerSink


def test_event_counts_match_numpy_oracle_and_skip_off_grid():
    rng = np.random.default_rng(3)
    n = 20_000
    ev = make_events(np.arange(n), rng.integers(-2, 34, n), rng.integers(-2, 26, n),
                     rng.integers(0, 2, n))
    c = EventCounts(32, 24)
    c.add(ev)
    ok = (ev["x"] >= 0) & (ev["x"] < 32) & (ev["y"] >= 0) & (ev["y"] < 24)
    on = np.zeros((24, 32), np.int64)
    off = np.zeros((24, 32), np.int64)
    np.add.at(on, (ev["y"][ok & (ev["p"] == 1)], ev["x"][ok & (ev["p"] == 1)]), 1)
    np.add.at(off, (ev["y"][ok & (ev["p"] == 0)], ev["x"][ok & (ev["p"] == 0)]), 1)
    assert np.array_equal(c.on, on) and np.array_equal(c.off, off)
    assert (c.t_start, c.t_end) == (0, n - 1)


def test_events_rgb_colours_by_net_polarity():
    on = np.array([[2, 0, 1, 0]])
    off = np.array([[1, 3, 1, 0]])
    img = events_rgb(on, off)
    assert img[0, 0].tolist() == list(ON_RGB)
    assert img[0, 1].tolist() == list(OFF_RGB)
    assert img[0, 2].tolist() == list(TIE_RGB)
    assert img[0, 3].tolist() == [0, 0, 0]


def test_colour_map_ends_and_nan_black():
    a = np.linspace(0, 1, 12).reshape(3, 4)
    a[1, 1] = np.nan
    img = colour_map(a, robust=False)
    lut = colour_table("turbo")
    assert img[0, 0].tolist() == lut[0].tolist()
    assert img[2, 3].tolist() == lut[255].tolist()
    assert img[1, 1].tolist() == [0, 0, 0]


def test_tensor_rgb_shapes():
    assert tensor_rgb(np.zeros(5)).shape == (1, 5, 3)
    assert tensor_rgb(np.ones((3, 4, 5))).shape == (4, 5, 3)
    spikes = np.zeros((4, 2, 3, 5), np.float32)  # (T, polarity, H, W)
    spikes[:, 1, 0, 0] = 1
    spikes[:, 0, 2, 4] = 1
    img = tensor_rgb(spikes)
    assert img[0, 0].tolist() == list(ON_RGB) and img[2, 4].tolist() == list(OFF_RGB)


def test_viewer_registered_with_bind_port_schema():
    params = registry.parameters(registry.resolve("viewer"))
    assert params["bind"].default == "127.0.0.1"
    assert "port" in params and "fps" in params


def _run_in_thread(graph: evrt.Graph) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def target() -> None:
        try:
            out["result"] = graph.run()
        except BaseException as exc:  # reported to the test thread
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, out


def test_viewer_serves_events_tensors_predictions_and_stats():
    viewer = ViewerSink(port=0, fps=50, linger=0.5)
    g = evrt.Graph("viewer-test", stats_interval=0.2)
    g.add("source", MixedSource(count=40, period_s=0.05))
    g.add("view", viewer, inputs=["source"])
    thread, out = _run_in_thread(g)
    url = wait_for(lambda: viewer.url)
    assert url.startswith("http://127.0.0.1:")
    status, page = get(url)
    assert status == 200 and b"evrt viewer" in page
    st = wait_for(lambda: (s := get_json(url + "state.json"))["stats"]["updates"] >= 2 and s)
    names = {r["node"] for r in st["stats"]["rows"]}
    assert names == {"source", "view"}
    src = next(r for r in st["stats"]["rows"] if r["node"] == "source")
    assert src["messages"] > 0
    # event picture: the ON pixel (1, 2) green, the OFF pixel (5, 3) red, the rest black
    wait_for(lambda: any(s["name"] == "events" and s["seq"] > 0 for s in get_json(url + "state.json")["streams"]))
    img = png_pixels(get(url + "frame/events.png")[1])
    assert img.shape == (6, 8, 3)
    assert img[2, 1].tolist() == list(ON_RGB) and img[3, 5].tolist() == list(OFF_RGB)
    assert int((img.sum(axis=2) > 0).sum()) == 2
    # depth map: colour-mapped, NaN hole black, the largest value at the top of the colour map
    depth = png_pixels(get(url + "frame/depth.png")[1])
    assert depth[0, 0].tolist() == [0, 0, 0]
    assert depth[5, 7].tolist() == colour_table("turbo")[255].tolist()
    preds = get_json(url + "state.json")["predictions"]
    assert preds[0]["name"] == "class"
    last = preds[0]["recent"][0]
    assert last["timesteps_max"] == 8 and 4 <= last["timesteps"] <= 7
    assert last["name"] == f"c{last['label']}"
    with pytest.raises(Exception) as info:
        get(url + "frame/nope.png")
    assert "404" in str(info.value)
    thread.join(30)
    assert "error" not in out, out.get("error")
    assert out["result"].nodes["view"]["msgs_in"] == 120


def test_viewer_in_processes_placement_gets_run_stats():
    port = free_port()
    g = evrt.Graph("viewer-procs", placement="processes", stats_interval=0.2)
    g.add("source", "synthetic", pattern="moving_bar", duration=3.0, speed=1.0, noise_rate=2e4)
    g.add("view", "viewer", inputs=["source"], port=port, fps=20.0)
    thread, out = _run_in_thread(g)
    url = f"http://127.0.0.1:{port}/"

    def stats_seen():
        try:
            s = get_json(url + "state.json")
        except OSError:
            return None
        return s if s["stats"]["updates"] >= 2 else None

    st = wait_for(stats_seen, timeout=30)
    assert {r["node"] for r in st["stats"]["rows"]} == {"source", "view"}
    assert all(r["events"] > 0 for r in st["stats"]["rows"])
    img = png_pixels(get(url + "frame/events.png")[1])
    assert img.shape == (260, 346, 3)
    thread.join(30)
    assert "error" not in out, out.get("error")
    assert out["result"].status == "completed"


def test_port_in_use_is_a_config_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        g = evrt.Graph("busy")
        g.add("source", "synthetic", duration=0.05)
        g.add("view", "viewer", inputs=["source"], port=port)
        with pytest.raises(NodeError, match="cannot listen"):
            g.run()


def test_bad_viewer_params_are_config_errors():
    g = evrt.Graph("bad")
    g.add("source", "synthetic", duration=0.05)
    g.add("view", "viewer", inputs=["source"], format="gif")
    with pytest.raises(ConfigError):
        g.config.validate()
        registry.build("viewer", {"format": "gif"}, node="view")


def test_unknown_colour_map_is_config_error():
    with pytest.raises(ConfigError, match="colour map"):
        registry.build("viewer", {"colormap": "nope"}, node="view")
    with pytest.raises(ConfigError, match="colour map"):
        registry.build("png", {"colormap": "nope"}, node="png")


def test_jpeg_frames_and_frame_messages_over_http():
    from evrt.messages import Frame
    from evrt.sinks.viewer.server import ViewerServer
    from evrt.sinks.viewer.state import ViewerState

    state = ViewerState(fps=50, fmt="jpeg", cmap="turbo", title="t")
    server = ViewerServer(state, "127.0.0.1", 0)
    server.start()
    try:
        image = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (32, 1))
        state.add(Frame(image, "aps", 0, 1))
        with urllib.request.urlopen(server.url + "frame/aps.jpg", timeout=5) as r:
            assert r.headers["Content-Type"] == "image/jpeg"
            data = r.read()
        assert data[:2] == b"\xff\xd8"  # JPEG start-of-image
        grey = png_pixels(data).astype(int)  # PIL reads JPEG too
        assert grey.shape == (32, 64, 3)
        assert np.abs(grey[:, :, 0] - image).mean() < 4  # a grey ramp survives JPEG
        st = get_json(server.url + "state.json")
        assert st["streams"][0]["kind"] == "frame" and st["stats"]["rows"] == []
    finally:
        server.stop()


def test_empty_packets_are_harmless():
    c = EventCounts(4, 4)
    c.add(np.zeros(0, EVENT_DTYPE))
    assert c.events == 0 and c.t_start is None


def test_counting_cap_skips_and_counts_the_rest():
    from evrt.events import EventPacket, Geometry
    from evrt.sinks.viewer.state import ViewerState

    state = ViewerState(fps=20, fmt="png", cmap="turbo", title="t", max_busy=1e-6)
    ev = make_events(np.arange(1000), np.arange(1000) % 8, np.zeros(1000), np.ones(1000))
    for k in range(50):
        state.add(EventPacket(ev, Geometry(8, 4), "events", k, k + 1))
    s = state.images["events"]
    assert s.events >= 1000  # the first packet of a period is always counted
    assert s.events_skipped > 0
    assert s.events + s.events_skipped == 50 * 1000
    assert s.messages == 50


class _StatsProbe(evrt.graph.node.Sink):
    """Records what `context.run_stats()` returns after each message."""

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def process(self, message: object) -> None:
        self.seen.append(self.context.run_stats())


class _WantsStats(_StatsProbe):
    wants_run_stats = True


def test_run_stats_reach_only_nodes_that_ask():
    plain, asking = _StatsProbe(), _WantsStats()
    g = evrt.Graph("probe", stats_interval=0.1)
    g.add("source", "synthetic", duration=1.0, speed=2.0)
    g.add("relay", "passthrough", inputs=["source"])
    g.add("plain", plain, inputs=["relay"])
    g.add("asking", asking, inputs=["relay"])
    g.run()
    assert all(s == {} for s in plain.seen)
    last = asking.seen[-1]
    assert list(last)[:2] == ["source", "relay"]  # graph order, sources first
    assert set(last) == {"source", "relay", "plain", "asking"}
    assert last["source"]["events_out"] > 0

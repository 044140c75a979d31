"""A slow or absent browser never blocks the graph.

A 1 Mev/s source paced at real time feeds the viewer with no browser, with a stalled
client (connected, never sends a request) plus a slow one (one picture every 0.3 s), in
both flow modes. The graph must keep real time (the source's lag stays small and the run
lasts about as long as with a null sink), deliver every event in lossless mode, and the
viewer must count the pictures it dropped. Throughput ratios are in BENCHMARKS.md
(benchmarks/viewer_throughput.py); here the bounds are loose enough for a loaded machine.
"""

from __future__ import annotations

import socket
import threading

import pytest
from viewer_helpers import get, wait_for

import evrt
from evrt.sinks.viewer.node import ViewerSink

DURATION = 2.0


def _graph(flow: str, sink: object) -> evrt.Graph:
    g = evrt.Graph(f"nonblocking-{flow}", flow=flow, stats_interval=0.25)
    g.add("source", "synthetic", pattern="poisson", rate=1e6, duration=DURATION, speed=1.0)
    g.add("sink", sink, inputs=["source"])
    return g


class _Clients:
    """A stalled TCP client and a slow HTTP client, running until stopped."""

    def __init__(self, viewer: ViewerSink):
        self.viewer = viewer
        self.stop = threading.Event()
        self.fetched = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        url = wait_for(lambda: self.viewer.url, timeout=30)
        host, port = url.split("//")[1].rstrip("/").split(":")
        stalled = socket.create_connection((host, int(port)))
        stalled.sendall(b"GET /state.json HTTP/1.1\r\n")  # never finishes its request
        try:
            while not self.stop.is_set():
                try:
                    get(url + "state.json")
                    if get(url + "frame/events.png")[0] == 200:
                        self.fetched += 1
                except OSError:
                    pass
                self.stop.wait(0.3)
        finally:
            stalled.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.mark.parametrize("flow", ["lossless", "realtime"])
def test_slow_or_absent_browser_never_blocks_the_graph(flow):
    base = _graph(flow, "null").run()
    baseline_s = base.nodes["source"]["elapsed_s"]
    for with_clients in (False, True):
        viewer = ViewerSink(port=0, fps=20.0)
        g = _graph(flow, viewer)
        clients = _Clients(viewer) if with_clients else None
        result = g.run()
        if clients:
            clients.close()
        assert result.status == "completed"
        src, view = result.nodes["source"], result.nodes["sink"]
        assert src["events_out"] > 0.9e6 * DURATION
        # the paced source kept real time: it was never held up by the sink
        assert src["lag_ms"] < 1000, src["lag_ms"]  # waiting on the stalled client would cost >= 10 s
        # and the stream lasted as long as with a null sink (start-up, e.g. imports, excluded)
        assert src["elapsed_s"] < baseline_s * 1.2 + 0.5, (src["elapsed_s"], baseline_s)
        edge = result.edges["source->sink"]
        if flow == "lossless":
            assert view["events_in"] == src["events_out"]
            assert edge["dropped"] == 0
        else:  # whatever was not delivered was counted as dropped
            assert edge["received"] + edge["dropped"] == edge["offered"]
        stream = viewer.state.images["events"]
        assert stream.events + stream.events_skipped == view["events_in"]
        assert stream.events > 0.5 * view["events_in"]  # 1 Mev/s is well within the budget
        if with_clients:
            assert clients.fetched >= 2
            # ~20 frames/s were made, a picture every 0.3 s was fetched: the rest were dropped
            assert stream.frames_dropped > stream.frames_rendered
            assert stream.frames_rendered >= clients.fetched - 1
        else:
            assert stream.frames_rendered == 0  # nobody looking: nothing drawn or encoded

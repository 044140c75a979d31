"""The first sinks: npz (streaming, loadable), ZMQ publisher read by a plain pyzmq SUB, stats JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import zmq

from evrt.events import PACKED_EVENT_DTYPE
from evrt.graph import transport
from evrt.graph.config import from_dict
from evrt.graph.runner import Runner
from evrt.sinks.npz import load
from evrt.sources.synthetic.patterns import PatternSource

SOURCE = dict(pattern="moving_bar", width=64, height=48, duration=0.1, window_us=10_000, seed=3)


def test_npz_sink_round_trips_every_event(tmp_path):
    path = tmp_path / "out.npz"
    cfg = from_dict({"nodes": {"src": {"type": "synthetic", **SOURCE},
                               "rec": {"type": "npz", "path": str(path), "inputs": ["src"]}}})
    Runner(cfg).run()
    got = load(str(path))["events"]
    want = PatternSource(**SOURCE).all_events()
    assert got.size == want.size > 0
    np.testing.assert_array_equal(got.astype(PACKED_EVENT_DTYPE), want.astype(PACKED_EVENT_DTYPE))


def test_zmq_publisher_is_readable_by_an_outside_pyzmq_subscriber():
    port = transport.free_tcp_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    received: list[np.ndarray] = []
    ready = threading.Event()

    def subscriber() -> None:
        ctx = zmq.Context.instance()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"events")
        sub.setsockopt(zmq.RCVTIMEO, 5000)
        sub.connect(endpoint)
        ready.set()
        try:
            while True:
                frames = sub.recv_multipart()
                header = json.loads(frames[1])
                if header["kind"] == "events":
                    received.append(np.frombuffer(frames[2], dtype=np.dtype(header["array"]["dtype"])).copy())
        except zmq.Again:
            pass
        finally:
            sub.close(0)

    th = threading.Thread(target=subscriber)
    th.start()
    ready.wait()
    # paced at real time for 1 s, so the subscriber has joined long before most packets
    cfg = from_dict({"nodes": {"src": {"type": "synthetic", **{**SOURCE, "duration": 1.0}, "speed": 1.0},
                               "pub": {"type": "zmq_pub", "endpoint": endpoint, "inputs": ["src"]}}})
    Runner(cfg).run()
    th.join()
    want = PatternSource(**{**SOURCE, "duration": 1.0}).all_events()
    assert len(received) >= 80  # of 100 packets; the first may precede the subscription
    tail = np.concatenate([r["t"] for r in received])
    np.testing.assert_array_equal(tail, want["t"][-tail.size:])


def test_cli_stats_json_and_nodes_listing(tmp_path):
    stats = tmp_path / "s.jsonl"
    cfg = tmp_path / "g.toml"
    cfg.write_text("""
[graph]
stats_interval = 0.2
[nodes.src]
type = "synthetic"
duration = 1.0
speed = 1.0
[nodes.sink]
type = "null"
inputs = ["src"]
""")
    proc = subprocess.run([sys.executable, "-m", "evrt.cli", "run", str(cfg), "--stats-json", str(stats)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ev/s" in proc.stderr and "p99 ms" in proc.stderr
    records = [json.loads(line) for line in stats.read_text().splitlines()]
    assert len(records) >= 3 and records[-1]["final"]
    final = records[-1]
    assert final["nodes"]["sink"]["events_in"] == final["nodes"]["src"]["events_out"] > 0
    assert final["nodes"]["sink"]["latency_p99_ms"] is not None
    assert final["edges"]["src->sink"]["dropped"] == 0
    listing = subprocess.run([sys.executable, "-m", "evrt.cli", "nodes"], capture_output=True,
                             text=True, timeout=120).stdout
    assert "synthetic  [source]" in listing and "duration: float = 1.0" in listing

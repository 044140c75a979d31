"""Hosts placement with `evrt worker` daemons (on loopback here), with and without CURVE keys."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from evrt.errors import ConfigError, EvrtError
from evrt.graph.config import from_dict
from evrt.graph.runner import Runner
from evrt.graph.transport import free_tcp_port
from evrt.sinks.basic import EventChecksum
from evrt.sources.synthetic.patterns import PatternSource

SOURCE = dict(pattern="poisson", width=128, height=96, duration=0.2, rate=2e6, window_us=5000, seed=11)


def _start_worker(port: int, keys: str | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "evrt.cli", "worker", "--listen", f"tcp://127.0.0.1:{port}"]
    if keys:
        cmd += ["--keys", keys]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    assert "listening" in proc.stderr.readline()
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(10)


@pytest.mark.parametrize("with_keys", [False, True])
def test_nodes_on_a_worker_receive_every_event(tmp_path, with_keys):
    keys = None
    if with_keys:
        keys = str(tmp_path / "cluster.key")
        subprocess.run([sys.executable, "-m", "evrt.cli", "keys", keys], check=True, capture_output=True)
    port = free_tcp_port()
    worker = _start_worker(port, keys)
    out = tmp_path / "digest.json"
    graph: dict = {"placement": "hosts", "queue": 2}
    if keys:
        graph["curve_keys"] = keys
    try:
        cfg = from_dict({"graph": graph, "nodes": {
            "src": {"type": "synthetic", **SOURCE},
            "relay": {"type": "passthrough", "inputs": ["src"], "host": f"127.0.0.1:{port}"},
            "sink": {"type": "evrt.graph.testing:DigestSink", "inputs": ["relay"], "path": str(out),
                     "delay": 0.002, "host": f"127.0.0.1:{port}"},
        }})
        result = Runner(cfg).run()
    finally:
        _stop(worker)
    ck = EventChecksum()
    ck.update(PatternSource(**SOURCE).all_events())
    got = json.loads(out.read_text())
    assert (got["events"], got["digest"]) == (ck.count, ck.hexdigest())
    assert result.status == "completed" and result.edges["relay->sink"]["dropped"] == 0


def test_a_worker_with_other_keys_is_reported_clearly(tmp_path):
    a, b = str(tmp_path / "a.key"), str(tmp_path / "b.key")
    for k in (a, b):
        subprocess.run([sys.executable, "-m", "evrt.cli", "keys", k], check=True, capture_output=True)
    port = free_tcp_port()
    worker = _start_worker(port, b)
    try:
        cfg = from_dict({"graph": {"placement": "hosts", "curve_keys": a}, "nodes": {
            "src": {"type": "synthetic", **SOURCE},
            "sink": {"type": "null", "inputs": ["src"], "host": f"127.0.0.1:{port}"}}})
        t = time.monotonic()
        with pytest.raises(EvrtError, match=r"no `evrt worker` answered at 127.0.0.1:\d+"):
            Runner(cfg).run()
        assert time.monotonic() - t < 30
    finally:
        _stop(worker)


def test_host_rules():
    with pytest.raises(ConfigError, match=r"\[nodes.sink\] key 'host': a host off loopback needs"):
        from_dict({"graph": {"placement": "hosts"}, "nodes": {
            "src": {"type": "synthetic"}, "sink": {"type": "null", "inputs": ["src"], "host": "10.1.2.3:7777"}}})
    with pytest.raises(ConfigError, match=r"key 'host': expected HOST:PORT"):
        from_dict({"graph": {"placement": "hosts"}, "nodes": {
            "src": {"type": "synthetic"}, "sink": {"type": "null", "inputs": ["src"], "host": "box"}}})
    with pytest.raises(ConfigError, match=r"key 'host': 'host' is only valid with placement"):
        from_dict({"nodes": {
            "src": {"type": "synthetic"}, "sink": {"type": "null", "inputs": ["src"], "host": "127.0.0.1:1"}}})

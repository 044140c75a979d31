"""Graph throughput and per-hop latency vs raw pyzmq moving the same bytes, in one run.

Topology in both: source -> relay -> sink (two hops). The raw baseline is the least a
ZeroMQ pipeline in Python can cost: PUSH/PULL with the same packet buffers, copy=False,
one thread (threads: inproc) or one process (processes: ipc, hosts: tcp loopback) per stage.

    .venv/bin/python benchmarks/bench_graph.py            # writes benchmarks/results/graph.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import zmq

from evrt.graph.config import from_dict
from evrt.graph.runner import Runner
from evrt.graph.testing import RepeatSource
from evrt.graph.transport import free_tcp_port

RESULTS = Path(__file__).parent / "results"
SIZES = (4096, 16384, 65536)
TOTAL_EVENTS = 32_000_000
MIN_MESSAGES = 1000
REPEATS = 3


def _payload(n: int) -> np.ndarray:
    return RepeatSource(packet_events=n, count=1).events


# ---- raw pyzmq stages -------------------------------------------------------------------
def raw_produce(endpoint: str, n: int, count: int, ctx: zmq.Context | None = None) -> None:
    own = ctx is None
    ctx = ctx or zmq.Context()
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.SNDHWM, 8)
    s.connect(endpoint)
    buf = memoryview(_payload(n)).cast("B")
    for i in range(count):
        s.send_multipart([b'{"seq":%d}' % i, buf], copy=False)
    s.send_multipart([b"END", b""])
    s.close(linger=-1)
    if own:
        ctx.term()  # wait until every zero-copy buffer is sent before `buf` can be freed


def raw_forward(bind: str, endpoint: str, ctx: zmq.Context | None = None) -> None:
    ctx = ctx or zmq.Context.instance()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 8)
    pull.bind(bind)
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, 8)
    push.connect(endpoint)
    while True:
        frames = pull.recv_multipart(copy=False)
        push.send_multipart(frames, copy=False)
        if frames[0].bytes == b"END":
            break
    pull.close()
    push.close(linger=-1)


def raw_consume(bind: str, ctx: zmq.Context | None = None, out: dict | None = None) -> None:
    ctx = ctx or zmq.Context.instance()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 8)
    pull.bind(bind)
    events = 0
    t0 = None
    while True:
        frames = pull.recv_multipart(copy=False)
        if t0 is None:
            t0 = time.perf_counter()
        if frames[0].bytes == b"END":
            break
        events += len(frames[1].buffer) // 16
    elapsed = time.perf_counter() - t0
    pull.close()
    if out is not None:
        out.update(events=events, seconds=elapsed)
    else:
        print(json.dumps({"events": events, "seconds": elapsed}), flush=True)


def raw_run(placement: str, n: int, count: int) -> float:
    """Mev/s of the raw two-hop chain."""
    if placement == "threads":
        ctx = zmq.Context()
        a, b = "inproc://raw-mid", "inproc://raw-sink"
        out: dict = {}
        th = [threading.Thread(target=raw_consume, args=(b, ctx, out)),
              threading.Thread(target=raw_forward, args=(a, b, ctx))]
        for t in th:
            t.start()
        time.sleep(0.1)
        p = threading.Thread(target=raw_produce, args=(a, n, count, ctx))
        p.start()
        for t in [p, *th]:
            t.join()
        ctx.term()
        return out["events"] / out["seconds"] / 1e6
    if placement == "processes":
        d = tempfile.mkdtemp()
        a, b = f"ipc://{d}/mid", f"ipc://{d}/sink"
        ba, bb = a, b
    else:
        pa, pb = free_tcp_port(), free_tcp_port()
        a, b = f"tcp://127.0.0.1:{pa}", f"tcp://127.0.0.1:{pb}"
        ba, bb = a, b
    me = [sys.executable, __file__, "--raw"]
    cons = subprocess.Popen(me + ["consume", bb], stdout=subprocess.PIPE, text=True)
    fwd = subprocess.Popen(me + ["forward", ba, b])
    time.sleep(0.5)
    prod = subprocess.Popen(me + ["produce", a, str(n), str(count)])
    out = json.loads(cons.communicate()[0])
    prod.wait()
    fwd.wait()
    return out["events"] / out["seconds"] / 1e6


# ---- the same through evrt --------------------------------------------------------------
def graph_run(placement: str, n: int, count: int) -> float:
    cfg = from_dict({"graph": {"placement": placement, "queue": 8}, "nodes": {
        "src": {"type": "evrt.graph.testing:RepeatSource", "packet_events": n, "count": count},
        "relay": {"type": "passthrough", "inputs": ["src"]},
        "sink": {"type": "null", "inputs": ["relay"]}}})
    r = Runner(cfg).run()
    s = r.nodes["sink"]
    assert s["events_in"] == n * count
    # like the raw consumer: from the first message in to the last one (start-up excluded)
    return s["events_in"] * (count - 1) / count / s["active_s"] / 1e6


def latency_run(placement: str, relays: int, n: int = 4096, rate_hz: float = 200.0,
                count: int = 400) -> tuple[float, float]:
    nodes = {"src": {"type": "evrt.graph.testing:RepeatSource", "packet_events": n, "count": count,
                     "rate_hz": rate_hz}}
    prev = "src"
    for i in range(relays):
        nodes[f"r{i}"] = {"type": "passthrough", "inputs": [prev]}
        prev = f"r{i}"
    nodes["sink"] = {"type": "null", "inputs": [prev]}
    r = Runner(from_dict({"graph": {"placement": placement}, "nodes": nodes})).run()
    s = r.nodes["sink"]
    return s["latency_p50_ms"], s["latency_p99_ms"]


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    rows = []
    for placement in ("threads", "processes", "hosts"):
        for n in SIZES:
            count = max(MIN_MESSAGES, TOTAL_EVENTS // n)
            raw, ours = [], []
            for _ in range(REPEATS):  # interleaved, so load changes hit both alike
                raw.append(raw_run(placement, n, count))
                ours.append(graph_run(placement, n, count))
            row = {"placement": placement, "packet_events": n, "messages": count,
                   "raw_mevs": statistics.median(raw), "evrt_mevs": statistics.median(ours),
                   "raw_all": raw, "evrt_all": ours}
            row["ratio"] = row["evrt_mevs"] / row["raw_mevs"]
            rows.append(row)
            print(f"{placement:9s} {n:6d} ev/packet  raw {row['raw_mevs']:8.1f} Mev/s  "
                  f"evrt {row['evrt_mevs']:8.1f} Mev/s  ratio {row['ratio']:.2f}", flush=True)
    lat = []
    for placement in ("threads", "processes", "hosts"):
        p1 = latency_run(placement, 0)
        p4 = latency_run(placement, 3)
        per_hop = ((p4[0] - p1[0]) / 3, (p4[1] - p1[1]) / 3)
        lat.append({"placement": placement, "one_hop_p50_ms": p1[0], "one_hop_p99_ms": p1[1],
                    "four_hops_p50_ms": p4[0], "four_hops_p99_ms": p4[1],
                    "added_per_hop_p50_ms": per_hop[0], "added_per_hop_p99_ms": per_hop[1]})
        print(f"latency {placement:9s} 1 hop p50/p99 {p1[0]:.3f}/{p1[1]:.3f} ms, "
              f"per extra hop {per_hop[0]:.3f}/{per_hop[1]:.3f} ms", flush=True)
    (RESULTS / "graph.json").write_text(json.dumps({"throughput": rows, "latency": lat,
                                                    "cpus": os.cpu_count()}, indent=2))
    print(markdown(rows, lat))


def markdown(rows: list[dict], lat: list[dict]) -> str:
    """The BENCHMARKS.md tables for this run."""
    out = ["| placement | events/packet | raw pyzmq Mev/s | evrt Mev/s | evrt / raw |",
           "|---|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['placement']} | {r['packet_events']} | {r['raw_mevs']:.1f} | "
                   f"{r['evrt_mevs']:.1f} | {r['ratio']:.2f} |")
    out += ["", "| placement | 1 hop p50 / p99 ms | 4 hops p50 / p99 ms | added per hop p50 / p99 ms |",
            "|---|---:|---:|---:|"]
    for r in lat:
        out.append(f"| {r['placement']} | {r['one_hop_p50_ms']:.3f} / {r['one_hop_p99_ms']:.3f} | "
                   f"{r['four_hops_p50_ms']:.3f} / {r['four_hops_p99_ms']:.3f} | "
                   f"{r['added_per_hop_p50_ms']:.3f} / {r['added_per_hop_p99_ms']:.3f} |")
    return "\n".join(out)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", nargs="+")
    args = ap.parse_args()
    if args.raw:
        role, *rest = args.raw
        if role == "produce":
            raw_produce(rest[0], int(rest[1]), int(rest[2]))
        elif role == "forward":
            raw_forward(rest[0], rest[1])
        else:
            raw_consume(rest[0])
    else:
        main()

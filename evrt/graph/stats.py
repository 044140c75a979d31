"""Per-node counters kept inside a worker, and their aggregation and display in the runner."""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from typing import Any, TextIO

import numpy as np


class NodeStats:
    """Counters one worker keeps about its own node; snapshots travel to the runner as JSON."""

    def __init__(self, name: str):
        self.name = name
        self.started = time.monotonic()
        self.msgs_in = 0
        self.msgs_out = 0
        self.events_in = 0
        self.events_out = 0
        self.busy_ns = 0
        self.latency_ns: deque[int] = deque(maxlen=4096)
        self.in_edges: dict[str, dict[str, int]] = {}
        self.out_edges: dict[str, dict[str, int]] = {}
        self.queue_depth = 0
        self.lag_ms = 0.0
        self.first_input = 0.0  # monotonic time of the first input, and of the latest
        self.last_input = 0.0

    def in_edge(self, edge: str) -> dict[str, int]:
        e = self.in_edges.get(edge)
        if e is None:
            e = self.in_edges[edge] = {"received": 0, "gaps": 0, "evicted": 0, "reordered": 0,
                                       "duplicates": 0, "last_seq": -1}
        return e

    def out_edge(self, edge: str) -> dict[str, int]:
        e = self.out_edges.get(edge)
        if e is None:
            e = self.out_edges[edge] = {"sent": 0, "dropped": 0, "offered": 0}
        return e

    def record_seq(self, edge: str, seq: int) -> None:
        """Detect loss, duplication and reordering from the per-edge sequence number."""
        e = self.in_edge(edge)
        last = e["last_seq"]
        if seq == last + 1:
            pass
        elif seq > last + 1:
            e["gaps"] += seq - last - 1
        elif seq == last:
            e["duplicates"] += 1
        else:
            e["reordered"] += 1
        e["received"] += 1
        e["last_seq"] = max(last, seq)

    def snapshot(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        lat = np.fromiter(self.latency_ns, dtype=np.int64) if self.latency_ns else None
        return {
            "node": self.name,
            "elapsed_s": elapsed,
            "active_s": self.last_input - self.first_input,
            "msgs_in": self.msgs_in,
            "msgs_out": self.msgs_out,
            "events_in": self.events_in,
            "events_out": self.events_out,
            "events_per_s": (self.events_in or self.events_out) / elapsed,
            "msgs_per_s": (self.msgs_in or self.msgs_out) / elapsed,
            "busy": self.busy_ns / 1e9 / elapsed,
            "latency_p50_ms": float(np.percentile(lat, 50)) / 1e6 if lat is not None else None,
            "latency_p99_ms": float(np.percentile(lat, 99)) / 1e6 if lat is not None else None,
            "queue_depth": self.queue_depth,
            "lag_ms": self.lag_ms,
            "in_edges": {k: dict(v) for k, v in self.in_edges.items()},
            "out_edges": {k: dict(v) for k, v in self.out_edges.items()},
        }


def edge_summary(snapshots: dict[str, dict]) -> dict[str, dict[str, int]]:
    """Join producer and consumer views of every edge: offered, sent, received, dropped, in flight."""
    edges: dict[str, dict[str, int]] = {}
    for snap in snapshots.values():
        for label, o in snap.get("out_edges", {}).items():
            e = edges.setdefault(label, {})
            e.update(offered=o["offered"], sent=o["sent"], dropped_at_send=o["dropped"])
        for label, i in snap.get("in_edges", {}).items():
            e = edges.setdefault(label, {})
            e.update(received=i["received"], evicted=i["evicted"], gaps=i["gaps"],
                     reordered=i["reordered"], duplicates=i["duplicates"])
    for e in edges.values():
        e["dropped"] = e.get("dropped_at_send", 0) + e.get("evicted", 0)
        e["in_flight"] = max(e.get("sent", 0) - e.get("received", 0), 0)
    return edges


def _fmt_rate(v: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:6.2f}{unit}"
    return f"{v:7.1f}"


def format_table(snapshots: dict[str, dict], order: list[str]) -> str:
    edges = edge_summary(snapshots)
    lines = [f"{'node':<16}{'ev/s':>9}{'msg/s':>9}{'busy':>6}{'queue':>7}{'drops':>7}"
             f"{'p50 ms':>9}{'p99 ms':>9}"]
    for name in order:
        s = snapshots.get(name)
        if s is None:
            lines.append(f"{name:<16}  (starting)")
            continue
        drops = sum(e["dropped"] for lbl, e in edges.items() if lbl.endswith("->" + name))
        depth = sum(e["in_flight"] for lbl, e in edges.items() if lbl.endswith("->" + name))
        depth += s.get("queue_depth", 0)
        p50 = s["latency_p50_ms"]
        p99 = s["latency_p99_ms"]
        lines.append(
            f"{name:<16}{_fmt_rate(s['events_per_s']):>9}{_fmt_rate(s['msgs_per_s']):>9}"
            f"{s['busy'] * 100:5.0f}%{depth:>7}{drops:>7}"
            f"{(f'{p50:.2f}' if p50 is not None else '-'):>9}{(f'{p99:.2f}' if p99 is not None else '-'):>9}"
        )
    return "\n".join(lines)


class LiveDisplay:
    """Redraws the stats table in place on a terminal, or prints it each interval otherwise."""

    def __init__(self, stream: TextIO = sys.stderr):
        self.stream = stream
        self.lines = 0
        self.tty = stream.isatty()

    def show(self, text: str) -> None:
        if self.tty and self.lines:
            self.stream.write(f"\x1b[{self.lines}F\x1b[J")
        self.stream.write(text + "\n")
        self.stream.flush()
        self.lines = text.count("\n") + 1


class JsonLines:
    """Appends one JSON object per stats interval to a file (`--stats-json`)."""

    def __init__(self, path: str):
        self.file = open(path, "w")

    def write(self, record: dict) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()

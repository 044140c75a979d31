"""Nodes for testing graphs and runners: slow, failing and self-killing nodes, and a digest sink.

Referenced as `"evrt.graph.testing:SlowSink"` etc., so they also work in process placements.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from evrt.events import EventChecksum, EventPacket, Geometry, make_events
from evrt.graph.node import Node, Sink, Source


class DigestSink(Sink):
    """Records count, order-sensitive digest and message count per stream; sleeps `delay` s per message."""

    def __init__(self, path: str = "", delay: float = 0.0) -> None:
        self.path = path
        self.delay = delay
        self.messages = 0
        self.checksum = EventChecksum()

    def process(self, message: Any) -> None:
        if self.delay:
            time.sleep(self.delay)
        self.messages += 1
        if hasattr(message, "events"):
            self.checksum.update(message.events)

    def result(self) -> dict:
        return {"messages": self.messages, "events": self.checksum.count,
                "digest": self.checksum.hexdigest()}

    def close(self) -> None:
        if self.path:
            with open(self.path, "w") as f:
                json.dump(self.result(), f)


class FailAfter(Node):
    """Passes messages through, then raises RuntimeError on message number `after`."""

    def __init__(self, after: int = 3) -> None:
        self.after = after
        self.seen = 0

    def fail(self) -> None:
        raise RuntimeError(f"deliberate failure on message {self.seen}")

    def process(self, message: Any) -> tuple[Any, ...]:
        self.seen += 1
        if self.seen >= self.after:
            self.fail()
        return (message,)


class KillSelfAfter(FailAfter):
    """Kills its own process with SIGKILL on message number `after` (process placements only)."""

    def fail(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class RepeatSource(Source):
    """Emits the same pre-generated packet `count` times: a source that costs nothing, for benchmarks."""

    def __init__(self, packet_events: int = 4096, count: int = 1000, width: int = 346,
                 height: int = 260, seed: int = 0, rate_hz: float = 0.0) -> None:
        rng = np.random.default_rng(seed)
        g = Geometry(width, height)
        events = make_events(np.sort(rng.integers(0, 1_000_000, packet_events)),
                             rng.integers(0, width, packet_events),
                             rng.integers(0, height, packet_events),
                             rng.integers(0, 2, packet_events))
        self.packet_events = packet_events
        self.events = events
        self.geometry = g
        self.count = count
        self.rate_hz = rate_hz
        self.speed = 1.0 if rate_hz > 0 else 0.0

    def messages(self) -> Iterator[EventPacket]:
        step = int(1e6 / self.rate_hz) if self.rate_hz > 0 else 1
        for i in range(self.count):
            yield EventPacket(self.events, self.geometry, "events", i * step, (i + 1) * step)

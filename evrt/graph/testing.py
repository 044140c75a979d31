"""Nodes for testing graphs and runners: slow, failing and self-killing nodes, and a digest sink.

Referenced as `"evrt.graph.testing:SlowSink"` etc., so they also work in process placements.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

from evrt.graph.node import Node, Sink
from evrt.sinks.basic import EventChecksum


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

    def process(self, message: Any) -> tuple[Any, ...]:
        self.seen += 1
        if self.seen >= self.after:
            raise RuntimeError(f"deliberate failure on message {self.seen}")
        return (message,)


class KillSelfAfter(Node):
    """Kills its own process with SIGKILL on message number `after` (process placements only)."""

    def __init__(self, after: int = 3) -> None:
        self.after = after
        self.seen = 0

    def process(self, message: Any) -> tuple[Any, ...]:
        self.seen += 1
        if self.seen >= self.after:
            os.kill(os.getpid(), signal.SIGKILL)
        return (message,)

"""Small sinks: discard, count-and-checksum, and hand each message to a Python callable."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from evrt.events import EventChecksum, EventPacket
from evrt.graph.node import Sink


class NullSink(Sink):
    """Discards everything (the runner still counts what arrived)."""

    def __init__(self) -> None:
        pass

    def process(self, message: Any) -> None:
        return None


class StatsSink(Sink):
    """Counts messages and events per stream and keeps an ordered digest; writes a JSON summary if asked."""

    def __init__(self, path: str = "", print_summary: bool = True) -> None:
        self.path = path
        self.print_summary = print_summary
        self.streams: dict[str, dict] = {}
        self.checksums: dict[str, EventChecksum] = {}

    def process(self, message: Any) -> None:
        s = self.streams.setdefault(message.stream, {"messages": 0, "events": 0})
        s["messages"] += 1
        if isinstance(message, EventPacket):
            s["events"] += len(message)
            self.checksums.setdefault(message.stream, EventChecksum()).update(message.events)

    def summary(self) -> dict:
        out = {}
        for name, s in self.streams.items():
            out[name] = dict(s)
            if name in self.checksums:
                out[name]["checksum"] = self.checksums[name].hexdigest()
        return out

    def close(self) -> None:
        summary = self.summary()
        if self.path:
            with open(self.path, "w") as f:
                json.dump(summary, f, indent=2)
        if self.print_summary:
            for name, s in summary.items():
                print(f"[{getattr(self, 'context', None) and self.context.name}] stream '{name}': "
                      f"{s['messages']} messages, {s['events']} events"
                      + (f", checksum {s['checksum']}" if "checksum" in s else ""))


class CallbackSink(Sink):
    """Calls `callback(message)` for every message. Python API only (placement = threads)."""

    def __init__(self, callback: Callable[[Any], Any]) -> None:
        if not callable(callback):
            raise TypeError("callback must be callable")
        self.callback = callback

    def process(self, message: Any) -> None:
        self.callback(message)

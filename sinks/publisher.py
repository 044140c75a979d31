"""Publishes every message on a ZeroMQ PUB endpoint for programs outside the graph.

Frames: `[stream, header_json, buffer...]`. An outside subscriber needs only pyzmq:
`sub.setsockopt(zmq.SUBSCRIBE, b"events")`, then `evrt.graph.transport.unpack(frames[1:])`
or plain `json.loads(frames[1])` plus `np.frombuffer(frames[2], ...)` for non-Python peers.
The socket itself is owned by the runner (see `NodeContext.open_publisher`).
"""

from __future__ import annotations

from typing import Any

from evrt.graph.node import NodeContext, Sink


class ZmqPublisherSink(Sink):
    """Serves the stream to outside ZeroMQ SUB sockets at `endpoint` (default loopback only)."""

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5556") -> None:
        self.endpoint = endpoint

    def open(self, context: NodeContext) -> None:
        super().open(context)
        if context.open_publisher is None:
            raise RuntimeError("this runner offers no publisher sockets")
        self.publish = context.open_publisher(self.endpoint)

    def process(self, message: Any) -> None:
        self.publish(message)

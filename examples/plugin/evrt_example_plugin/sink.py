"""`jsonl_log`: one JSON line per message (kind, stream, window, size), e.g. for a robot's logger."""

from __future__ import annotations

import json
from pathlib import Path

from evrt.events import EventPacket
from evrt.graph.node import NodeContext, Sink
from evrt.messages import Prediction, TensorMsg


class JsonLinesLog(Sink):
    """Appends a summary of every message to `path` as JSON lines."""

    def __init__(self, path: str = "out/messages.jsonl") -> None:
        self.path = path

    def open(self, context: NodeContext) -> None:
        super().open(context)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "w")

    def process(self, message: object) -> None:
        record = {"kind": type(message).__name__, "stream": message.stream,
                  "t_start": message.t_start, "t_end": message.t_end}
        if isinstance(message, EventPacket):
            record["events"] = len(message)
        elif isinstance(message, TensorMsg):
            record["shape"] = list(message.data.shape)
        elif isinstance(message, Prediction):
            record.update(label=int(message.label), timesteps=message.timesteps)
        self.file.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if hasattr(self, "file"):
            self.file.close()

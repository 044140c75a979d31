"""A user's own sink: one CSV row per packet (window end, events, share of ON events).

Referenced from TOML as `type = "rate_logger:EventRateLogger"`; the module only has to be
importable (here: `PYTHONPATH=examples/custom_sink`).
"""

from __future__ import annotations

from pathlib import Path

from evrt.events import EventPacket
from evrt.graph.node import NodeContext, Sink


class EventRateLogger(Sink):
    """Writes `t_end_us,events,on_fraction` for every event packet to `path`."""

    def __init__(self, path: str = "out/rates.csv", every: int = 1) -> None:
        if every < 1:
            raise ValueError("every must be >= 1")
        self.path = path
        self.every = every

    def open(self, context: NodeContext) -> None:
        super().open(context)  # keeps `self.context` (name, placement, log, ...)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "w")
        self.file.write("t_end_us,events,on_fraction\n")
        self.seen = 0

    def process(self, message: object) -> None:
        if not isinstance(message, EventPacket):
            return  # a sink may receive any message kind; ignore what it does not use
        self.seen += 1
        if self.seen % self.every == 0:
            n = len(message)
            on = float(message.events["p"].mean()) if n else 0.0
            self.file.write(f"{message.t_end},{n},{on:.4f}\n")

    def close(self) -> None:  # always called, also after errors and Ctrl-C
        if hasattr(self, "file"):
            self.file.close()

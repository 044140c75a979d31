"""A user's own encoder: events -> a (2, H, W) tensor of OFF/ON counts per packet.

A transform is a plain `Node`: `process` returns the messages to send on. Referenced from
TOML as `count_encoder:PolarityCounts`; pictures of its tensors come from the `png` sink.
"""

from __future__ import annotations

import numpy as np

from evrt.events import EventPacket
from evrt.graph.node import Node
from evrt.messages import TensorMsg


class PolarityCounts(Node):
    """Counts each packet's events per pixel and polarity; `clip` caps the counts (0 = no cap)."""

    def __init__(self, clip: int = 0, stream: str = "counts") -> None:
        if clip < 0:
            raise ValueError("clip must be >= 0")
        self.clip = clip
        self.stream = stream

    def process(self, message: object) -> tuple[TensorMsg, ...]:
        if not isinstance(message, EventPacket):
            return ()
        g, ev = message.geometry, message.events
        flat = (ev["p"].astype(np.int64) * g.height + ev["y"]) * g.width + ev["x"]
        counts = np.bincount(flat, minlength=2 * g.height * g.width).astype(np.float32)
        counts = counts.reshape(2, g.height, g.width)
        if self.clip:
            np.minimum(counts, self.clip, out=counts)
        return (TensorMsg(counts, self.stream, message.t_start, message.t_end,
                          meta={"encoder": "polarity_counts"}),)

"""A graph transform: intensity `Frame`s in, simulated events out (the simulator as a node).

Turns any frame stream (a camera's APS frames, a scene's rendered frames, a video reader)
into events. Packet k covers [t_{k-1}, t_k) between consecutive frames; an event that lands
exactly on a frame time goes to the next packet, so windows never overlap.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from evrt.sources.synthetic.simulator import EventSimulator, join_events

from evrt.events import EventPacket, Geometry
from evrt.graph.node import Node
from evrt.messages import Frame


class FramesToEvents(Node):
    """Simulates an event sensor watching the incoming frames (other messages pass through)."""

    def __init__(self, *, frames: str = "frames", stream: str = "events", contrast: float = 0.2,
                 sigma: float = 0.03, refractory_us: float = 0.0, shot_noise_rate: float = 0.0,
                 leak_rate: float = 0.0, seed: int = 0, passthrough: bool = True) -> None:
        self.frames, self.stream = frames, stream
        self.params = dict(contrast_on=contrast, contrast_off=contrast, sigma=sigma,
                           refractory_us=refractory_us, shot_noise_rate=shot_noise_rate,
                           leak_rate=leak_rate)
        self.seed = seed
        self.passthrough = passthrough
        self.sim: EventSimulator | None = None
        self.carry = np.zeros(0)

    def process(self, message: Any) -> Iterator[Any]:
        if not (isinstance(message, Frame) and message.stream == self.frames):
            if self.passthrough:
                yield message
            return
        h, w = message.image.shape[:2]
        if self.sim is None:
            self.sim = EventSimulator(Geometry(w, h), seed=self.seed, **self.params)
            self.carry = self.sim.feed(message.image, message.t_start)
            return
        t0 = self.sim.t
        events = join_events([self.carry, self.sim.feed(message.image, message.t_start)])
        cut = int(np.searchsorted(events["t"], message.t_start, side="left"))
        self.carry = events[cut:]
        yield EventPacket(events[:cut], self.sim.geometry, self.stream, t0, message.t_start)

    def finish(self) -> Iterator[Any]:
        if self.sim is not None and self.carry.size:
            t = int(self.carry["t"][0])
            yield EventPacket(self.carry, self.sim.geometry, self.stream, t, t + 1)

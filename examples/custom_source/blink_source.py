"""A user's own source: a square that blinks, emitting ON events when it lights up and OFF
events when it goes dark. Referenced from TOML as `blink_source:BlinkingSquare`."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from evrt.events import EVENT_DTYPE, EventPacket, Geometry
from evrt.graph.node import Source


class BlinkingSquare(Source):
    """A `size`-px square at the sensor centre toggling every `period_us`; `blinks` toggles.

    `speed` > 0 lets the runner pace the packets at that multiple of real time.
    """

    def __init__(self, width: int = 64, height: int = 48, size: int = 8, period_us: int = 20_000,
                 blinks: int = 20, speed: float = 0.0) -> None:
        if size <= 0 or size > min(width, height):
            raise ValueError("size must fit on the sensor")
        self.geometry = Geometry(width, height)
        self.size = size
        self.period_us = period_us
        self.blinks = blinks
        self.speed = speed  # read by the runner

    def messages(self) -> Iterator[EventPacket]:
        g, s = self.geometry, self.size
        x0, y0 = (g.width - s) // 2, (g.height - s) // 2
        ys, xs = np.mgrid[y0:y0 + s, x0:x0 + s]
        for k in range(self.blinks):
            t0 = k * self.period_us
            ev = np.zeros(s * s, EVENT_DTYPE)  # zeroed padding: deterministic bytes
            ev["t"] = t0 + np.arange(s * s) % 50  # the square lights up within 50 µs
            ev["t"].sort()
            ev["x"] = xs.ravel()
            ev["y"] = ys.ravel()
            ev["p"] = 1 if k % 2 == 0 else 0
            yield EventPacket(ev, g, "events", t0, t0 + self.period_us)

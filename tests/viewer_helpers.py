"""Helpers shared by the viewer tests: a mixed-message source, a free port, and HTTP reads."""

from __future__ import annotations

import io
import json
import socket
import time
import urllib.request
from collections.abc import Iterator

import numpy as np

from evrt.events import EventPacket, Geometry, make_events
from evrt.graph.node import Source
from evrt.messages import Prediction, TensorMsg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def get_json(url: str) -> dict:
    return json.loads(get(url)[1])


def png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def wait_for(predicate, timeout: float = 20.0, step: float = 0.05):  # noqa: ANN001
    """Poll until predicate() is truthy; return its value or raise AssertionError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


class MixedSource(Source):
    """Every `period_s`: one event packet (a fixed ON and a fixed OFF pixel), one depth map with
    a NaN hole, and one prediction; for `count` rounds."""

    def __init__(self, count: int = 40, period_s: float = 0.05) -> None:
        self.count = count
        self.period_s = period_s

    def messages(self) -> Iterator[object]:
        g = Geometry(8, 6)
        depth = np.arange(48, dtype=np.float32).reshape(6, 8)
        depth[0, 0] = np.nan
        for i in range(self.count):
            t0 = i * 10_000
            ev = make_events([t0, t0 + 1, t0 + 2], [1, 5, 5], [2, 3, 3], [1, 0, 0])
            yield EventPacket(ev, g, "events", t0, t0 + 10_000)
            yield TensorMsg(depth, "depth", t0, t0 + 10_000)
            yield Prediction(i % 3, np.array([0.1, 0.2, 0.7], np.float32), "class", t0, t0 + 10_000,
                             timesteps=4 + i % 4, timesteps_max=8, meta={"class_name": f"c{i % 3}"})
            time.sleep(self.period_s)

"""Colour-mapped depth maps as PNG files (and an animated GIF when asked), beside the events.

Wire the depth node and, optionally, the event source into this sink:

    [nodes.png]
    type = "depth_png"
    inputs = ["depth", "source"]     # the source is optional: adds an event panel on the left
    directory = "out/depth"

Each depth message becomes `depth_<index>.png`: near = bright (magma colour map over the
E2Depth log depth, so equal ratios of depth get equal colour steps); pixels without
depth are black. With events wired in, the events of the same window are drawn on the left.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from evrt.errors import ConfigError
from evrt.events import EventPacket, concat_events
from evrt.graph.node import Sink
from evrt.messages import TensorMsg


def colorize_depth(depth: np.ndarray, dmax: float = 80.0, alpha: float = 3.70378,
                   cmap: str = "magma") -> np.ndarray:
    """Depth (metres, NaN unknown) -> uint8 RGB [H, W, 3]; near bright, far dark, unknown black."""
    import matplotlib

    d = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(d) & (d > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_d = np.clip(1.0 + np.log(np.where(valid, d, dmax) / dmax) / alpha, 0.0, 1.0)
    rgb = matplotlib.colormaps[cmap](1.0 - log_d)[..., :3]
    rgb[~valid] = 0
    return (rgb * 255 + 0.5).astype(np.uint8)


def event_panel(events: np.ndarray, width: int, height: int, scale: int = 1) -> np.ndarray:
    """Events drawn on grey: ON white, OFF black (the last event per pixel wins)."""
    img = np.full((height // scale, width // scale, 3), 128, np.uint8)
    if len(events):
        x, y = events["x"] // scale, events["y"] // scale
        keep = (x < img.shape[1]) & (y < img.shape[0])
        img[y[keep], x[keep]] = np.where(events["p"][keep, None] > 0, 255, 0)
    return img


class DepthPngSink(Sink):
    """Writes every depth map as a colour-mapped PNG; optional event panel and GIF."""

    def __init__(self, directory: str, cmap: str = "magma", video: str = "", fps: float = 10.0,
                 prefix: str = "depth") -> None:
        if video and not video.lower().endswith(".gif"):
            raise ConfigError("video must be a .gif path (an mp4 writer needs imageio-ffmpeg, "
                              "which evrt does not depend on)", key="video")
        import matplotlib

        if cmap not in matplotlib.colormaps:
            raise ConfigError(f"unknown matplotlib colour map {cmap!r}", key="cmap")
        self.directory, self.cmap, self.video, self.fps, self.prefix = directory, cmap, video, fps, prefix
        self.count = 0
        self.pending: list[np.ndarray] = []
        self.geometry = None
        self.writer = None
        self.paths: list[str] = []

    def open(self, context: Any) -> None:
        super().open(context)
        os.makedirs(self.directory, exist_ok=True)
        if self.video:
            import imageio.v2 as imageio

            os.makedirs(os.path.dirname(os.path.abspath(self.video)), exist_ok=True)
            self.writer = imageio.get_writer(self.video, mode="I", duration=1.0 / self.fps, loop=0)

    def process(self, message: Any) -> None:
        if isinstance(message, EventPacket):
            self.geometry = message.geometry
            self.pending.append(message.events)
            return
        if not isinstance(message, TensorMsg) or message.data.ndim != 2:
            return
        meta = message.meta
        image = colorize_depth(message.data, meta.get("dmax", 80.0), meta.get("alpha", 3.70378),
                               self.cmap)
        if self.geometry is not None:
            events = concat_events(self.pending) if self.pending else np.zeros(0)
            if len(events):
                events = events[(events["t"] >= message.t_start) & (events["t"] < message.t_end)]
                self.pending = [e[e["t"] >= message.t_end] for e in self.pending]
            scale = int(meta.get("scale", 1)) or 1
            panel = event_panel(events, self.geometry.width, self.geometry.height, scale)
            h = min(panel.shape[0], image.shape[0])
            image = np.concatenate([panel[:h, : image.shape[1]], image[:h]], axis=1)
        import imageio.v3 as iio

        digits = max(6, int(math.log10(self.count + 1)) + 1)
        path = os.path.join(self.directory, f"{self.prefix}_{self.count:0{digits}d}.png")
        iio.imwrite(path, image)
        self.paths.append(path)
        if self.writer is not None:
            self.writer.append_data(image)
        self.count += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

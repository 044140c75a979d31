"""Offline pictures of any stream: PNG files (`png` sink) and MP4/GIF videos (`video` sink).

Unlike the live viewer, frames here follow stream time, not wall time: events are binned
into windows of `frame_us` microseconds (empty windows give black frames, so a video keeps
the recording's timing), and every tensor or intensity frame message gives one picture.
The output is therefore the same however fast the graph ran.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from evrt.errors import ConfigError
from evrt.events import EventPacket
from evrt.graph.node import NodeContext, Sink
from evrt.sinks.imaging import EventCounts, colour_table, encode, message_rgb, warm_up

MAX_GAP_FRAMES = 1000
"""Longest run of empty frames written for a gap in a stream (beyond it the gap is skipped)."""


class EventFramer:
    """Cuts a time-ordered event stream into consecutive `frame_us` windows of ON/OFF counts."""

    def __init__(self, frame_us: int):
        self.frame_us = int(frame_us)
        self.counts: EventCounts | None = None
        self.window_start: int | None = None

    def push(self, packet: EventPacket) -> Iterator[tuple[int, EventCounts]]:
        """Add a packet; yield (window start, counts) for every window it completes."""
        g = packet.geometry
        events = packet.events
        if self.counts is None or (self.counts.width, self.counts.height) != (g.width, g.height):
            yield from self.flush()
            self.counts = EventCounts(g.width, g.height)
        if self.window_start is None:
            first = int(events["t"][0]) if len(events) else int(packet.t_start)
            self.window_start = first - first % self.frame_us
        if len(events) == 0:
            return
        t = events["t"]
        while True:
            end = self.window_start + self.frame_us
            cut = int(np.searchsorted(t, end, side="left"))
            self.counts.add(events[:cut])
            if cut >= len(events):
                return
            events, t = events[cut:], t[cut:]
            yield self.window_start, self.counts
            self.counts = EventCounts(g.width, g.height)
            gap = (int(t[0]) - end) // self.frame_us
            if 0 < gap <= MAX_GAP_FRAMES:
                for k in range(gap):
                    yield end + k * self.frame_us, EventCounts(g.width, g.height)
            self.window_start = end + max(gap, 0) * self.frame_us

    def flush(self) -> Iterator[tuple[int, EventCounts]]:
        """The last, partial window (if it holds events)."""
        if self.counts is not None and self.counts.events and self.window_start is not None:
            yield self.window_start, self.counts
        self.counts = None
        self.window_start = None


class _PictureSink(Sink):
    """Common part of the offline sinks: one picture sequence per stream."""

    def __init__(self, frame_us: int, colormap: str, streams: list[str]) -> None:
        if frame_us <= 0:
            raise ValueError("frame_us must be > 0")
        colour_table(colormap)  # an unknown name fails when the graph is built
        self.frame_us = frame_us
        self.colormap = colormap
        self.streams = list(streams)
        self.framers: dict[str, EventFramer] = {}
        self.pictures: dict[str, int] = {}

    def open(self, context: NodeContext) -> None:
        super().open(context)
        warm_up()

    def process(self, message: Any) -> None:
        stream = message.stream
        if self.streams and stream not in self.streams:
            return
        if isinstance(message, EventPacket):
            framer = self.framers.setdefault(stream, EventFramer(self.frame_us))
            for _t, counts in framer.push(message):
                self._picture(stream, counts.rgb())
            return
        img = message_rgb(message, self.colormap)
        if img is not None:
            self._picture(stream, img)

    def finish(self) -> None:
        for stream, framer in self.framers.items():
            for _t, counts in framer.flush():
                self._picture(stream, counts.rgb())

    def _picture(self, stream: str, img: np.ndarray) -> None:
        self.pictures[stream] = self.pictures.get(stream, 0) + 1
        self.write(stream, self.pictures[stream] - 1, img)

    def write(self, stream: str, index: int, img: np.ndarray) -> None:
        raise NotImplementedError


def _safe(stream: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stream) or "stream"


class PngSink(_PictureSink):
    """Writes every picture of every stream as `DIRECTORY/<stream>_<index:06d>.png`.

    Events are binned into `frame_us` windows of stream time; tensors (colour-mapped with
    `colormap`) and intensity frames give one file per message. `streams` limits which.
    """

    def __init__(self, directory: str = "out/frames", frame_us: int = 33_333,
                 colormap: str = "turbo", streams: list[str] = ()) -> None:  # noqa: B006
        super().__init__(frame_us, colormap, list(streams))
        self.directory = Path(directory)

    def open(self, context: NodeContext) -> None:
        super().open(context)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {self.directory}: {exc}", node=context.name,
                              key="directory") from exc

    def write(self, stream: str, index: int, img: np.ndarray) -> None:
        (self.directory / f"{_safe(stream)}_{index:06d}.png").write_bytes(encode(img, "png"))


class VideoSink(_PictureSink):
    """Writes each stream as a video: MP4 (H.264 through imageio-ffmpeg) or GIF, by `path`'s suffix.

    `path` may hold `{stream}`; without it and with several streams, the stream name is added
    before the suffix. `fps` is the playback rate (real time when fps = 1e6 / frame_us).
    MP4 frames are padded with black to even sizes, which H.264 needs.
    """

    def __init__(self, path: str = "out/{stream}.mp4", frame_us: int = 33_333, fps: float = 0.0,
                 colormap: str = "turbo", streams: list[str] = ()) -> None:  # noqa: B006
        super().__init__(frame_us, colormap, list(streams))
        suffix = Path(path.replace("{stream}", "x")).suffix.lower()
        if suffix not in (".mp4", ".gif"):
            raise ValueError(f"video path must end in .mp4 or .gif, got {path!r}")
        self.path = path
        self.kind = suffix[1:]
        self.fps = fps if fps > 0 else 1e6 / frame_us
        self.writers: dict[str, Any] = {}
        self.paths: dict[str, str] = {}

    def _path_for(self, stream: str) -> str:
        if "{stream}" in self.path:
            return self.path.replace("{stream}", _safe(stream))
        if not self.writers:
            return self.path
        root, ext = os.path.splitext(self.path)
        return f"{root}_{_safe(stream)}{ext}"

    def _writer(self, stream: str) -> Any:
        w = self.writers.get(stream)
        if w is None:
            import imageio.v2 as imageio

            path = self._path_for(stream)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if self.kind == "mp4":
                try:
                    import imageio_ffmpeg  # noqa: F401
                except ImportError as exc:
                    raise ConfigError("MP4 needs the imageio-ffmpeg package; write .gif instead",
                                      node=self.context.name, key="path") from exc
                w = imageio.get_writer(path, fps=self.fps, codec="libx264", quality=7,
                                       macro_block_size=2, ffmpeg_log_level="error")
            else:
                w = imageio.get_writer(path, mode="I", duration=1000.0 / self.fps, loop=0)
            self.writers[stream] = w
            self.paths[stream] = path
        return w

    def write(self, stream: str, index: int, img: np.ndarray) -> None:
        if self.kind == "mp4" and (img.shape[0] % 2 or img.shape[1] % 2):
            img = np.pad(img, ((0, img.shape[0] % 2), (0, img.shape[1] % 2), (0, 0)))
        self._writer(stream).append_data(img)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.writers.clear()

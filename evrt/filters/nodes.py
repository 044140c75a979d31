"""Graph nodes around the filter functions. Each takes an `EventPacket` and returns one with the
same time range (and possibly a new geometry); other messages pass through unchanged.
Stateful filters allocate their per-pixel state on the first packet and keep it for the stream."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from evrt.encoders.functional._common import select
from evrt.errors import ConfigError, EventDataError
from evrt.events import EventPacket, Geometry
from evrt.filters import functional as F
from evrt.graph.node import Node


class FilterNode(Node):
    kind = "filter"
    geometry: Geometry | None = None

    def open(self, context: Any) -> None:
        super().open(context)
        F.warm()  # numba cache load before the first packet, not during it

    def process(self, message: Any) -> Iterable[Any] | None:
        if not isinstance(message, EventPacket):
            return (message,)
        if self.geometry is None:
            self.geometry = message.geometry
            self.start(message)
        elif message.geometry != self.geometry:
            raise EventDataError(f"{self.kind}: geometry changed from {self.geometry} to "
                                 f"{message.geometry} mid-stream")
        events = self.apply(message.events)
        return (EventPacket(events, self.out_geometry(message.geometry), message.stream,
                            message.t_start, message.t_end, dict(message.meta)),)

    def start(self, packet: EventPacket) -> None:
        """First packet: allocate per-pixel state."""

    def apply(self, events: Any) -> Any:
        raise NotImplementedError

    def out_geometry(self, geometry: Geometry) -> Geometry:
        return geometry


class BackgroundActivityFilter(FilterNode):
    """Drops events with no neighbour event in the last `duration_us` (8- or 4-neighbourhood)."""

    kind = "denoise"

    def __init__(self, duration_us: int = 2000, neighbourhood: int = 8) -> None:
        if duration_us <= 0:
            raise ConfigError(f"duration_us must be > 0, got {duration_us}", key="duration_us")
        if neighbourhood not in (4, 8):
            raise ConfigError(f"neighbourhood must be 4 or 8, got {neighbourhood}", key="neighbourhood")
        self.duration = duration_us
        self.neighbourhood = neighbourhood

    def start(self, packet: EventPacket) -> None:
        self.last = F.new_pixel_times(packet.geometry.width, packet.geometry.height)

    def apply(self, events: Any) -> Any:
        return select(events, F.background_activity(events, self.last, self.duration, self.neighbourhood))


class RefractoryFilter(FilterNode):
    """Drops an event if its pixel fired (kept or not) within `period_us` before it."""

    kind = "refractory"

    def __init__(self, period_us: int = 1000) -> None:
        if period_us < 0:
            raise ConfigError(f"period_us must be >= 0, got {period_us}", key="period_us")
        self.period = period_us

    def start(self, packet: EventPacket) -> None:
        self.last = F.new_pixel_times(packet.geometry.width, packet.geometry.height)

    def apply(self, events: Any) -> Any:
        return select(events, F.refractory_period(events, self.last, self.period))


class HotPixelFilter(FilterNode):
    """Drops the events of listed hot pixels, and of pixels with >= `threshold` events during the
    first `learn_us` of the stream (counted from the first packet's t_start)."""

    kind = "hot_pixels"

    def __init__(self, pixels: list = [], learn_us: int = 0, threshold: int = 0) -> None:  # noqa: B006
        try:
            self.pixels = [(int(p[0]), int(p[1])) for p in pixels]
        except (TypeError, ValueError, IndexError) as exc:
            raise ConfigError(f"pixels must be a list of [x, y] pairs: {exc}", key="pixels") from exc
        if learn_us < 0:
            raise ConfigError(f"learn_us must be >= 0, got {learn_us}", key="learn_us")
        self.learn_us = learn_us
        self.threshold = threshold if learn_us > 0 else 0

    def start(self, packet: EventPacket) -> None:
        g = packet.geometry
        try:
            self.state = F.HotPixelState(g.width, g.height, packet.t_start + self.learn_us,
                                         self.threshold, self.pixels)
        except ValueError as exc:
            raise ConfigError(str(exc), key="pixels") from exc

    def apply(self, events: Any) -> Any:
        return select(events, F.hot_pixels(events, self.state))


class RoiFilter(FilterNode):
    """Keeps events inside a rectangle; with `shift` the output sensor is the rectangle."""

    kind = "roi"

    def __init__(self, x: int, y: int, width: int, height: int, shift: bool = True) -> None:
        if width <= 0 or height <= 0 or x < 0 or y < 0:
            raise ConfigError(f"roi needs x, y >= 0 and width, height > 0; got {(x, y, width, height)}")
        self.x0, self.y0, self.w, self.h, self.shift = x, y, width, height, shift

    def start(self, packet: EventPacket) -> None:
        g = packet.geometry
        if self.x0 + self.w > g.width or self.y0 + self.h > g.height:
            raise ConfigError(f"roi {(self.x0, self.y0, self.w, self.h)} exceeds the "
                              f"{g.width}x{g.height} sensor")

    def apply(self, events: Any) -> Any:
        return F.roi(events, self.x0, self.y0, self.w, self.h, self.shift)

    def out_geometry(self, geometry: Geometry) -> Geometry:
        return Geometry(self.w, self.h) if self.shift else geometry


class PolarityFilter(FilterNode):
    """Keeps only ON (`polarity = 1`) or only OFF (`polarity = 0`) events."""

    kind = "polarity"

    def __init__(self, polarity: int = 1) -> None:
        if polarity not in (0, 1):
            raise ConfigError(f"polarity must be 0 (OFF) or 1 (ON), got {polarity}", key="polarity")
        self.keep_on = polarity == 1

    def apply(self, events: Any) -> Any:
        return F.polarity(events, self.keep_on)


class DownsampleFilter(FilterNode):
    """Spatial downsampling: pixel (x, y) -> (x // factor, y // factor)."""

    kind = "downsample"

    def __init__(self, factor: int = 2) -> None:
        if factor < 1:
            raise ConfigError(f"factor must be >= 1, got {factor}", key="factor")
        self.factor = factor

    def apply(self, events: Any) -> Any:
        return F.downsample(events, self.factor)

    def out_geometry(self, geometry: Geometry) -> Geometry:
        f = self.factor
        return Geometry(-(-geometry.width // f), -(-geometry.height // f))


class OrientFilter(FilterNode):
    """Flips (left-right, up-down) then rotation by multiples of 90 degrees counter-clockwise."""

    kind = "orient"

    def __init__(self, flip_x: bool = False, flip_y: bool = False, rotate: int = 0) -> None:
        if rotate % 90:
            raise ConfigError(f"rotate must be a multiple of 90 degrees, got {rotate}", key="rotate")
        self.flip_x, self.flip_y, self.turns = flip_x, flip_y, (rotate // 90) % 4

    def apply(self, events: Any) -> Any:
        g = self.geometry
        return F.orient(events, g.width, g.height, self.flip_x, self.flip_y, self.turns)

    def out_geometry(self, geometry: Geometry) -> Geometry:
        if self.turns % 2:
            return Geometry(geometry.height, geometry.width)
        return geometry

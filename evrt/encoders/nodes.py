"""Graph nodes around the pure encoder functions: windowing, per-stream state, messages.

Every encoder cuts its input into windows (`window_us` [+ `overlap_us`] or `window_events`
[+ `overlap_events`], exactly one of the two) and emits one `TensorMsg` per window whose
`[t_start, t_end)` is the window's time range. The arrays are C-contiguous, so
`TensorMsg.torch()` shares their memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from evrt.encoders import functional as F
from evrt.encoders.buffers import BufferRing
from evrt.encoders.functional._common import count_limit
from evrt.encoders.functional.decay_state import REANCHOR_TAUS, decay_updater
from evrt.encoders.functional.display import NO_EVENT
from evrt.encoders.functional.time_surface import check_polarities
from evrt.encoders.windowing import Window, make_windower
from evrt.errors import ConfigError, EventDataError
from evrt.events import EventPacket, Geometry
from evrt.graph.node import Node
from evrt.messages import Frame, TensorMsg


class EncoderNode(Node):
    """Base: windows the event stream and turns each window into one message."""

    kind = "encoder"

    def _setup(self, window_us: int, overlap_us: int, window_events: int, overlap_events: int,
               include_incomplete: bool, stream: str) -> None:
        self.windower = make_windower(window_us, overlap_us, window_events, overlap_events,
                                      include_incomplete)
        self.stream = stream or self.kind
        self.geometry: Geometry | None = None
        self.ring: BufferRing | None = None  # output arrays, recycled once unreferenced

    def open(self, context: Any) -> None:
        super().open(context)
        F.warm()  # numba cache load before the first window, not during it

    def process(self, message: Any) -> Iterable[Any] | None:
        if not isinstance(message, EventPacket):
            return None
        if self.geometry is None:
            self.geometry = message.geometry
            self.ring = BufferRing(self.output_shape(message.geometry), self.output_dtype())
            self.start(message.geometry)
        elif message.geometry is not self.geometry and message.geometry != self.geometry:
            raise EventDataError(f"{self.kind}: geometry changed from {self.geometry} to "
                                 f"{message.geometry} mid-stream")
        return [self.encode(w) for w in self.windower.push(message)]

    def finish(self) -> Iterable[Any] | None:
        if self.geometry is None:
            return None
        return [self.encode(w) for w in self.windower.finish()]

    def start(self, geometry: Geometry) -> None:
        """First packet seen: allocate per-stream state."""

    def output_shape(self, geometry: Geometry) -> tuple[int, ...]:
        """Shape of the array emitted per window."""
        return (2, geometry.height, geometry.width)

    def output_dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def encode(self, window: Window) -> Any:
        raise NotImplementedError

    def _msg(self, data: np.ndarray, window: Window, **meta: Any) -> TensorMsg:
        meta = {"encoder": self.kind, "events": window.count, "window": window.index, **meta}
        return TensorMsg(data, self.stream, window.t_start, window.t_end, meta)


def _dtype(name: str, key: str = "dtype") -> np.dtype:
    try:
        return np.dtype(name)
    except TypeError as exc:
        raise ConfigError(f"'{name}' is not a numpy dtype", key=key) from exc


class HistogramEncoder(EncoderNode):
    """Event counts per polarity and pixel: (2, H, W), channel 0 OFF, 1 ON.

    Counts are int16 by default, like tonic's `ToFrame`: a window rarely puts 32767 events
    on one pixel (a count saturates there rather than wrapping), and half the bytes of
    int32 is half the memory to clear and hand downstream per window. `dtype = "float32"`
    gives what a network reads directly.
    """

    kind = "histogram"

    def __init__(self, window_us: int = 0, overlap_us: int = 0, window_events: int = 0,
                 overlap_events: int = 0, include_incomplete: bool = True,
                 dtype: str = "int16", stream: str = "") -> None:
        self._setup(window_us, overlap_us, window_events, overlap_events, include_incomplete, stream)
        self.dtype = _dtype(dtype)
        count_limit(self.dtype)  # counts need an integer or float dtype

    def output_dtype(self) -> np.dtype:
        return self.dtype

    def encode(self, window: Window) -> TensorMsg:
        g = self.geometry
        out = self.ring.take(0)
        for part in window.parts:  # views into the packets the window spans: no concatenation
            F.histogram(part, g.width, g.height, out=out)
        return self._msg(out, window)


class VoxelGridEncoder(EncoderNode):
    """(bins, H, W) float32 voxel grid; the window's first and last microsecond map to bins 0 and B-1."""

    kind = "voxel_grid"

    def __init__(self, bins: int = 5, normalize: bool = False, window_us: int = 0,
                 overlap_us: int = 0, window_events: int = 0, overlap_events: int = 0,
                 include_incomplete: bool = True, stream: str = "") -> None:
        if bins < 1:
            raise ConfigError(f"bins must be >= 1, got {bins}", key="bins")
        self._setup(window_us, overlap_us, window_events, overlap_events, include_incomplete, stream)
        self.bins = bins
        self.normalize = normalize

    def output_shape(self, geometry: Geometry) -> tuple[int, ...]:
        return (self.bins, geometry.height, geometry.width)

    def encode(self, window: Window) -> TensorMsg:
        g = self.geometry
        grid = self.ring.take(0)
        for part in window.parts:
            F.voxel_grid(part, g.width, g.height, self.bins, window.t_start, window.t_end - 1,
                         out=grid)
        if self.normalize:
            F.normalize_voxel_grid(grid)
        return self._msg(grid, window)


class TimeSurfaceEncoder(EncoderNode):
    """(2, H, W) exponential time surface sampled at each window's end; state spans the whole stream.

    `polarities = 1` merges OFF and ON into one (1, H, W) surface, as dv-processing's
    `TimeSurface` does. The node keeps the decaying form of the state
    (`functional.decay_state`, float32): exp once per event instead of once per cell and
    window, within 2 float32 ulps of `functional.time_surface` (tested cell for cell on the
    recordings).
    """

    kind = "time_surface"

    def __init__(self, tau_us: float = 50000.0, polarities: int = 2, window_us: int = 0,
                 overlap_us: int = 0, window_events: int = 0, overlap_events: int = 0,
                 include_incomplete: bool = True, stream: str = "") -> None:
        if tau_us <= 0:
            raise ConfigError(f"tau_us must be > 0, got {tau_us}", key="tau_us")
        check_polarities(polarities)
        self._setup(window_us, overlap_us, window_events, overlap_events, include_incomplete, stream)
        self.tau = float(tau_us)
        self.polarities = polarities

    def output_shape(self, geometry: Geometry) -> tuple[int, ...]:
        return (self.polarities, geometry.height, geometry.width)

    def start(self, geometry: Geometry) -> None:
        self.state = F.new_decay_state(geometry.width, geometry.height, self.polarities)
        self.anchor: int | None = None
        # checked once here: a window spans several packets, and the functional call's checks
        # cost as much as the kernel on a 5000-event part
        self._update = decay_updater(self.state)
        self._inv_tau = 1.0 / self.tau

    def anchor_for(self, window: Window) -> np.int64:
        """The anchor for `window`'s updates and sampling, rescaling the state when it moves.

        Anchored at a window's end, every later sampling time is kept within REANCHOR_TAUS
        tau of the anchor; the window's events are all before its end, so none overflows."""
        if self.anchor is None:
            self.anchor = window.t_end
        elif window.t_end - self.anchor > REANCHOR_TAUS * self.tau:
            F.rescale_decay_state(self.state, window.t_end - self.anchor, self.tau)
            self.anchor = window.t_end
        return np.int64(self.anchor)

    def encode(self, window: Window) -> TensorMsg:
        # Overlapping windows re-apply the events they share: each stores its own value again.
        anchor = self.anchor_for(window)
        for part in window.parts:
            self._update(part, anchor, self._inv_tau)
        surface = F.sample_decay_state(self.state, window.t_end - self.anchor, self.tau,
                                       out=self.ring.take(None))
        return self._msg(surface, window, tau_us=self.tau)


class SpikeTensorEncoder(EncoderNode):
    """(steps, 2, H, W) spikes (binary) or counts per equal time bin of the window."""

    kind = "spike_tensor"

    def __init__(self, steps: int = 10, binary: bool = True, dtype: str = "float32",
                 window_us: int = 0, overlap_us: int = 0, window_events: int = 0,
                 overlap_events: int = 0, include_incomplete: bool = True,
                 stream: str = "") -> None:
        if steps < 1:
            raise ConfigError(f"steps must be >= 1, got {steps}", key="steps")
        self._setup(window_us, overlap_us, window_events, overlap_events, include_incomplete, stream)
        self.steps = steps
        self.binary = binary
        self.dtype = _dtype(dtype)

    def output_shape(self, geometry: Geometry) -> tuple[int, ...]:
        return (self.steps, 2, geometry.height, geometry.width)

    def output_dtype(self) -> np.dtype:
        return self.dtype

    def encode(self, window: Window) -> TensorMsg:
        return self._msg(self._bins(window), window, steps=self.steps)

    def _bins(self, window: Window) -> np.ndarray:
        g = self.geometry
        out = self.ring.take(0)
        for part in window.parts:
            F.spike_tensor(part, g.width, g.height, self.steps, window.t_start, window.t_end,
                           self.binary, out=out)
        return out


class CumulativeStackEncoder(SpikeTensorEncoder):
    """(steps, 2, H, W) cumulative stack: frame k counts every event from the window start to the end of bin k."""

    kind = "cumulative_stack"

    def __init__(self, steps: int = 10, binary: bool = False, dtype: str = "float32",
                 window_us: int = 0, overlap_us: int = 0, window_events: int = 0,
                 overlap_events: int = 0, include_incomplete: bool = True,
                 stream: str = "") -> None:
        super().__init__(steps, binary, dtype, window_us, overlap_us, window_events,
                         overlap_events, include_incomplete, stream)

    def encode(self, window: Window) -> TensorMsg:
        data = F.cumulate_bins(self._bins(window), self.binary)
        return self._msg(data, window, steps=self.steps)


class EventImageEncoder(EncoderNode):
    """An RGB `Frame` per window for display: each pixel shows the polarity of its last event."""

    kind = "event_image"

    def __init__(self, window_us: int = 0, overlap_us: int = 0, window_events: int = 0,
                 overlap_events: int = 0, include_incomplete: bool = True,
                 stream: str = "") -> None:
        self._setup(window_us, overlap_us, window_events, overlap_events, include_incomplete, stream)

    def output_shape(self, geometry: Geometry) -> tuple[int, ...]:
        return (geometry.height, geometry.width, 3)

    def output_dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def start(self, geometry: Geometry) -> None:
        self.marks = np.zeros((geometry.height, geometry.width), np.uint8)

    def encode(self, window: Window) -> Frame:
        g = self.geometry
        self.marks.fill(NO_EVENT)
        for part in window.parts:
            F.mark_polarities(part, g.width, g.height, self.marks)
        image = F.colour_marks(self.marks, self.ring.take(None))
        return Frame(image, self.stream, window.t_start, window.t_end,
                     {"encoder": self.kind, "events": window.count, "window": window.index})

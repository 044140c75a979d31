"""AEDAT 4.0 writer sink through dv-processing's `MonoCameraWriter`.

The file is readable by dv-processing, by the independent `aedat` decoder and by evrt's
own reader. dv-processing 2.0's Python `EventStore` has no constructor from an array, so
events go through `evrt.events.to_dv` (`push_back` per event, ~1.3 Mev/s measured): fine
for recording and converting, the bottleneck when converting large files.

The writer's streams must be declared before the first write, so the sink opens it at the
first event packet (geometry from that packet unless `width`/`height` are given); frames,
IMU and trigger messages that arrive earlier are held until then.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from evrt.errors import ConfigError
from evrt.events import EventPacket, to_dv
from evrt.graph.node import Sink
from evrt.messages import Frame, Imu, Trigger

_MAX_HELD = 10_000


class Aedat4Sink(Sink):
    """Writes event packets, frames, IMU samples and triggers to an AEDAT 4.0 file (LZ4)."""

    def __init__(self, path: str, width: int = 0, height: int = 0, camera: str = "evrt",
                 compression: str = "lz4", frames: bool = True, imu: bool = True,
                 triggers: bool = True) -> None:
        if compression not in ("lz4", "lz4_high", "zstd", "zstd_high", "none"):
            raise ConfigError(f"compression must be lz4, lz4_high, zstd, zstd_high or none, "
                              f"got {compression!r}", key="compression")
        self.path = path
        self.size = (int(width), int(height)) if width and height else None
        self.camera = camera
        self.compression = compression
        self.want = {"frames": frames, "imu": imu, "triggers": triggers}
        self.writer: Any = None
        self.held: list[Any] = []
        self.written = {"events": 0, "frames": 0, "imu": 0, "triggers": 0}
        self.event_stream: str | None = None
        self.frame_size: tuple[int, int] | None = None

    def open(self, context: Any) -> None:
        super().open(context)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)) or ".", exist_ok=True)
        if self.size is not None:
            self._open_writer(self.size)

    def _open_writer(self, size: tuple[int, int]) -> None:
        import dv_processing as dv

        kind = {"lz4": "LZ4", "lz4_high": "LZ4_HIGH", "zstd": "ZSTD", "zstd_high": "ZSTD_HIGH",
                "none": "NONE"}[self.compression]
        config = dv.io.MonoCameraWriter.Config(self.camera, getattr(dv.CompressionType, kind))
        config.addEventStream(size)
        if self.want["frames"]:
            config.addFrameStream(self.frame_size or size)
        if self.want["imu"]:
            config.addImuStream()
        if self.want["triggers"]:
            config.addTriggerStream()
        self.dv = dv
        self.writer = dv.io.MonoCameraWriter(self.path, config)
        held, self.held = self.held, []
        for m in held:
            self._write(m)

    def process(self, message: Any) -> None:
        if self.writer is None:
            if isinstance(message, EventPacket):
                self._open_writer(message.geometry.as_tuple())
            else:
                if isinstance(message, Frame) and self.frame_size is None:
                    self.frame_size = (message.image.shape[1], message.image.shape[0])
                self.held.append(message)
                if len(self.held) > _MAX_HELD:
                    raise ConfigError(f"{_MAX_HELD} messages arrived before any event packet; give "
                                      "width= and height= so the writer can open", key="width")
                return
        self._write(message)

    def _write(self, m: Any) -> None:
        dv = self.dv
        if isinstance(m, EventPacket):
            if len(m):
                self.writer.writeEvents(to_dv(m.events))
                self.written["events"] += len(m)
        elif isinstance(m, Frame) and self.want["frames"]:
            image = np.ascontiguousarray(m.image)
            exposure = max(int(m.t_end) - int(m.t_start), 0)
            self.writer.writeFrame(dv.Frame(int(m.t_start), exposure, 0, 0, image,
                                            dv.FrameSource.SENSOR))
            self.written["frames"] += 1
        elif isinstance(m, Imu) and self.want["imu"]:
            for s in m.samples:
                a, g = s["accel"], s["gyro"]
                self.writer.writeImu(dv.IMU(int(s["t"]), float(s["temperature"]), float(a[0]),
                                            float(a[1]), float(a[2]), float(g[0]), float(g[1]),
                                            float(g[2]), 0.0, 0.0, 0.0))
            self.written["imu"] += len(m.samples)
        elif isinstance(m, Trigger) and self.want["triggers"]:
            for tr in m.triggers:
                self.writer.writeTrigger(dv.Trigger(int(tr["t"]), dv.TriggerType(int(tr["type"]))))
            self.written["triggers"] += len(m.triggers)

    def close(self) -> None:
        if self.writer is None and self.held and self.size is None:
            sizes = [m.image.shape[1::-1] for m in self.held if isinstance(m, Frame)]
            if sizes:
                self._open_writer(tuple(sizes[0]))
        if self.writer is not None:
            del self.writer  # the destructor flushes buffered IMU/triggers and closes the file
            self.writer = None

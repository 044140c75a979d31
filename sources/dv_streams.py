"""Turn what a dv-processing input (camera, network reader, recording) returns into evrt messages.

One place converts dv `EventStore`, `Frame`, IMU and trigger batches, so the camera source,
the network source and tests on recorded AEDAT4 files share the same code path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from evrt.events import EventPacket, Geometry, from_dv
from evrt.messages import IMU_DTYPE, TRIGGER_DTYPE, Frame, Imu, Trigger


def imu_array(batch: Any) -> np.ndarray:
    """A dv IMU batch (list of `dv.IMU`) -> `IMU_DTYPE` records (accel in g, gyro in deg/s)."""
    out = np.zeros(len(batch), IMU_DTYPE)
    if not len(batch):
        return out
    out["t"] = [s.timestamp for s in batch]
    out["accel"] = [(s.accelerometerX, s.accelerometerY, s.accelerometerZ) for s in batch]
    out["gyro"] = [(s.gyroscopeX, s.gyroscopeY, s.gyroscopeZ) for s in batch]
    out["temperature"] = [s.temperature for s in batch]
    return out


def trigger_array(batch: Any) -> np.ndarray:
    """A dv trigger batch (list of `dv.Trigger`) -> `TRIGGER_DTYPE` records (type = dv TriggerType value)."""
    out = np.zeros(len(batch), TRIGGER_DTYPE)
    if len(batch):
        out["t"] = [s.timestamp for s in batch]
        out["type"] = [int(s.type) for s in batch]
    return out


def frame_message(frame: Any, stream: str = "frames") -> Frame:
    """A dv `Frame` -> evrt `Frame` covering its exposure."""
    t = int(frame.timestamp)
    exposure = int(round(frame.exposure.total_seconds() * 1e6)) if frame.exposure else 0
    return Frame(np.array(frame.image), stream, t, t + exposure,
                 {"exposure_us": exposure, "source": str(frame.source).split(".")[-1]})


STREAM_NAMES = {"events": "events", "frames": "frames", "imu": "imu", "triggers": "triggers"}


class StreamPoller:
    """Non-blocking reads of the streams a dv-processing input has and the caller wants."""

    def __init__(self, reader: Any, geometry: Geometry | None, *, events: bool = True,
                 frames: bool = True, imu: bool = True, triggers: bool = True,
                 names: dict[str, str] | None = None) -> None:
        self.reader = reader
        self.geometry = geometry
        self.names = {**STREAM_NAMES, **(names or {})}
        self.events = events and reader.isEventStreamAvailable()
        self.frames = frames and reader.isFrameStreamAvailable()
        self.imu = imu and reader.isImuStreamAvailable()
        self.triggers = triggers and reader.isTriggerStreamAvailable()
        if self.events and self.geometry is None:
            w, h = reader.getEventResolution()
            self.geometry = Geometry(int(w), int(h))

    def poll(self) -> list[Any]:
        """Whatever is ready now, one message per stream at most."""
        out: list[Any] = []
        reader, names = self.reader, self.names
        if self.events:
            store = reader.getNextEventBatch()
            if store is not None and len(store):
                ev = np.array(from_dv(store))  # own the memory: the store may be reused
                out.append(EventPacket(ev, self.geometry, names["events"]))
        if self.frames:
            frame = reader.getNextFrame()
            if frame is not None:
                out.append(frame_message(frame, names["frames"]))
        if self.imu:
            batch = reader.getNextImuBatch()
            if batch is not None and len(batch):
                s = imu_array(batch)
                out.append(Imu(s, names["imu"], int(s["t"][0]), int(s["t"][-1]) + 1))
        if self.triggers:
            batch = reader.getNextTriggerBatch()
            if batch is not None and len(batch):
                s = trigger_array(batch)
                out.append(Trigger(s, names["triggers"], int(s["t"][0]), int(s["t"][-1]) + 1))
        return out

    def running(self) -> bool:
        return bool(self.reader.isRunning())


def read_streams(pollers: list[StreamPoller], *, should_stop: Callable[[], bool] = lambda: False,
                 idle_sleep_s: float = 0.001) -> Iterator[Any]:
    """Poll dv-processing inputs until all have stopped running (and are drained) or `should_stop()`."""
    while not should_stop():
        got = False
        live = False
        for poller in pollers:
            messages = poller.poll()
            got = got or bool(messages)
            yield from messages
            live = live or poller.running()
        if not got:
            if not live:
                return
            time.sleep(idle_sleep_s)

"""Live event cameras (DAVIS, DVXplorer, DVS128) through dv-processing.

Events, frames, IMU and triggers leave as separate streams. With no camera attached the
node fails at open with a `DeviceNotFoundError` that lists what was found and points to
`evrt replay` or the synthetic sources, never with a raw traceback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from evrt.sources.dv_streams import StreamPoller, read_streams

from evrt.errors import ConfigError, DeviceNotFoundError
from evrt.events import Geometry
from evrt.graph.node import NodeContext, Source

NO_CAMERA_HINT = ("to run without a camera, replay a recording (`evrt replay FILE`) or use a "
                  "synthetic source (type = \"synthetic\", \"depth_scene\" or \"digits_saccades\")")


def describe(descriptor: Any) -> str:
    """One line per discovered device: model, serial, USB bus/address."""
    model = getattr(descriptor, "cameraModel", "") or str(getattr(descriptor, "deviceType", "?"))
    return (f"{model} serial {descriptor.serialNumber!r} "
            f"(USB bus {descriptor.busNumber}, address {descriptor.devAddress})")


def discover() -> list[Any]:
    """Device descriptors of every camera dv-processing can see."""
    import dv_processing as dv

    return list(dv.io.camera.discover())


def open_camera(serial: str = "") -> Any:
    """Open the camera with this serial number, or the first one found; DeviceNotFoundError if none."""
    import dv_processing as dv

    found = discover()
    listing = "; ".join(describe(d) for d in found) or "nothing"
    if not found:
        raise DeviceNotFoundError(
            f"no event camera found: dv_processing.io.camera.discover() found {listing}; "
            f"{NO_CAMERA_HINT}")
    if serial and serial not in [d.serialNumber for d in found]:
        raise DeviceNotFoundError(
            f"no camera with serial {serial!r}: found {listing}; set serial = \"\" for the "
            f"first one, or {NO_CAMERA_HINT}")
    try:
        return dv.io.camera.open(serial) if serial else dv.io.camera.open()
    except RuntimeError as exc:  # busy, permissions, firmware: say which device and why
        raise DeviceNotFoundError(f"could not open camera {serial or describe(found[0])}: {exc}") from exc


def _resolve_value(camera: Any, value: Any) -> Any:
    """A TOML value for a setter; strings like "ReadoutFPS.EFPS_CONSTANT_500" name the camera's enums."""
    if isinstance(value, str) and "." in value:
        obj: Any = type(camera)
        for part in value.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                return value
        return obj
    return value


def apply_settings(camera: Any, settings: dict[str, Any]) -> None:
    """Call `camera.setX(value)` for each `X = value`; unknown names are a ConfigError listing the choices."""
    for name, value in settings.items():
        setter = name if name.startswith("set") else "set" + name[:1].upper() + name[1:]
        fn = getattr(camera, setter, None)
        if fn is None:
            choices = sorted(n[3:] for n in dir(camera) if n.startswith("set") and n != "set")
            raise ConfigError(f"camera {camera.getCameraName()} has no setting '{name}'; "
                              f"available: {', '.join(choices)}")
        try:
            fn(_resolve_value(camera, value))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"camera setting {name} = {value!r} rejected: {exc}") from exc


class CameraSource(Source):
    """A DAVIS / DVXplorer camera: events, frames, imu and triggers as separate streams.

    `serial` picks a device (empty: the first found). Common settings are parameters;
    anything else a dv-processing camera class can set goes in `settings`, e.g.
    `settings = { ContrastThresholdOn = 4, ReadoutFPS = "ReadoutFPS.EFPS_CONSTANT_500" }`.
    """

    def __init__(self, serial: str = "", *, events: bool = True, frames: bool = True,
                 imu: bool = True, triggers: bool = True, duration: float = 0.0,
                 flip_horizontal: bool = False, flip_vertical: bool = False,
                 exposure_us: int = 0, frame_interval_us: int = 0,
                 settings: dict | None = None, stream: str = "events") -> None:
        self.serial = serial
        self.streams = dict(events=events, frames=frames, imu=imu, triggers=triggers)
        self.duration = duration
        self.common = {"FlipHorizontal": flip_horizontal, "FlipVertical": flip_vertical}
        self.exposure_us = exposure_us
        self.frame_interval_us = frame_interval_us
        self.settings = dict(settings or {})
        self.stream = stream
        self.camera: Any = None

    def open(self, context: NodeContext) -> None:
        super().open(context)
        self.camera = open_camera(self.serial)
        cam = self.camera
        apply_settings(cam, {k: v for k, v in self.common.items() if v})
        if hasattr(cam, "setExposureDuration"):  # DAVIS: APS exposure
            if self.exposure_us > 0:
                from datetime import timedelta

                cam.setAutoExposure(False)
                cam.setExposureDuration(timedelta(microseconds=self.exposure_us))
            if self.frame_interval_us > 0:
                from datetime import timedelta

                cam.setFrameInterval(timedelta(microseconds=self.frame_interval_us))
        apply_settings(cam, self.settings)
        w, h = cam.getEventResolution()
        self.geometry = Geometry(int(w), int(h))
        context.log.info("opened %s (%dx%d)", cam.getCameraName(), w, h)

    def messages(self) -> Iterator[Any]:
        stop_at = time.monotonic() + self.duration if self.duration > 0 else None

        def should_stop() -> bool:
            return stop_at is not None and time.monotonic() >= stop_at

        poller = StreamPoller(self.camera, self.geometry, names={"events": self.stream},
                              **self.streams)
        yield from read_streams([poller], should_stop=should_stop)

    def close(self) -> None:
        self.camera = None  # dv-processing stops the device in its destructor

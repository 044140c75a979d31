"""What travels on an edge, and how each kind splits into a JSON header plus array buffers.

Every message has a `stream` name and a time window `[t_start, t_end)` in µs. Arrays are
carried as separate buffers so transport can send them without copying.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evrt.events import EVENT_DTYPE, EventPacket, Geometry

__all__ = [
    "EventPacket",
    "TensorMsg",
    "Prediction",
    "Frame",
    "Imu",
    "Trigger",
    "EndOfStream",
    "Message",
    "encode",
    "decode",
    "message_events",
]

IMU_DTYPE = np.dtype(
    [("t", "<i8"), ("accel", "<f4", (3,)), ("gyro", "<f4", (3,)), ("temperature", "<f4")]
)
TRIGGER_DTYPE = np.dtype([("t", "<i8"), ("type", "<i1")])


@dataclass
class TensorMsg:
    """A dense array made from a time window: an encoder's output, a depth map, a state."""

    data: np.ndarray
    stream: str = "tensor"
    t_start: int = 0
    t_end: int = 0
    meta: dict = field(default_factory=dict)

    def torch(self) -> Any:
        """The data as a torch tensor sharing memory (no copy)."""
        import torch

        return torch.from_numpy(np.ascontiguousarray(self.data))


@dataclass
class Prediction:
    """A model's answer for a window: class label, scores and how many timesteps it used."""

    label: int
    scores: np.ndarray
    stream: str = "prediction"
    t_start: int = 0
    t_end: int = 0
    timesteps: int = 0
    timesteps_max: int = 0
    meta: dict = field(default_factory=dict)


@dataclass
class Frame:
    """An intensity (APS) frame or any image, taken at `t_start` (exposure start)."""

    image: np.ndarray
    stream: str = "frames"
    t_start: int = 0
    t_end: int = 0
    meta: dict = field(default_factory=dict)


@dataclass
class Imu:
    """A run of IMU samples (`IMU_DTYPE`: t, accel[3] in g, gyro[3] in deg/s, temperature)."""

    samples: np.ndarray
    stream: str = "imu"
    t_start: int = 0
    t_end: int = 0
    meta: dict = field(default_factory=dict)


@dataclass
class Trigger:
    """A run of trigger / special events (`TRIGGER_DTYPE`: t, type)."""

    triggers: np.ndarray
    stream: str = "triggers"
    t_start: int = 0
    t_end: int = 0
    meta: dict = field(default_factory=dict)


@dataclass
class EndOfStream:
    """No more messages will come on this edge."""

    stream: str = ""
    reason: str = "end"
    t_start: int = 0
    t_end: int = 0
    meta: dict = field(default_factory=dict)


Message = EventPacket | TensorMsg | Prediction | Frame | Imu | Trigger | EndOfStream


_EVENTS_KEY = "evrt.events"


@functools.lru_cache(maxsize=256)
def _dtype_key(dtype: np.dtype) -> str:
    """A short string naming a dtype on the wire: cached, so the hot path does no work."""
    if dtype == EVENT_DTYPE:
        return _EVENTS_KEY
    if dtype.names is None and dtype.subdtype is None:
        return dtype.str
    fields = dtype.fields
    if all(fields[n][0].shape == () for n in dtype.names):
        spec: Any = {"names": list(dtype.names), "formats": [fields[n][0].str for n in dtype.names],
                     "offsets": [fields[n][1] for n in dtype.names], "itemsize": dtype.itemsize}
    else:
        spec = np.lib.format.dtype_to_descr(dtype)
    return json.dumps(spec)


@functools.lru_cache(maxsize=256)
def _dtype_from_key(key: str) -> np.dtype:
    if key == _EVENTS_KEY:
        return EVENT_DTYPE
    if not key.startswith(("{", "[")):
        return np.dtype(key)
    spec = json.loads(key)
    if isinstance(spec, dict):
        return np.dtype(spec)
    return np.lib.format.descr_to_dtype([_tuples(field) for field in spec])


def _tuples(value: Any) -> Any:
    """JSON turned a descr's tuples (fields, shapes) into lists; numpy wants tuples back."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


ARRAY_FIELD = {
    "events": "events",
    "tensor": "data",
    "prediction": "scores",
    "frame": "image",
    "imu": "samples",
    "trigger": "triggers",
}

_KIND_OF: dict[type, str] = {
    EventPacket: "events",
    TensorMsg: "tensor",
    Prediction: "prediction",
    Frame: "frame",
    Imu: "imu",
    Trigger: "trigger",
    EndOfStream: "eos",
}


def kind_of(message: Any) -> str:
    try:
        return _KIND_OF[type(message)]
    except KeyError:
        raise TypeError(f"{type(message).__name__} is not an evrt message type") from None


def encode(message: Any) -> tuple[dict, list[np.ndarray]]:
    """Split a message into a JSON-able header and contiguous array buffers (no copy if contiguous)."""
    kind = kind_of(message)
    header: dict[str, Any] = {
        "kind": kind,
        "stream": message.stream,
        "t_start": int(message.t_start),
        "t_end": int(message.t_end),
        "meta": message.meta,
    }
    buffers: list[np.ndarray] = []
    if kind == "events":
        header["geometry"] = [message.geometry.width, message.geometry.height]
    elif kind == "prediction":
        header.update(label=int(message.label), timesteps=int(message.timesteps),
                      timesteps_max=int(message.timesteps_max))
    elif kind == "eos":
        header["reason"] = message.reason
    field_name = ARRAY_FIELD.get(kind)
    if field_name is not None:
        array = getattr(message, field_name)
        if hasattr(array, "detach"):  # a torch tensor
            array = array.detach().cpu().numpy()
        array = np.ascontiguousarray(array)
        header["array"] = {"dtype": _dtype_key(array.dtype), "shape": array.shape}
        buffers.append(array)
    return header, buffers


@functools.lru_cache(maxsize=64)
def _geometry(width: int, height: int) -> Geometry:
    return Geometry(width, height)


def decode(header: dict, buffers: list[Any]) -> Any:
    """Rebuild a message from its header and buffers; arrays are read-only views of the buffers."""
    kind = header["kind"]
    common = {"stream": header["stream"], "t_start": header["t_start"], "t_end": header["t_end"],
              "meta": header.get("meta") or {}}
    array = None
    if "array" in header:
        spec = header["array"]
        array = np.frombuffer(buffers[0], dtype=_dtype_from_key(spec["dtype"])).reshape(spec["shape"])
    if kind == "events":
        return EventPacket.trusted(array, _geometry(*header["geometry"]), header["stream"],
                                   header["t_start"], header["t_end"], header.get("meta") or {})
    if kind == "tensor":
        return TensorMsg(array, **common)
    if kind == "prediction":
        return Prediction(header["label"], array, timesteps=header["timesteps"],
                          timesteps_max=header["timesteps_max"], **common)
    if kind == "frame":
        return Frame(array, **common)
    if kind == "imu":
        return Imu(array, **common)
    if kind == "trigger":
        return Trigger(array, **common)
    if kind == "eos":
        return EndOfStream(reason=header.get("reason", "end"), **common)
    raise ValueError(f"unknown message kind {kind!r}")


def message_events(message: Any) -> int:
    """How many events a message carries (0 for non-event messages); used by stats."""
    return len(message) if isinstance(message, EventPacket) else 0


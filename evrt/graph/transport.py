"""ZeroMQ framing and endpoints. Only the runner (and this module) touch sockets.

A data message is the multipart `[header, buffer, ...]`: a compact JSON header (kind,
stream, per-edge `seq`, producer `edge`, `origin` wall-clock ns, times, dtype, shape,
geometry) and the array buffers, sent with `copy=False` and received as zero-copy frames.
"""

from __future__ import annotations

import copy
import itertools
import os
import socket
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import zmq

from evrt.events import EventPacket
from evrt.messages import ARRAY_FIELD, decode, encode, kind_of


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=str, option=orjson.OPT_SERIALIZE_NUMPY)


_loads = orjson.loads


def prepare(message: Any, *, origin: int) -> tuple[dict, list[Any]]:
    """Message -> (header, byte views of its arrays). Done once per message, whatever the fan-out."""
    header, buffers = encode(message)
    header["origin"] = origin
    return header, [memoryview(b).cast("B") if b.size else b"" for b in buffers]


def frames_for(header: dict, buffers: list[Any], *, seq: int, edge: str) -> list[Any]:
    """The multipart frames of one prepared message on one edge. Buffers are not copied."""
    header["seq"] = seq
    header["edge"] = edge
    return [_dumps(header), *buffers]


# ---- in-process edges (placement "threads") ------------------------------------------------
# Between threads of one process a message need not be serialised: the socket carries a
# token and the (header, message) pair waits in the run's table until the consumer takes it.
# Arrays travel as read-only views, the same guarantee a zero-copy zmq frame gives.
_TOKENS = itertools.count(1)
_LOCAL_MARK = b"@"


def _read_only(message: Any) -> Any:
    if type(message) is EventPacket:  # the hot path: no generic copy
        events = message.events
        if not events.flags.writeable:
            return message
        view = events.view()
        view.flags.writeable = False
        return EventPacket.trusted(view, message.geometry, message.stream, message.t_start,
                                   message.t_end, message.meta)
    field = ARRAY_FIELD.get(kind_of(message))
    if field is None:
        return message
    array = getattr(message, field)
    if not isinstance(array, np.ndarray) or not array.flags.writeable:
        return message
    view = array.view()
    view.flags.writeable = False
    out = copy.copy(message)
    setattr(out, field, view)
    return out


def local_frames(table: dict, message: Any, header: dict) -> list[bytes]:
    """Park (header, read-only message) in the run's table; the frame is its token."""
    token = next(_TOKENS)
    table[token] = (header, _read_only(message))
    return [_LOCAL_MARK + token.to_bytes(8, "little")]


def take_local(table: dict, token: bytes) -> tuple[dict, Any]:
    """The (header, message) parked under a received token."""
    return table.pop(int.from_bytes(token[1:], "little"))


def local_discard(table: dict, frames: list[bytes]) -> None:
    """A local message that was not sent (realtime drop): free its table entry."""
    table.pop(int.from_bytes(frames[0][1:], "little"), None)


def unpack(frames: list[Any], table: dict | None = None) -> tuple[dict, Any]:
    """Multipart frames -> (header, message); arrays view the received frames' memory."""
    first = frames[0]
    raw = first.bytes if isinstance(first, zmq.Frame) else first
    if raw[:1] == _LOCAL_MARK:
        if table is None:
            raise ValueError("an in-process token arrived on an edge without a local table")
        return take_local(table, raw)
    header, buffers = unpack_raw(frames)
    return header, decode(header, buffers)


def unpack_raw(frames: list[Any]) -> tuple[dict, list[Any]]:
    """Multipart frames -> (header, buffers) without building the message."""
    first = frames[0]
    header = _loads(first.bytes if isinstance(first, zmq.Frame) else first)
    return header, [f.buffer if isinstance(f, zmq.Frame) else f for f in frames[1:]]


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a free port (bind to 0). Small race, fine for loopback tests and local runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Endpoints:
    """Where each node's input socket binds and how peers reach it, per placement."""

    placement: str
    run_id: str
    control: str
    inputs: dict[str, str]
    ipc_dir: str | None = None
    binds: dict[str, str] = field(default_factory=dict)  # where an input binds, if not `inputs`

    def cleanup(self) -> None:
        if self.ipc_dir and os.path.isdir(self.ipc_dir):
            for f in os.listdir(self.ipc_dir):
                try:
                    os.unlink(os.path.join(self.ipc_dir, f))
                except OSError:
                    pass
            try:
                os.rmdir(self.ipc_dir)
            except OSError:
                pass


def make_endpoints(placement: str, node_names: list[str]) -> Endpoints:
    run_id = uuid.uuid4().hex[:10]
    if placement == "threads":
        return Endpoints(placement, run_id, f"inproc://evrt-{run_id}-control",
                         {n: f"inproc://evrt-{run_id}-{n}" for n in node_names})
    if placement == "processes":
        d = tempfile.mkdtemp(prefix=f"evrt-{run_id}-")
        return Endpoints(placement, run_id, f"ipc://{d}/control",
                         {n: f"ipc://{d}/{i}" for i, n in enumerate(node_names)}, ipc_dir=d)
    if placement == "hosts":
        # nodes without a host run here; remote ones get their ports from their worker (runner)
        return Endpoints(placement, run_id, f"tcp://127.0.0.1:{free_tcp_port()}",
                         {n: f"tcp://127.0.0.1:{free_tcp_port()}" for n in node_names})
    raise ValueError(f"unknown placement {placement!r}")


def dumps(obj: Any) -> bytes:
    return _dumps(obj)


def loads(data: bytes) -> Any:
    return _loads(data)

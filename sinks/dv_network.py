"""Serve evrt output as a DV network stream (dv-processing `NetworkWriter`), so DV software can view it.

DV serves one stream per TCP port: events on `port`, frames on `frames_port` if set.

Why a helper process: in dv-processing 2.0.4 the Python `NetworkWriter` deadlocks when it
is destroyed while a client is connected (its I/O thread waits for the GIL to report the
closed connection while the destructor, holding the GIL, joins that thread). So each
writer lives in a small child process fed through a pipe; closing flushes the queue, lets
clients drain, and ends the child with `os._exit`, which skips that destructor.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from typing import Any

import numpy as np

from evrt.errors import ConfigError, DeviceNotFoundError, EvrtError
from evrt.events import EVENT_DTYPE, EventPacket
from evrt.graph.node import NodeContext, Sink
from evrt.messages import Frame

_HEADER = struct.Struct("<II")  # json length, payload length


class WriterProcess:
    """One `dv.io.NetworkWriter` in a child process; `send` queues packets, `close` flushes."""

    def __init__(self, host: str, port: int, kind: str, width: int, height: int, name: str) -> None:
        cmd = [sys.executable, "-m", "evrt.sinks.dv_network", host, str(port), kind, str(width),
               str(height), name]
        self.where = f"tcp://{host}:{port}"
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        reply = self._reply()
        if "error" in reply:
            self.proc.wait(5)
            raise ConfigError(f"cannot serve a DV {kind} stream on {self.where}: {reply['error']}")

    def _reply(self) -> dict:
        while True:  # skip anything the library itself prints on stdout
            line = self.proc.stdout.readline()
            if not line:
                code = self.proc.wait(5)
                raise EvrtError(f"DV network writer for {self.where} exited (code {code})")
            if line.startswith(b"EVRT "):
                return json.loads(line[5:])

    def _send(self, header: dict, payload: bytes | memoryview = b"") -> None:
        data = json.dumps(header).encode()
        try:
            self.proc.stdin.write(_HEADER.pack(len(data), len(payload)))
            self.proc.stdin.write(data)
            if len(payload):
                self.proc.stdin.write(payload)
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise EvrtError(f"DV network writer for {self.where} died") from exc

    def events(self, events: np.ndarray) -> None:
        self._send({"op": "events"}, memoryview(np.ascontiguousarray(events)).cast("B"))

    def frame(self, t: int, image: np.ndarray) -> None:
        image = np.ascontiguousarray(image)
        if image.dtype != np.uint8:
            image = np.clip(image * (255.0 if image.dtype.kind == "f" else 1), 0, 255).astype(np.uint8)
        self._send({"op": "frame", "t": int(t), "shape": list(image.shape)}, image.tobytes())

    def clients(self) -> int:
        self._send({"op": "clients"})
        return int(self._reply()["clients"])

    def close(self, linger_s: float) -> None:
        if self.proc.poll() is None:
            try:
                self._send({"op": "close", "linger": linger_s})
                self._reply()
            except EvrtError:
                pass
        try:
            self.proc.wait(linger_s + 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class DvNetworkSink(Sink):
    """Serves the `stream` event packets (and frames) as DV TCP streams on `host`.

    `wait_clients` > 0 holds the first packet of each served stream until that many clients
    have joined it (up to `wait_timeout` s), so a viewer or test sees it from its start. `width` and
    `height` start the server at open (before any data); otherwise the first packet's
    geometry is used. At the end the queue is flushed and clients get `linger` seconds.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 7777, *, frames_port: int = 0,
                 stream: str = "events", width: int = 0, height: int = 0,
                 wait_clients: int = 0, wait_timeout: float = 10.0, linger: float = 1.0,
                 camera_name: str = "evrt") -> None:
        for p in (port, frames_port):
            if not 0 <= p < 65536:
                raise ConfigError(f"port must be in 1..65535, got {p}")
        self.host, self.port, self.frames_port = host, port, frames_port
        self.stream = stream
        self.size = (width, height)
        self.wait_clients, self.wait_timeout, self.linger = wait_clients, wait_timeout, linger
        self.camera_name = camera_name
        self.writers: dict[str, WriterProcess] = {}
        self.sent_events = 0

    def open(self, context: NodeContext) -> None:
        super().open(context)
        if self.size[0] > 0 and self.size[1] > 0:
            self._start("events", *self.size)
            if self.frames_port:
                self._start("frames", *self.size)

    def _start(self, kind: str, width: int, height: int) -> WriterProcess:
        port = self.port if kind == "events" else self.frames_port
        writer = WriterProcess(self.host, port, kind, width, height, self.camera_name)
        self.writers[kind] = writer
        if self.wait_clients > 0:
            deadline = time.monotonic() + self.wait_timeout
            while writer.clients() < self.wait_clients:
                if time.monotonic() >= deadline:
                    raise DeviceNotFoundError(
                        f"{self.wait_clients} client(s) expected on {writer.where} "
                        f"within {self.wait_timeout:g} s; none came")
                time.sleep(0.01)
        return writer

    def process(self, message: Any) -> None:
        if isinstance(message, EventPacket) and message.stream == self.stream:
            writer = self.writers.get("events") or self._start(
                "events", message.geometry.width, message.geometry.height)
            if len(message):
                writer.events(message.events)
                self.sent_events += len(message)
        elif isinstance(message, Frame) and self.frames_port:
            h, w = message.image.shape[:2]
            writer = self.writers.get("frames") or self._start("frames", w, h)
            writer.frame(message.t_start, message.image)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close(self.linger)
        self.writers = {}


def _serve(host: str, port: int, kind: str, width: int, height: int, name: str) -> None:
    """Child process: own one NetworkWriter, apply commands from stdin, answer on stdout."""
    import dv_processing as dv

    from evrt.events import to_dv

    out = sys.stdout

    def reply(obj: dict) -> None:
        out.write("EVRT " + json.dumps(obj) + "\n")
        out.flush()

    make = dv.io.Stream.EventStream if kind == "events" else dv.io.Stream.FrameStream
    try:
        writer = dv.io.NetworkWriter(host, port, make(0, kind, name, (width, height)))
    except RuntimeError as exc:
        reply({"error": str(exc).split(" [")[0]})
        return
    reply({"ready": True})
    stdin = sys.stdin.buffer
    while True:
        head = stdin.read(_HEADER.size)
        if len(head) < _HEADER.size:  # the parent went away: stop serving
            os._exit(0)
        n_json, n_payload = _HEADER.unpack(head)
        cmd = json.loads(stdin.read(n_json))
        payload = stdin.read(n_payload) if n_payload else b""
        op = cmd["op"]
        if op == "events":
            writer.writeEvents(to_dv(np.frombuffer(payload, EVENT_DTYPE)))
        elif op == "frame":
            image = np.frombuffer(payload, np.uint8).reshape(cmd["shape"])
            writer.writeFrame(dv.Frame(cmd["t"], image))
        elif op == "clients":
            reply({"clients": writer.getClientCount()})
        elif op == "close":
            deadline = time.monotonic() + float(cmd["linger"])
            while writer.getQueuedPacketCount() > 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            while writer.getClientCount() > 0 and time.monotonic() < deadline:
                time.sleep(0.01)  # let clients read what is in flight, or leave
            reply({"closed": True, "queued": writer.getQueuedPacketCount()})
            os._exit(0)  # skip NetworkWriter's destructor (see the module docstring)


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
           sys.argv[6])

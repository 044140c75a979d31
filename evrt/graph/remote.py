"""Across hosts: `evrt worker` daemons start node processes for a runner on another machine.

A node with `host = "HOST:PORT"` (placement "hosts") is started by the `evrt worker`
listening there. Data and control edges are tcp; endpoints bind to loopback unless a
non-loopback host is named, and then CURVE encryption is required: every tcp socket of
the run (and the worker's own request socket) authenticates with one cluster keypair made
by `evrt keys FILE` and copied to each host.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import zmq

from evrt.errors import EvrtError
from evrt.graph.transport import free_tcp_port

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
REQUEST_TIMEOUT_MS = 10_000


def split_host(host: str) -> tuple[str, int]:
    """'HOST:PORT' -> (HOST, PORT) of the `evrt worker` to ask."""
    name, sep, port = host.rpartition(":")
    if not sep or not port.isdigit():
        raise EvrtError(f"host {host!r}: expected HOST:PORT of an `evrt worker` (e.g. 10.0.0.2:7777)")
    return name, int(port)


def is_loopback(hostname: str) -> bool:
    return hostname in LOOPBACK or hostname.startswith("127.")


def local_address_towards(hostname: str) -> str:
    """The local IP the OS routes towards `hostname` (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((hostname, 9))
        return s.getsockname()[0]


@dataclass(frozen=True)
class CurveKeys:
    """One cluster keypair: every server socket uses it as its identity, every client trusts it."""

    public: bytes
    secret: bytes

    @classmethod
    def load(cls, path: str) -> CurveKeys:
        try:
            with open(path) as f:
                data = json.load(f)
            return cls(data["public"].encode(), data["secret"].encode())
        except (OSError, KeyError, ValueError) as exc:
            raise EvrtError(f"{path}: cannot read CURVE keys ({exc}); make them with `evrt keys {path}`") from exc

    def server(self, sock: zmq.Socket) -> None:
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        sock.curve_server = True

    def client(self, sock: zmq.Socket) -> None:
        sock.curve_serverkey = self.public
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret


def write_keys(path: str) -> None:
    """Create a cluster keypair file readable only by its owner."""
    public, secret = zmq.curve_keypair()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"public": public.decode(), "secret": secret.decode()}, f)


def secure(sock: zmq.Socket, keys_path: str | None, *, server: bool) -> None:
    """Apply CURVE to a tcp socket when the run has keys."""
    if keys_path:
        keys = CurveKeys.load(keys_path)
        (keys.server if server else keys.client)(sock)


class WorkerClient:
    """The runner's handle on one `evrt worker`."""

    def __init__(self, ctx: zmq.Context, host: str, keys_path: str | None):
        self.host = host
        self.hostname, port = split_host(host)
        self.sock = ctx.socket(zmq.REQ)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, REQUEST_TIMEOUT_MS)
        secure(self.sock, keys_path, server=False)
        self.sock.connect(f"tcp://{self.hostname}:{port}")

    def request(self, op: str, **kw: Any) -> dict:
        self.sock.send_json({"op": op, **kw})
        try:
            reply = self.sock.recv_json()
        except zmq.Again:
            raise EvrtError(f"no `evrt worker` answered at {self.host} within "
                            f"{REQUEST_TIMEOUT_MS / 1000:.0f} s (is it running, with the same keys?)") from None
        if not reply.get("ok"):
            raise EvrtError(f"evrt worker at {self.host}: {reply.get('error', 'refused')}")
        return reply

    def close(self) -> None:
        self.sock.close(0)


def serve(listen: str, keys_path: str | None = None, *, max_requests: int | None = None) -> None:
    """Run an `evrt worker`: answer `ports`, `launch`, `stop`, `ping` requests from runners."""
    from evrt.graph.worker import OutSpec, WorkerSpec

    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    secure(rep, keys_path, server=True)
    rep.bind(listen)
    children: list[subprocess.Popen] = []
    stopping = {"flag": False}

    def _stop(signum: int, frame: Any) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    handled = 0
    try:
        while not stopping["flag"] and (max_requests is None or handled < max_requests):
            if not rep.poll(200):
                children = [c for c in children if c.poll() is None]
                continue
            req = rep.recv_json()
            handled += 1
            op = req.get("op")
            try:
                if op == "ping":
                    reply = {"ok": True, "host": socket.gethostname()}
                elif op == "ports":
                    reply = {"ok": True, "ports": [free_tcp_port("0.0.0.0") for _ in range(int(req["count"]))]}
                elif op == "launch":
                    data = dict(req["spec"])
                    data["outputs"] = [OutSpec(**o) for o in data["outputs"]]
                    data["curve_keys"] = keys_path
                    spec = WorkerSpec(**data)
                    proc = subprocess.Popen([sys.executable, "-m", "evrt.graph.worker_main"],
                                            stdin=subprocess.PIPE)
                    proc.stdin.write(pickle.dumps(spec))
                    proc.stdin.close()
                    children.append(proc)
                    reply = {"ok": True, "pid": proc.pid}
                elif op == "stop":
                    for c in children:
                        if c.poll() is None:
                            c.terminate()
                    reply = {"ok": True}
                else:
                    reply = {"ok": False, "error": f"unknown request {op!r}"}
            except Exception as exc:  # reported to the runner, the worker keeps serving
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            rep.send_json(reply)
    finally:
        for c in children:
            if c.poll() is None:
                c.terminate()
        for c in children:
            try:
                c.wait(5)
            except subprocess.TimeoutExpired:
                c.kill()
        rep.close(0)
        ctx.term()

"""Runs one node: owns its sockets, feeds it messages, sends its output, reports stats.

The same loop serves every placement: a thread (inproc), a process (ipc) or a process
reached over tcp. The runner talks to each worker over one DEALER/ROUTER control pair:
the worker says `ready`, waits for `start`, streams `stats`, and ends with `done`,
`error` or `aborted`; the runner may send `stop` (sources end cleanly) or `abort`.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import zmq

from evrt.events import EventPacket
from evrt.graph import registry, transport
from evrt.graph.node import Node, NodeContext
from evrt.graph.stats import NodeStats
from evrt.messages import EndOfStream, decode, message_events

POLL_MS = 50
CTRL_EVERY_S = 0.01


class Aborted(Exception):
    """The runner asked this worker to stop at once."""


@dataclass
class OutSpec:
    label: str
    consumer: str
    endpoint: str
    stream: str | None


@dataclass
class WorkerSpec:
    """Everything a worker needs; plain data so it can be pickled into a child process."""

    name: str
    type: Any
    params: dict
    role: str
    flow: str
    queue: int
    placement: str
    control: str
    input_endpoint: str | None
    in_edges: list[str] = field(default_factory=list)
    outputs: list[OutSpec] = field(default_factory=list)
    stats_interval: float = 1.0
    bind_input: str | None = None
    curve_keys: str | None = None
    local_table: dict | None = None  # threads placement: the run's in-process message table


class _RealtimeInbox:
    """Drains the input socket on its own thread into a bounded queue; the oldest data is evicted."""

    def __init__(self, sock: zmq.Socket, maxlen: int, stats: NodeStats, table: dict | None = None):
        self.sock = sock
        self.table = table
        self.maxlen = maxlen
        self.stats = stats
        self.items: collections.deque = collections.deque()
        self.cond = threading.Condition()
        self.closed = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True, name="evrt-inbox")
        self.thread.start()

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        try:
            while not self.closed:
                if not poller.poll(POLL_MS):
                    continue
                while True:
                    try:
                        frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    header, message = transport.unpack(frames, self.table)
                    with self.cond:
                        self.items.append((header, message))
                        if len(self.items) > self.maxlen:
                            self._evict_oldest()
                        self.cond.notify()
        except zmq.ZMQError as exc:
            if not self.closed:
                self.error = exc
        except BaseException as exc:  # decode errors surface in the node thread
            self.error = exc
            with self.cond:
                self.cond.notify()

    def _evict_oldest(self) -> None:
        for i, (header, _msg) in enumerate(self.items):
            if header["kind"] != "eos":
                del self.items[i]
                self.stats.in_edge(header["edge"])["evicted"] += 1
                return

    def get(self, timeout: float) -> tuple[dict, Any] | None:
        with self.cond:
            if not self.items:
                self.cond.wait(timeout)
            if self.error is not None:
                raise self.error
            if self.items:
                self.stats.queue_depth = len(self.items) - 1
                return self.items.popleft()
        return None

    def close(self) -> None:
        self.closed = True
        self.thread.join(timeout=1.0)


class Worker:
    def __init__(self, spec: WorkerSpec, ctx: zmq.Context, node: Node | None = None):
        self.spec = spec
        self.ctx = ctx
        self.node = node
        self.stats = NodeStats(spec.name)
        self.log = logging.getLogger(f"evrt.node.{spec.name}")
        self.stopping = False
        self.sockets: list[zmq.Socket] = []
        self.seq: dict[str, int] = {o.label: 0 for o in spec.outputs}
        self.last_stats = time.monotonic()
        self.last_ctrl = 0.0
        self.origin = 0
        self.pending_eos = set(spec.in_edges)
        self.forwarding: tuple[Any, dict, list[Any]] = (None, {}, [])
        self.run_stats: dict[str, dict] = {}

    # ---- control channel ---------------------------------------------------------------
    def _socket(self, kind: int) -> zmq.Socket:
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 2000)
        self.sockets.append(s)
        return s

    def _secure(self, sock: zmq.Socket, endpoint: str, *, server: bool) -> None:
        if self.spec.curve_keys and endpoint.startswith("tcp://"):
            from evrt.graph.remote import secure

            secure(sock, self.spec.curve_keys, server=server)

    def _send_ctrl(self, kind: str, **payload: Any) -> None:
        self.ctrl.send_multipart([kind.encode(), transport.dumps(payload)])

    def _check_ctrl_soon(self) -> None:
        """Look at the control socket at most every CTRL_EVERY_S on the hot path."""
        now = time.monotonic()
        if now - self.last_ctrl >= CTRL_EVERY_S:
            self.last_ctrl = now
            self._check_ctrl()
            self._maybe_stats()

    def _check_ctrl(self, timeout_ms: int = 0) -> None:
        while self.ctrl.poll(timeout_ms, zmq.POLLIN):
            timeout_ms = 0
            frames = self.ctrl.recv_multipart()
            cmd = frames[0].decode()
            if cmd == "run_stats":
                self.run_stats = transport.loads(frames[1])
            if cmd == "abort":
                raise Aborted()
            if cmd == "stop":
                self.stopping = True
            if cmd == "start":
                self.started = True

    def _maybe_stats(self) -> None:
        now = time.monotonic()
        if now - self.last_stats >= self.spec.stats_interval:
            self.last_stats = now
            self._send_ctrl("stats", **self.stats.snapshot())

    # ---- output --------------------------------------------------------------------------
    def _emit(self, message: Any) -> None:
        is_eos = isinstance(message, EndOfStream)
        if not is_eos:
            self.stats.msgs_out += 1
            self.stats.events_out += message_events(message)
            if self.origin:
                self.stats.latency_ns.append(time.time_ns() - self.origin)
        stream = getattr(message, "stream", None)
        cache = None
        table = self.spec.local_table
        for out, sock in zip(self.spec.outputs, self.out_socks):
            if not is_eos and out.stream is not None and out.stream != stream:
                continue
            seq = self.seq[out.label]
            self.seq[out.label] = seq + 1
            edge = self.stats.out_edge(out.label)
            edge["offered"] += 1
            if table is not None:
                header = {"kind": "eos" if is_eos else "msg", "seq": seq, "edge": out.label,
                          "origin": self.origin}
                frames = transport.local_frames(table, message, header)
            else:
                if cache is None:
                    if message is self.forwarding[0]:
                        # unchanged input: resend the received header and frames (no encode, no copy)
                        cache = (dict(self.forwarding[1]), self.forwarding[2])
                    else:
                        cache = transport.prepare(message, origin=self.origin)
                frames = transport.frames_for(cache[0], cache[1], seq=seq, edge=out.label)
            if self._send(sock, frames, droppable=(self.spec.flow == "realtime" and not is_eos)):
                edge["sent"] += 1
            else:
                edge["dropped"] += 1
                if table is not None:
                    transport.local_discard(table, frames)

    def _send(self, sock: zmq.Socket, frames: list[Any], *, droppable: bool) -> bool:
        single = len(frames) == 1
        while True:
            try:
                if single:
                    sock.send(frames[0], zmq.NOBLOCK)
                else:
                    sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                return True
            except zmq.Again:
                if droppable:
                    return False
            # lossless: wait for room, staying responsive to abort
            while not sock.poll(POLL_MS, zmq.POLLOUT):
                self._check_ctrl()
                self._maybe_stats()

    def _emit_all(self, outputs: Any) -> None:
        if outputs is None:
            return
        for m in outputs:
            self._emit(m)

    def _open_publisher(self, endpoint: str) -> Any:
        """A PUB socket owned by this worker; frames are `[stream, header, buffers...]`."""
        sock = self._socket(zmq.PUB)
        sock.setsockopt(zmq.SNDHWM, 1000)
        sock.bind(endpoint)
        counter = {"seq": 0}

        def publish(message: Any) -> None:
            header, buffers = transport.prepare(message, origin=self.origin)
            frames = transport.frames_for(header, buffers, seq=counter["seq"], edge=endpoint)
            counter["seq"] += 1
            sock.send_multipart([message.stream.encode(), *frames], copy=False)

        return publish

    # ---- main ------------------------------------------------------------------------------
    def run(self) -> None:
        spec = self.spec
        self.ctrl = self._socket(zmq.DEALER)
        self.ctrl.setsockopt(zmq.IDENTITY, spec.name.encode())
        self._secure(self.ctrl, spec.control, server=False)
        self.ctrl.connect(spec.control)
        opened = False
        try:
            if self.node is None:
                self.node = registry.build(spec.type, spec.params, node=spec.name)
            self.in_sock = None
            if spec.input_endpoint is not None:
                self.in_sock = self._socket(zmq.PULL)
                self.in_sock.setsockopt(zmq.RCVHWM, spec.queue)
                self._secure(self.in_sock, spec.input_endpoint, server=True)
                self.in_sock.bind(spec.bind_input or spec.input_endpoint)
            self.out_socks = []
            for out in spec.outputs:
                s = self._socket(zmq.PUSH)
                s.setsockopt(zmq.SNDHWM, spec.queue)
                self._secure(s, out.endpoint, server=False)
                s.connect(out.endpoint)
                self.out_socks.append(s)
            context = NodeContext(spec.name, spec.placement, spec.flow, list(spec.in_edges),
                                  [o.label for o in spec.outputs], self.log, self._open_publisher,
                                  run_stats=lambda: self.run_stats)
            self.node.open(context)
            opened = True
            self._send_ctrl("ready", run_stats=bool(getattr(self.node, "wants_run_stats", False)))
            self.started = False
            while not self.started:
                self._check_ctrl(POLL_MS)
            self.stats = NodeStats(spec.name)
            if spec.role == "source":
                self._run_source()
            else:
                self._run_consumer()
            self._send_ctrl("stats", **self.stats.snapshot())
            self._send_ctrl("done", **self.stats.snapshot())
        except Aborted:
            self._send_ctrl("aborted", **self.stats.snapshot())
        except BaseException as exc:  # reported to the runner, which stops the run
            self._send_ctrl("error", error=f"{type(exc).__name__}: {exc}",
                            traceback=traceback.format_exc())
        finally:
            if opened:
                try:
                    self.node.close()
                except BaseException as exc:  # closing must not hide the first error
                    self.log.error("close() of node %s failed: %s", spec.name, exc)
            if getattr(self, "inbox", None) is not None:
                self.inbox.close()
            for s in self.sockets:
                s.close()

    def _run_source(self) -> None:
        node = self.node
        speed = float(getattr(node, "speed", 0.0) or 0.0)
        wall0 = None
        t0 = 0
        for message in node.messages():
            self._check_ctrl_soon()
            if self.stopping:
                break
            if speed > 0 and hasattr(message, "t_end"):
                if wall0 is None:
                    wall0, t0 = time.monotonic(), message.t_start
                target = wall0 + (message.t_end - t0) / 1e6 / speed
                while True:
                    delay = target - time.monotonic()
                    if delay <= 0:
                        self.stats.lag_ms = -delay * 1e3
                        break
                    self._check_ctrl(int(min(delay, 0.05) * 1000) or 1)
                    if self.stopping:
                        break
            self.origin = time.time_ns()
            self._emit(message)
        self._emit(EndOfStream(stream=self.spec.name, reason="stopped" if self.stopping else "end"))

    def _receive(self, recv: Any) -> Any:
        """`recv(flags)` now if something is waiting, else after polling (staying responsive)."""
        try:
            return recv(zmq.NOBLOCK)
        except zmq.Again:
            self._check_ctrl_soon()
            if not self.in_sock.poll(POLL_MS, zmq.POLLIN):
                self._check_ctrl()
                self._maybe_stats()
                return None
            return recv(0)

    def _next_input(self) -> tuple[dict, Any] | None:
        if self.spec.flow == "realtime":
            item = self.inbox.get(POLL_MS / 1000)
            self._check_ctrl_soon()
            return item
        table = self.spec.local_table
        if table is not None:  # in-process edge: one small token frame per message
            token = self._receive(self.in_sock.recv)
            if token is None:
                return None
            self._check_ctrl_soon()
            return transport.take_local(table, token)
        frames = self._receive(lambda flags: self.in_sock.recv_multipart(flags, copy=False))
        if frames is None:
            return None
        self._check_ctrl_soon()
        header, buffers = transport.unpack_raw(frames)
        message = decode(header, buffers)
        # keep the received frames: forwarding them resends zmq messages by reference
        self.forwarding = (message, header, frames[1:])
        return header, message

    def _run_consumer(self) -> None:
        node = self.node
        if self.spec.flow == "realtime":
            self.inbox = _RealtimeInbox(self.in_sock, self.spec.queue, self.stats,
                                        self.spec.local_table)
        while self.pending_eos:
            item = self._next_input()
            if item is None:
                continue
            header, message = item
            edge = header["edge"]
            self.stats.record_seq(edge, header["seq"])
            if header["kind"] == "eos":
                self.pending_eos.discard(edge)
                continue
            self.origin = header.get("origin", 0)
            now = time.monotonic()
            if not self.stats.msgs_in:
                self.stats.first_input = now
            self.stats.last_input = now
            self.stats.msgs_in += 1
            self.stats.events_in += len(message) if isinstance(message, EventPacket) else 0
            t = time.perf_counter_ns()
            outputs = node.process(message)
            if node.role == "sink":
                self.stats.latency_ns.append(time.time_ns() - self.origin)
            else:
                self._emit_all(outputs)
            self.stats.busy_ns += time.perf_counter_ns() - t
        if node.role != "sink":
            self._emit_all(node.finish())
            self._emit(EndOfStream(stream=self.spec.name))
        else:
            node.finish()


def run_in_process(spec: WorkerSpec) -> None:
    """Body of a worker process: own context, ignore Ctrl-C (the runner coordinates)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    ctx = zmq.Context()
    try:
        Worker(spec, ctx).run()
    finally:
        ctx.term()


def main() -> None:
    """Read a pickled WorkerSpec from stdin and run it (see `evrt.graph.worker_main`)."""
    import pickle
    import sys

    spec = pickle.loads(sys.stdin.buffer.read())
    run_in_process(spec)



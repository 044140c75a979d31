"""Placement, supervision, shutdown and stats: the only place that owns threads, processes and sockets.

`run(config)` starts one worker per node (threads, processes, or processes over tcp),
waits until every worker is ready, starts them together, collects stats, and ends when
every node has seen end-of-stream. A node error stops the run and raises `NodeError`
naming the node; Ctrl-C asks sources to stop, so the graph drains and sinks close cleanly
(a second Ctrl-C aborts at once, still closing every node).
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import zmq

from evrt.errors import EvrtError, NodeError
from evrt.graph import registry, transport
from evrt.graph.config import GraphConfig
from evrt.graph.node import Node
from evrt.graph.stats import JsonLines, LiveDisplay, edge_summary, format_table
from evrt.graph.worker import OutSpec, Worker, WorkerSpec, run_in_process

READY_TIMEOUT_S = 120.0


@dataclass
class RunResult:
    """What a finished run reports: final per-node stats, per-edge accounting, how it ended."""

    name: str
    status: str
    duration_s: float
    nodes: dict[str, dict] = field(default_factory=dict)
    edges: dict[str, dict] = field(default_factory=dict)

    def events_delivered(self, node: str) -> int:
        return int(self.nodes[node]["events_in"])


def worker_specs(config: GraphConfig, endpoints: transport.Endpoints) -> list[WorkerSpec]:
    edges = config.edges()
    specs = []
    for name in config.order():
        node = config.nodes[name]
        cls = registry.resolve(node.type, node=name)
        ins = [e.label for e in edges if e.consumer == name]
        outs = [OutSpec(e.label, e.consumer, endpoints.inputs[e.consumer], e.stream)
                for e in edges if e.producer == name]
        type_ref = node.type
        if config.placement != "threads" and isinstance(type_ref, type):
            type_ref = f"{type_ref.__module__}:{type_ref.__qualname__}"
        bind = None
        endpoint = endpoints.inputs[name] if ins else None
        if endpoint and endpoint.startswith("tcp://") and config.placement == "hosts":
            port = endpoint.rsplit(":", 1)[1]
            bind = f"tcp://{'127.0.0.1' if not node.host else '*'}:{port}"
        specs.append(WorkerSpec(
            name=name, type=type_ref, params=dict(node.params), role=cls.role, flow=config.flow,
            queue=config.queue, placement=config.placement, control=endpoints.control,
            input_endpoint=endpoint, in_edges=ins, outputs=outs,
            stats_interval=min(config.stats_interval, 0.5), bind_input=bind,
        ))
    return specs


class Runner:
    """Runs one graph once. `instances` lets Python users pass ready node objects (threads only)."""

    def __init__(self, config: GraphConfig, *, live: bool = False, stats_json: str | None = None,
                 instances: dict[str, Node] | None = None, install_sigint: bool = True):
        self.config = config
        self.live = LiveDisplay() if live else None
        self.json = JsonLines(stats_json) if stats_json else None
        self.instances = instances or {}
        if self.instances and config.placement != "threads":
            raise EvrtError("node objects (callbacks, instances) can only run with placement = threads; "
                            "use 'module:Class' types for processes and hosts")
        self.install_sigint = install_sigint
        self.snapshots: dict[str, dict] = {}
        self.states: dict[str, str] = {}
        self.interrupts = 0

    # ---- launching ---------------------------------------------------------------------------
    def _launch(self, specs: list[WorkerSpec]) -> None:
        self.threads: dict[str, threading.Thread] = {}
        self.procs: dict[str, mp.process.BaseProcess] = {}
        if self.config.placement == "threads":
            for spec in specs:
                w = Worker(spec, self.ctx, self.instances.get(spec.name))
                t = threading.Thread(target=w.run, name=f"evrt-{spec.name}", daemon=True)
                self.threads[spec.name] = t
            # consumers first so inproc binds exist before producers connect
            for spec in reversed(specs):
                self.threads[spec.name].start()
        else:
            mpctx = mp.get_context("spawn")
            for spec in reversed(specs):
                p = mpctx.Process(target=run_in_process, args=(spec,), name=f"evrt-{spec.name}",
                                  daemon=False)
                p.start()
                self.procs[spec.name] = p

    def _alive(self, name: str) -> bool:
        if name in self.threads:
            return self.threads[name].is_alive()
        return self.procs[name].is_alive()

    def _dead_worker(self) -> tuple[str, str] | None:
        for name, p in self.procs.items():
            if self.states.get(name) in ("done", "error", "aborted"):
                continue
            if not p.is_alive():
                code = p.exitcode
                how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                return name, f"worker process died ({how}) before finishing"
        return None

    # ---- control -------------------------------------------------------------------------------
    def _broadcast(self, cmd: str, names: list[str] | None = None) -> None:
        for name in names or list(self.config.nodes):
            if self.states.get(name) in ("done", "error", "aborted"):
                continue
            try:
                self.router.send_multipart([name.encode(), cmd.encode()], flags=zmq.NOBLOCK)
            except zmq.ZMQError:
                pass

    def _poll(self, timeout_ms: int) -> list[tuple[str, str, dict]]:
        out = []
        if self.router.poll(timeout_ms, zmq.POLLIN):
            while True:
                try:
                    ident, kind, payload = self.router.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                name, kind = ident.decode(), kind.decode()
                data = transport.loads(payload)
                if kind in ("stats", "done", "aborted") and "node" in data:
                    self.snapshots[name] = data
                if kind != "stats":
                    self.states[name] = kind
                out.append((name, kind, data))
        return out

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.interrupts += 1

    def _report(self, final: bool = False) -> None:
        if self.live:
            self.live.show(format_table(self.snapshots, self.config.order()))
        if self.json:
            self.json.write({"time": time.time(), "final": final, "nodes": self.snapshots,
                             "edges": edge_summary(self.snapshots)})

    # ---- the run -----------------------------------------------------------------------------
    def run(self) -> RunResult:
        cfg = self.config
        hosts = {n: s.host for n, s in cfg.nodes.items()}
        self.endpoints = transport.make_endpoints(cfg.placement, list(cfg.nodes), hosts)
        specs = worker_specs(cfg, self.endpoints)
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.router.bind(self.endpoints.control)
        old_handler = None
        if self.install_sigint and threading.current_thread() is threading.main_thread():
            old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        t_start = time.monotonic()
        status = "completed"
        error: NodeError | None = None
        try:
            self._launch(specs)
            error = self._wait_ready()
            if error is None:
                self._broadcast("start")
                status, error = self._supervise()
        finally:
            if error is not None:
                self._broadcast("abort")
            self._shutdown()
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
            self._report(final=True)
            if self.json:
                self.json.close()
        result = RunResult(cfg.name, "error" if error else status, time.monotonic() - t_start,
                           dict(self.snapshots), edge_summary(self.snapshots))
        if error is not None:
            raise error
        return result

    def _first_error(self, events: list[tuple[str, str, dict]]) -> NodeError | None:
        for name, kind, data in events:
            if kind == "error":
                return NodeError(name, data.get("error", "unknown error"))
        dead = self._dead_worker()
        if dead:
            return NodeError(*dead)
        return None

    def _wait_ready(self) -> NodeError | None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            err = self._first_error(self._poll(50))
            if err:
                return err
            if all(self.states.get(n) == "ready" for n in self.config.nodes):
                return None
            if self.interrupts:
                return NodeError("runner", "interrupted before the graph started")
        waiting = [n for n in self.config.nodes if self.states.get(n) != "ready"]
        return NodeError(waiting[0], f"not ready after {READY_TIMEOUT_S:.0f} s")

    def _supervise(self) -> tuple[str, NodeError | None]:
        cfg = self.config
        sources = [n for n in cfg.nodes if registry.resolve(cfg.nodes[n].type, node=n).role == "source"]
        last_report = time.monotonic()
        stop_sent_at = None
        status = "completed"
        while True:
            err = self._first_error(self._poll(50))
            if err:
                return "error", err
            if all(self.states.get(n) in ("done", "aborted") for n in cfg.nodes):
                return status, None
            if self.interrupts == 1 and stop_sent_at is None:
                status = "interrupted"
                stop_sent_at = time.monotonic()
                self._broadcast("stop", sources)
            if self.interrupts >= 2 or (stop_sent_at and time.monotonic() - stop_sent_at > cfg.stop_timeout):
                self._broadcast("abort")
                self._wait_end(cfg.stop_timeout)
                return "aborted", None
            now = time.monotonic()
            if now - last_report >= cfg.stats_interval:
                last_report = now
                self._report()

    def _wait_end(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._poll(50)
            if all(self.states.get(n) in ("done", "aborted", "error") or not self._alive(n)
                   for n in self.config.nodes):
                return

    def _shutdown(self) -> None:
        deadline = time.monotonic() + self.config.stop_timeout
        for _name, t in getattr(self, "threads", {}).items():
            while t.is_alive() and time.monotonic() < deadline:
                self._poll(20)
                t.join(0.05)
        for _name, p in getattr(self, "procs", {}).items():
            while p.is_alive() and time.monotonic() < deadline:
                self._poll(20)
                p.join(0.05)
            if p.is_alive():
                p.terminate()
                p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join(2.0)
        self._poll(0)
        self.router.close(0)
        alive_threads = [n for n, t in getattr(self, "threads", {}).items() if t.is_alive()]
        if not alive_threads:
            self.ctx.term()
        self.endpoints.cleanup()


def run(config: GraphConfig, **kwargs: Any) -> RunResult:
    return Runner(config, **kwargs).run()

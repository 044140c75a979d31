"""Placement, supervision, shutdown and stats: the only place that owns threads, processes and sockets.

`run(config)` starts one worker per node (threads, processes, or processes over tcp),
waits until every worker is ready, starts them together, collects stats, and ends when
every node has seen end-of-stream. A node error stops the run and raises `NodeError`
naming the node; Ctrl-C asks sources to stop, so the graph drains and sinks close cleanly
(a second Ctrl-C aborts at once, still closing every node).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import zmq

from evrt.errors import EvrtError, NodeError
from evrt.graph import registry, remote, transport
from evrt.graph.config import GraphConfig
from evrt.graph.node import Node
from evrt.graph.stats import JsonLines, LiveDisplay, edge_summary, format_table
from evrt.graph.worker import OutSpec, Worker, WorkerSpec

READY_TIMEOUT_S = 120.0


@dataclass
class RunResult:
    """What a finished run reports: final per-node stats, per-edge accounting, how it ended."""

    name: str
    status: str
    duration_s: float
    nodes: dict[str, dict] = field(default_factory=dict)
    edges: dict[str, dict] = field(default_factory=dict)


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
        endpoint = endpoints.inputs[name] if ins else None
        bind = endpoints.binds.get(name) if endpoint else None
        specs.append(WorkerSpec(
            name=name, type=type_ref, params=dict(node.params), role=cls.role, flow=config.flow,
            queue=config.queue, placement=config.placement, control=endpoints.control,
            input_endpoint=endpoint, in_edges=ins, outputs=outs,
            stats_interval=min(config.stats_interval, 0.5), bind_input=bind,
            curve_keys=config.curve_keys,
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
        self.last_seen: dict[str, float] = {}
        self.workers: dict[str, Any] = {}
        self.t_launch = time.monotonic()
        self.aborting = False
        self.threads: dict[str, threading.Thread] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.remote_nodes: dict[str, str] = {}
        self.states: dict[str, str] = {}
        self.stats_subscribers: list[str] = []
        self.interrupts = 0

    # ---- remote hosts ------------------------------------------------------------------------
    def _plan_remote(self) -> str:
        """Ask each named `evrt worker` for ports; return where the control socket binds."""
        cfg = self.config
        self.workers: dict[str, remote.WorkerClient] = {}
        off_loopback = False
        for name, spec in cfg.nodes.items():
            if spec.host is None:
                continue
            client = self.workers.get(spec.host)
            if client is None:
                client = self.workers[spec.host] = remote.WorkerClient(self.ctx, spec.host, cfg.curve_keys)
            port = client.request("ports", count=1)["ports"][0]
            self.endpoints.inputs[name] = f"tcp://{client.hostname}:{port}"
            loop = remote.is_loopback(client.hostname)
            self.endpoints.binds[name] = f"tcp://{'127.0.0.1' if loop else '0.0.0.0'}:{port}"
            off_loopback |= not loop
        if not off_loopback:
            return self.endpoints.control
        port = self.endpoints.control.rsplit(":", 1)[1]
        first = next(c.hostname for c in self.workers.values() if not remote.is_loopback(c.hostname))
        me = cfg.advertise or remote.local_address_towards(first)
        self.endpoints.control = f"tcp://{me}:{port}"
        for name, spec in cfg.nodes.items():  # local nodes must be reachable from remote ones
            if spec.host is None:
                p = self.endpoints.inputs[name].rsplit(":", 1)[1]
                self.endpoints.inputs[name] = f"tcp://{me}:{p}"
                self.endpoints.binds[name] = f"tcp://0.0.0.0:{p}"
        return f"tcp://0.0.0.0:{port}"

    # ---- launching ---------------------------------------------------------------------------
    def _launch(self, specs: list[WorkerSpec]) -> None:
        self.t_launch = time.monotonic()
        if self.config.placement == "threads":
            for spec in specs:
                w = Worker(spec, self.ctx, self.instances.get(spec.name))
                t = threading.Thread(target=w.run, name=f"evrt-{spec.name}", daemon=True)
                self.threads[spec.name] = t
            # consumers first so inproc binds exist before producers connect
            for spec in reversed(specs):
                self.threads[spec.name].start()
        else:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] )
            for spec in reversed(specs):
                host = self.config.nodes[spec.name].host
                if host is not None:
                    self.workers[host].request("launch", spec=dataclasses.asdict(spec))
                    self.remote_nodes[spec.name] = host
                    continue
                p = subprocess.Popen([sys.executable, "-m", "evrt.graph.worker_main"],
                                     stdin=subprocess.PIPE, env=env)
                p.stdin.write(pickle.dumps(spec))
                p.stdin.close()
                self.procs[spec.name] = p

    def _alive(self, name: str) -> bool:
        if name in self.threads:
            return self.threads[name].is_alive()
        if name in self.remote_nodes:
            return time.monotonic() - self.last_seen.get(name, self.t_launch) < self.config.heartbeat_timeout
        return self.procs[name].poll() is None

    def _dead_worker(self) -> tuple[str, str] | None:
        for name, p in self.procs.items():
            if self.states.get(name) in ("done", "error", "aborted"):
                continue
            if p.poll() is not None:
                code = p.returncode
                how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                return name, f"worker process died ({how}) before finishing"
        for name, host in self.remote_nodes.items():
            if self.states.get(name) in ("done", "error", "aborted"):
                continue
            if not self._alive(name):
                return name, (f"no word from its process on {host} for "
                              f"{self.config.heartbeat_timeout:.0f} s (heartbeat lost)")
        return None

    # ---- control -------------------------------------------------------------------------------
    def _repeat_abort(self) -> None:
        """Workers that connected after an abort was sent never saw it: say it again."""
        if self.aborting:
            self._broadcast("abort")

    def _broadcast(self, cmd: str, names: list[str] | None = None) -> None:
        if cmd == "abort":
            self.aborting = True
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
                self.last_seen[name] = time.monotonic()
                data = transport.loads(payload)
                if kind in ("stats", "done", "aborted") and "node" in data:
                    self.snapshots[name] = data
                if kind == "ready" and data.get("run_stats"):
                    self.stats_subscribers.append(name)
                if kind != "stats":
                    self.states[name] = kind
                out.append((name, kind, data))
        return out

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.interrupts += 1

    def _forward_stats(self) -> None:
        """Send the latest snapshots to the nodes that asked for them (`wants_run_stats`)."""
        if not self.stats_subscribers:
            return
        payload = transport.dumps({n: self.snapshots[n] for n in self.config.order()
                                   if n in self.snapshots})  # sources first
        for name in self.stats_subscribers:
            if self.states.get(name) in ("done", "error", "aborted"):
                continue
            try:
                self.router.send_multipart([name.encode(), b"run_stats", payload], flags=zmq.NOBLOCK)
            except zmq.ZMQError:
                pass

    def _report(self, final: bool = False) -> None:
        if not final:
            self._forward_stats()
        if self.live:
            self.live.show(format_table(self.snapshots, self.config.order()))
        if self.json:
            self.json.write({"time": time.time(), "final": final, "nodes": self.snapshots,
                             "edges": edge_summary(self.snapshots)})

    # ---- the run -----------------------------------------------------------------------------
    def run(self) -> RunResult:
        cfg = self.config
        self.ctx = zmq.Context()
        self.endpoints = transport.make_endpoints(cfg.placement, list(cfg.nodes))
        control_bind = self.endpoints.control
        if cfg.placement == "hosts":
            control_bind = self._plan_remote()
        specs = worker_specs(cfg, self.endpoints)
        self.local_table: dict = {}
        if cfg.placement == "threads":
            for spec in specs:
                spec.local_table = self.local_table
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        remote.secure(self.router, cfg.curve_keys, server=True)
        self.router.bind(control_bind)
        old_handler = None
        if self.install_sigint and threading.current_thread() is threading.main_thread():
            old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        t_start = time.monotonic()
        status = "completed"
        error: NodeError | None = None
        try:
            self._launch(specs)
            error = self._wait_ready()
            if error is None and self.interrupts:
                status = "interrupted"  # Ctrl-C before the start: nothing ran, close everything
            elif error is None:
                self._broadcast("start")
                status, error = self._supervise()
        finally:
            if error is not None or status == "interrupted" and not self.snapshots:
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
                return None
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
                self._repeat_abort()
                t.join(0.05)
        for _name, p in getattr(self, "procs", {}).items():
            while p.poll() is None and time.monotonic() < deadline:
                self._poll(20)
                self._repeat_abort()
                time.sleep(0.02)
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(2.0)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(2.0)
        self._poll(0)
        for client in self.workers.values():
            try:
                if any(self.states.get(n) not in ("done", "aborted", "error")
                       for n, h in self.remote_nodes.items() if h == client.host):
                    client.request("stop")
            except EvrtError:
                pass
            client.close()
        self.router.close(0)
        self.local_table.clear()  # messages left on edges by an abort
        alive_threads = [n for n, t in getattr(self, "threads", {}).items() if t.is_alive()]
        if not alive_threads:
            self.ctx.term()
        self.endpoints.cleanup()


def run(config: GraphConfig, **kwargs: Any) -> RunResult:
    return Runner(config, **kwargs).run()

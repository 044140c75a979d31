"""TOML graph schema: `[graph]` settings plus one `[nodes.NAME]` table per node.

Every error names the node and the key. Unknown keys are errors, never ignored.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from evrt.errors import ConfigError
from evrt.graph import registry

PLACEMENTS = ("threads", "processes", "hosts")
FLOWS = ("lossless", "realtime")
GRAPH_KEYS = {
    "name": str,
    "placement": str,
    "flow": str,
    "queue": int,
    "stats_interval": float,
    "stop_timeout": float,
}


@dataclass
class Edge:
    """producer -> consumer, optionally only one named stream of the producer."""

    producer: str
    consumer: str
    stream: str | None = None

    @property
    def label(self) -> str:
        src = f"{self.producer}:{self.stream}" if self.stream else self.producer
        return f"{src}->{self.consumer}"


@dataclass
class NodeSpec:
    name: str
    type: Any
    params: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    host: str | None = None
    prebuilt: bool = False  # a ready Node object from the Python API: params already applied


@dataclass
class GraphConfig:
    name: str = "graph"
    placement: str = "threads"
    flow: str = "lossless"
    queue: int = 8
    stats_interval: float = 1.0
    stop_timeout: float = 10.0
    nodes: dict[str, NodeSpec] = field(default_factory=dict)
    source_path: str | None = None

    # ---- derived -------------------------------------------------------------------------
    def edges(self) -> list[Edge]:
        out = []
        for spec in self.nodes.values():
            for ref in spec.inputs:
                producer, _, stream = ref.partition(":")
                out.append(Edge(producer, spec.name, stream or None))
        return out

    def order(self) -> list[str]:
        """Topological order (sources first). Raises ConfigError on a cycle."""
        deps = {n: {e.producer for e in self.edges() if e.consumer == n} for n in self.nodes}
        done: list[str] = []
        state: dict[str, int] = {}

        def visit(n: str, path: list[str]) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                cycle = path[path.index(n):] + [n]
                raise ConfigError(f"the graph has a cycle: {' -> '.join(cycle)}", node=n, key="inputs")
            state[n] = 1
            for d in sorted(deps[n]):
                visit(d, path + [n])
            state[n] = 2
            done.append(n)

        for n in self.nodes:
            visit(n, [])
        return done

    def sinks(self) -> list[str]:
        consumers = {e.producer for e in self.edges()}
        return [n for n in self.nodes if n not in consumers]

    def validate(self) -> GraphConfig:
        if self.placement not in PLACEMENTS:
            raise ConfigError(f"expected one of {PLACEMENTS}, got {self.placement!r}", key="graph.placement")
        if self.flow not in FLOWS:
            raise ConfigError(f"expected one of {FLOWS}, got {self.flow!r}", key="graph.flow")
        if self.queue < 1:
            raise ConfigError(f"expected a queue size >= 1, got {self.queue}", key="graph.queue")
        if not self.nodes:
            raise ConfigError("the graph has no nodes: add a [nodes.NAME] table")
        for spec in self.nodes.values():
            cls = registry.resolve(spec.type, node=spec.name)
            if not spec.prebuilt:
                registry.validate_params(cls, spec.params, node=spec.name)
            for ref in spec.inputs:
                producer = ref.partition(":")[0]
                if producer not in self.nodes:
                    raise ConfigError(f"input '{ref}' names no node (nodes: {', '.join(self.nodes)})",
                                      node=spec.name, key="inputs")
                if producer == spec.name:
                    raise ConfigError("a node cannot be its own input (a cycle)", node=spec.name,
                                      key="inputs")
            if cls.role == "source" and spec.inputs:
                raise ConfigError(f"type {cls.__name__} is a source and takes no inputs",
                                  node=spec.name, key="inputs")
            if cls.role != "source" and not spec.inputs:
                raise ConfigError(f"type {cls.__name__} needs at least one input (missing input)",
                                  node=spec.name, key="inputs")
            if spec.host is not None and self.placement != "hosts":
                raise ConfigError("'host' is only valid with placement = \"hosts\"", node=spec.name,
                                  key="host")
        for e in self.edges():
            cls = registry.resolve(self.nodes[e.producer].type, node=e.producer)
            if cls.role == "sink":
                raise ConfigError(f"node '{e.producer}' is a sink and has no output",
                                  node=e.consumer, key="inputs")
        self.order()
        return self


def parse_value(text: str) -> Any:
    """A `--set` value: a TOML literal when it parses as one, else the plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def from_dict(data: dict[str, Any], *, overrides: list[str] | None = None,
              source_path: str | None = None) -> GraphConfig:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    nodes_data = {k: dict(v) for k, v in data.get("nodes", {}).items()}
    for key in data:
        if key not in ("graph", "nodes"):
            raise ConfigError("unknown top-level table; expected [graph] and [nodes.NAME]", key=key)
    graph = dict(data.get("graph", {}))
    for o in overrides or []:
        target, eq, value = o.partition("=")
        if not eq or "." not in target:
            raise ConfigError(f"--set expects node.key=value, got {o!r}", key=o)
        node, _, key = target.partition(".")
        if node == "graph":
            graph[key] = parse_value(value)
            continue
        if node not in nodes_data:
            raise ConfigError(f"--set names no node (nodes: {', '.join(nodes_data)})", node=node, key=key)
        nodes_data[node][key] = parse_value(value)
    for key, value in graph.items():
        if key not in GRAPH_KEYS:
            raise ConfigError(f"unknown [graph] key (known: {', '.join(GRAPH_KEYS)})", key=f"graph.{key}")
        want = GRAPH_KEYS[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) if want is float \
            else isinstance(value, want) and not isinstance(value, bool)
        if not ok:
            raise ConfigError(f"expected {want.__name__}, got {value!r}", key=f"graph.{key}")
    cfg = GraphConfig(**graph, source_path=source_path)
    for name, table in nodes_data.items():
        if not isinstance(table, dict):
            raise ConfigError("expected a table", node=name)
        if "type" not in table:
            raise ConfigError("missing 'type'", node=name, key="type")
        inputs = table.pop("inputs", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise ConfigError(f"expected a list of node names, got {inputs!r}", node=name, key="inputs")
        type_name = table.pop("type")
        host = table.pop("host", None)
        cfg.nodes[name] = NodeSpec(name, type_name, table, inputs, host)
    return cfg.validate()


def load(path: str | Path, overrides: list[str] | None = None) -> GraphConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return from_dict(data, overrides=overrides, source_path=str(path))

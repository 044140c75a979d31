"""Build and run a graph from Python, as easily as from TOML."""

from __future__ import annotations

from typing import Any

from evrt.graph import registry
from evrt.graph.config import GraphConfig, NodeSpec
from evrt.graph.node import Node
from evrt.graph.runner import Runner, RunResult


class Graph:
    """A graph under construction.

    >>> g = Graph("demo")
    >>> g.add("src", "synthetic", pattern="moving_bar", duration=0.1)
    >>> g.add("out", "callback", inputs=["src"], callback=print)
    >>> result = g.run()
    """

    def __init__(self, name: str = "graph", *, placement: str = "threads", flow: str = "lossless",
                 queue: int = 8, stats_interval: float = 1.0, stop_timeout: float = 10.0):
        self.config = GraphConfig(name=name, placement=placement, flow=flow, queue=queue,
                                  stats_interval=stats_interval, stop_timeout=stop_timeout)
        self.instances: dict[str, Node] = {}

    def add(self, name: str, node: str | type | Node, *, inputs: list[str] | str | None = None,
            host: str | None = None, **params: Any) -> Graph:
        """Add a node by type name, 'module:Class', Node class, or a ready Node object."""
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        if isinstance(node, Node):
            self.instances[name] = node
            self.config.nodes[name] = NodeSpec(name, type(node), {}, inputs, host, prebuilt=True)
            return self
        cls = registry.resolve(node, node=name)
        if cls.__name__ == "CallbackSink" or any(callable(v) for v in params.values()):
            # Python objects cannot be described in TOML: build now, run as an instance.
            self.instances[name] = registry.build(node, params, node=name)
            self.config.nodes[name] = NodeSpec(name, cls, {}, inputs, host, prebuilt=True)
            return self
        self.config.nodes[name] = NodeSpec(name, node, dict(params), inputs, host)
        return self

    def run(self, *, live: bool = False, stats_json: str | None = None) -> RunResult:
        self.config.validate()
        return Runner(self.config, live=live, stats_json=stats_json, instances=self.instances).run()

"""Nodes that belong to the graph itself rather than to any domain."""

from __future__ import annotations

from typing import Any

from evrt.graph.node import Node

NODES = {"passthrough": "evrt.graph.builtin:Passthrough"}


class Passthrough(Node):
    """Forwards every message unchanged (zero-copy): for wiring, fan-out and benchmarks."""

    def __init__(self) -> None:
        pass

    def process(self, message: Any) -> tuple[Any, ...]:
        return (message,)

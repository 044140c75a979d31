"""The node API. A node never touches sockets, threads or clocks: the runner owns those.

- `Source.messages()` yields messages until exhausted (or the runner stops iterating).
- `Node.process(message)` returns an iterable of messages (or None) for each input.
- `Node.close()` is called once at the end, also after an error or Ctrl-C; a transform may
  return final messages (a flush) from `finish()`, which runs only on a clean end of stream.

Parameters are the keyword arguments of `__init__`; their annotations and defaults are
the node's schema, checked against the TOML before anything runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class NodeContext:
    """What the runner tells a node when it opens: who it is and what it is wired to."""

    name: str
    placement: str = "threads"
    flow: str = "lossless"
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("evrt.node"))
    open_publisher: Callable[[str], Callable[[Any], None]] | None = None
    """`open_publisher(endpoint)` -> `publish(message)`: a runner-owned PUB socket for sinks
    that serve the outside world; the node never holds the socket itself."""
    run_stats: Callable[[], dict[str, dict]] | None = None
    """`run_stats()` -> {node: latest stats snapshot} of the whole run (empty until the first
    report), for nodes that set `wants_run_stats = True`. The runner forwards its snapshots
    over the control channel every `stats_interval`, so this works in every placement."""


class Node:
    """Base for every node; subclass `Source`, `Sink`, or this for transforms."""

    role: ClassVar[str] = "transform"
    wants_run_stats: ClassVar[bool] = False
    """True asks the runner to forward the run's per-node stats (see `NodeContext.run_stats`)."""

    def open(self, context: NodeContext) -> None:
        """Acquire resources (files, devices, models). Called in the thread/process that runs the node."""
        self.context = context

    def process(self, message: Any) -> Iterable[Any] | None:
        """Handle one input message; return what to send downstream."""
        return (message,)

    def finish(self) -> Iterable[Any] | None:
        """All inputs ended cleanly: return any buffered output (e.g. a last partial window)."""
        return None

    def close(self) -> None:
        """Release resources. Always called exactly once, also after errors and Ctrl-C."""


class Source(Node):
    """A node with no inputs. `speed` > 0 asks the runner to pace output at that multiple of real time."""

    role: ClassVar[str] = "source"
    speed: float = 0.0

    def messages(self) -> Iterator[Any]:
        raise NotImplementedError

    def process(self, message: Any) -> Iterable[Any] | None:  # pragma: no cover - sources get no input
        raise RuntimeError("a source receives no messages")


class Sink(Node):
    """A node with no outputs."""

    role: ClassVar[str] = "sink"

    def process(self, message: Any) -> None:
        raise NotImplementedError

"""evrt: an event-camera streaming runtime.

Sources -> numba encoders -> spiking networks (digital or simulated memristive crossbar,
with early stop) -> sinks, wired as a ZeroMQ dataflow graph.
"""

from evrt.errors import ConfigError, EvrtError, FormatError, NodeError
from evrt.events import EVENT_DTYPE, EventPacket, Geometry
from evrt.graph.api import Graph
from evrt.graph.node import Node, NodeContext, Sink, Source

__version__ = "0.1.0"

__all__ = [
    "EVENT_DTYPE",
    "ConfigError",
    "EventPacket",
    "EvrtError",
    "FormatError",
    "Geometry",
    "Graph",
    "Node",
    "NodeContext",
    "NodeError",
    "Sink",
    "Source",
]

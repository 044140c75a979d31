"""Build a graph in Python, plug in a ten-line custom sink, and get results in a callback.

    .venv/bin/python examples/python_api_custom_sink.py
"""

from __future__ import annotations

import numpy as np

import evrt


class OnFraction(evrt.Sink):
    """A custom sink: the fraction of ON events in each packet, kept in a list."""

    def __init__(self) -> None:
        self.fractions: list[float] = []

    def process(self, message: evrt.EventPacket) -> None:
        if len(message):
            self.fractions.append(float(np.mean(message.p)))


def main() -> dict:
    counts: list[int] = []
    on_fraction = OnFraction()
    graph = evrt.Graph("python-api")
    graph.add("source", "synthetic", pattern="moving_bar", duration=0.5, width=128, height=96)
    graph.add("relay", "passthrough", inputs=["source"])
    graph.add("count", "callback", inputs=["relay"], callback=lambda m: counts.append(len(m)))
    graph.add("on", on_fraction, inputs=["relay"])
    result = graph.run()
    summary = {
        "packets": len(counts),
        "events": sum(counts),
        "mean_on_fraction": float(np.mean(on_fraction.fractions)),
        "status": result.status,
    }
    print(summary)
    return summary


if __name__ == "__main__":
    main()

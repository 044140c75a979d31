"""Hypothesis strategies and helpers for packet-boundary tests (small inputs: fast)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from evrt.events import EventPacket, Geometry, make_events


@st.composite
def streams(draw, max_events: int = 60, max_side: int = 7, max_dt: int = 40):
    """(events, geometry, t_start, t_end): sorted events with many identical timestamps and border pixels."""
    width = draw(st.integers(1, max_side))
    height = draw(st.integers(1, max_side))
    n = draw(st.integers(0, max_events))
    steps = draw(st.lists(st.integers(0, max_dt), min_size=n, max_size=n))
    t0 = draw(st.integers(0, 2000))
    t = t0 + np.cumsum(np.asarray(steps, dtype=np.int64)) if n else np.zeros(0, np.int64)
    x = draw(st.lists(st.integers(0, width - 1), min_size=n, max_size=n))
    y = draw(st.lists(st.integers(0, height - 1), min_size=n, max_size=n))
    p = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    events = make_events(t, x, y, p)
    t_start = t0 - draw(st.integers(0, 30))
    t_end = (int(t[-1]) + 1 if n else t0 + 1) + draw(st.integers(0, 30))
    return events, Geometry(width, height), t_start, t_end


@st.composite
def cuts(draw, n: int):
    """Sorted cut indices into n events (repeats allowed: they make empty packets)."""
    k = draw(st.integers(0, 6))
    return sorted(draw(st.lists(st.integers(0, n), min_size=k, max_size=k)))


def split(events: np.ndarray, g: Geometry, t_start: int, t_end: int, at: list[int]) -> list[EventPacket]:
    """Cut a stream into packets at event indices. Inner packets take the default time range
    (first t, last t + 1), as count slicing gives; empty ones sit at the previous boundary."""
    bounds = [0, *at, events.shape[0]]
    packets = []
    last_end = t_start
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=False)):
        part = events[a:b]
        first, last = i == 0, i == len(bounds) - 2
        if part.size:
            s = t_start if first else int(part["t"][0])
            e = t_end if last else int(part["t"][-1]) + 1
        else:
            s = t_start if first else last_end
            e = t_end if last else s
        packets.append(EventPacket(part, g, t_start=s, t_end=max(e, s)))
        last_end = packets[-1].t_end
    return packets


def run(node, packets) -> list:
    out = []
    for packet in packets:
        out.extend(node.process(packet) or ())
    out.extend(node.finish() or ())
    return out

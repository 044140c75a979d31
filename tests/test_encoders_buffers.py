"""Recycled node outputs: an array is reused only when nothing outside the ring holds it."""

from __future__ import annotations

import numpy as np

from evrt.encoders.buffers import BufferRing
from evrt.encoders.nodes import HistogramEncoder
from evrt.events import EventPacket, Geometry, make_events


def _packets(n_windows: int, geometry: Geometry) -> list[EventPacket]:
    rng = np.random.default_rng(4)
    t = np.sort(rng.integers(0, n_windows * 1000, 5000))
    ev = make_events(t, rng.integers(0, geometry.width, t.size), rng.integers(0, geometry.height, t.size),
                     rng.integers(0, 2, t.size))
    packet = EventPacket(ev, geometry)
    return [packet[i:i + 500] for i in range(0, t.size, 500)]


def test_free_array_is_reused_and_cleared():
    ring = BufferRing((3, 4), np.int32)
    a = ring.take(0)
    a += 7
    a_id = id(a)
    del a
    b = ring.take(0)
    assert id(b) == a_id and ring.reused == 1 and not b.any()


def test_referenced_arrays_are_never_handed_out_again():
    ring = BufferRing((3, 4), np.float32, keep=2)
    held = ring.take(0)
    view = ring.take(0)[1:]  # only a view survives: its .base still holds the array
    mv_owner = ring.take(0)  # beyond `keep`: fresh, untracked
    mv = memoryview(mv_owner)
    del mv_owner
    fresh = ring.take(0)
    assert fresh is not held and fresh.base is None and not np.shares_memory(fresh, view)
    assert not np.shares_memory(fresh, np.asarray(mv))


def test_node_outputs_kept_downstream_are_not_overwritten():
    geometry = Geometry(16, 8)
    packets = _packets(5, geometry)
    expected = []
    node = HistogramEncoder(window_us=1000)
    for p in packets:  # a consumer that copies then drops: buffers get recycled
        expected += [m.data.copy() for m in node.process(p)]
    expected += [m.data.copy() for m in node.finish()]
    assert node.ring.reused > 0

    import torch

    node = HistogramEncoder(window_us=1000)
    kept = []  # a consumer that keeps views, tensors and messages
    for i, p in enumerate(packets):
        for m in node.process(p):
            kept.append(m.data[0:2] if i % 3 == 0 else m.torch() if i % 3 == 1 else m)
    kept += list(node.finish())
    got = [np.asarray(k.data if hasattr(k, "data") and not isinstance(k, torch.Tensor) else k)
           for k in kept]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)


def test_graph_fan_out_never_overwrites_a_frame_a_consumer_still_holds():
    """Threads placement, the runner's zero-copy path: one consumer drops each frame, a slower
    one holds the last 3 and checks, when letting go, that each is unchanged since it
    arrived. The ring must recycle (the dropped frames) without touching a held one, and
    every recycled frame must be cleared (equal to the histogram computed afresh)."""
    import time

    from evrt import Graph
    from evrt.encoders import functional as F
    from evrt.events import concat_events
    from evrt.graph.node import Sink

    class Events(Sink):
        def __init__(self) -> None:
            self.got: list = []

        def process(self, message) -> None:
            if isinstance(message, EventPacket):
                self.got.append(message.events.copy())

    class HoldThree(Sink):
        def __init__(self) -> None:
            self.held: list = []
            self.copies: list = []
            self.changed = 0

        def process(self, message) -> None:
            if not hasattr(message, "data"):
                return
            time.sleep(0.001)
            self.held.append((message, message.data.copy()))
            self.copies.append(self.held[-1])
            if len(self.held) > 3:
                old, at_arrival = self.held.pop(0)
                self.changed += not np.array_equal(old.data, at_arrival)
                self.copies[-4] = (old.t_start, old.t_end, at_arrival)

        def finish(self):
            for old, at_arrival in self.held:
                self.changed += not np.array_equal(old.data, at_arrival)
            self.copies[-len(self.held):] = [(m.t_start, m.t_end, c) for m, c in self.held]
            self.held = []
            return None

    class Drop(Sink):
        def process(self, message) -> None:
            pass

    events, slow = Events(), HoldThree()
    encoder = HistogramEncoder(window_us=2_000)
    graph = Graph("ring-fan-out", queue=4)  # lossless + short queues: the encoder waits for "slow"
    graph.add("src", "synthetic", pattern="moving_bar", duration=0.2)
    graph.add("enc", encoder, inputs=["src"])
    graph.add("events", events, inputs=["src"])
    graph.add("fast", Drop(), inputs=["enc"])
    graph.add("slow", slow, inputs=["enc"])
    graph.run()
    assert slow.changed == 0
    assert encoder.ring.reused > 10, encoder.ring.reused  # recycling happened while frames were in flight
    ev = concat_events(events.got)
    assert len(slow.copies) >= 25
    for t_start, t_end, frame in slow.copies:
        inside = ev[(ev["t"] >= t_start) & (ev["t"] < t_end)]
        np.testing.assert_array_equal(frame, F.histogram(inside, frame.shape[2], frame.shape[1]),
                                      err_msg=f"window [{t_start}, {t_end})")

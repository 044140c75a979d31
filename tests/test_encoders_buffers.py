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

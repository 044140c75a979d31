"""Recycled output arrays for encoder nodes, reused only once nobody else can see them.

A node emits one dense array per window. Allocating it fresh costs page faults on memory the
OS must zero first (a 1280x720 histogram is 7.4 MB per window), which dominated the node
cost. A `BufferRing` keeps the arrays it handed out and reuses one only when its CPython
reference count shows that the ring is its sole holder: every consumer of a `TensorMsg`
(a list of messages, a numpy view (`.base`), `torch.from_numpy`, a `memoryview`, a ZeroMQ
zero-copy frame still in flight) holds a reference to the array, so a message handed
downstream is never overwritten while anything can still read it. Only the ring can hand a
free array out again, so nobody can start referencing it between the check and the reuse.
When every kept array is still held, a new one is allocated (kept if the ring has room).
"""

from __future__ import annotations

import sys

import numpy as np


def _refcount_when_free() -> int:
    """`sys.getrefcount` of an array held only by a ring, measured through `_free_index`."""
    probe = [np.empty(1)]
    return _count(probe, 0)


def _count(buffers: list[np.ndarray], i: int) -> int:
    return sys.getrefcount(buffers[i])


class BufferRing:
    """Up to `keep` arrays of one shape and dtype, recycled when no one else references them."""

    _free_refcount = -1

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype | str, keep: int = 4) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.keep = int(keep)
        self.buffers: list[np.ndarray] = []
        if BufferRing._free_refcount < 0:
            BufferRing._free_refcount = _refcount_when_free()
        self.reused = 0
        self.allocated = 0

    def _free_index(self) -> int:
        free = BufferRing._free_refcount
        buffers = self.buffers
        for i in range(len(buffers)):
            if _count(buffers, i) <= free:
                return i
        return -1

    def take(self, fill: float | None = 0) -> np.ndarray:
        """A C-contiguous array nobody else holds, set to `fill` (left as is when None)."""
        i = self._free_index()
        if i >= 0:
            out = self.buffers[i]
            self.reused += 1
            if fill is not None:
                out.fill(fill)
            return out
        self.allocated += 1
        if fill is None:
            out = np.empty(self.shape, self.dtype)
        elif fill == 0:
            out = np.zeros(self.shape, self.dtype)
        else:
            out = np.full(self.shape, fill, self.dtype)
        if len(self.buffers) < self.keep:
            self.buffers.append(out)
        return out

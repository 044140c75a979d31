"""A minimal, bounds-checked flatbuffer table reader (only what AEDAT 4.0 needs).

Flatbuffers store a root uoffset, tables that point (soffset) to a vtable of field
offsets, and vectors as a uint32 length followed by the elements. Every read is checked
against the buffer so a corrupt packet raises `FlatbufferError`, never reads past the end.
"""

from __future__ import annotations

import struct

import numpy as np

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")


class FlatbufferError(ValueError):
    """The bytes do not form the table that was expected; `where` is the buffer offset."""

    def __init__(self, where: int, message: str):
        super().__init__(message)
        self.where = where


class Table:
    """One flatbuffer table inside `buf` at `pos`."""

    __slots__ = ("buf", "pos", "vtable", "vsize")

    def __init__(self, buf: bytes | memoryview, pos: int):
        self.buf = buf
        self.pos = pos
        n = len(buf)
        if pos < 0 or pos + 4 > n:
            raise FlatbufferError(pos, f"table offset {pos} outside the {n}-byte buffer")
        vt = pos - _I32.unpack_from(buf, pos)[0]
        if vt < 0 or vt + 4 > n:
            raise FlatbufferError(pos, f"vtable offset {vt} outside the {n}-byte buffer")
        self.vtable = vt
        self.vsize = _U16.unpack_from(buf, vt)[0]
        if self.vsize < 4 or vt + self.vsize > n:
            raise FlatbufferError(vt, f"vtable size {self.vsize} does not fit the buffer")

    def _field(self, index: int) -> int:
        """Absolute position of field `index`, or 0 when the field is absent (default)."""
        slot = 4 + 2 * index
        if slot + 2 > self.vsize:
            return 0
        off = _U16.unpack_from(self.buf, self.vtable + slot)[0]
        return self.pos + off if off else 0

    def scalar(self, index: int, fmt: str, default: int | float = 0) -> int | float:
        at = self._field(index)
        if not at:
            return default
        size = struct.calcsize(fmt)
        if at + size > len(self.buf):
            raise FlatbufferError(at, f"field {index} runs past the end of the buffer")
        return struct.unpack_from(fmt, self.buf, at)[0]

    def _target(self, index: int) -> int:
        at = self._field(index)
        if not at:
            return 0
        if at + 4 > len(self.buf):
            raise FlatbufferError(at, f"field {index} runs past the end of the buffer")
        target = at + _U32.unpack_from(self.buf, at)[0]
        if target + 4 > len(self.buf):
            raise FlatbufferError(at, f"field {index} points outside the buffer")
        return target

    def vector(self, index: int, item_size: int) -> tuple[int, int]:
        """(start, length) of a vector field; (0, 0) when absent."""
        target = self._target(index)
        if not target:
            return 0, 0
        n = _U32.unpack_from(self.buf, target)[0]
        start = target + 4
        if start + n * item_size > len(self.buf):
            raise FlatbufferError(target, f"vector of {n} x {item_size} bytes runs past the end")
        return start, n

    def array(self, index: int, dtype: np.dtype) -> np.ndarray:
        """A vector of fixed-size structs or scalars as a numpy view (no copy)."""
        dtype = np.dtype(dtype)
        start, n = self.vector(index, dtype.itemsize)
        return np.frombuffer(self.buf, dtype=dtype, count=n, offset=start) if n else \
            np.zeros(0, dtype)

    def string(self, index: int) -> str:
        start, n = self.vector(index, 1)
        return bytes(self.buf[start:start + n]).decode("utf-8", "replace") if n else ""

    def table(self, index: int) -> Table | None:
        target = self._target(index)
        return Table(self.buf, target) if target else None

    def tables(self, index: int) -> list[Table]:
        """A vector of tables (each element a uoffset to its table)."""
        start, n = self.vector(index, 4)
        out = []
        for i in range(n):
            at = start + 4 * i
            out.append(Table(self.buf, at + _U32.unpack_from(self.buf, at)[0]))
        return out


def root(buf: bytes | memoryview, identifier: bytes | None = None, size_prefixed: bool = False) -> Table:
    """The root table of a flatbuffer (optionally size-prefixed), checking its 4-byte identifier."""
    base = 4 if size_prefixed else 0
    if len(buf) < base + 8:
        raise FlatbufferError(0, f"{len(buf)} bytes is too short for a flatbuffer")
    if size_prefixed:
        size = _U32.unpack_from(buf, 0)[0]
        if size + 4 > len(buf):
            raise FlatbufferError(0, f"size prefix {size} is larger than the {len(buf) - 4} bytes present")
    if identifier is not None and bytes(buf[base + 4:base + 8]) != identifier:
        raise FlatbufferError(base + 4, f"identifier {bytes(buf[base + 4:base + 8])!r}, "
                                        f"expected {identifier!r}")
    return Table(buf, base + _U32.unpack_from(buf, base)[0])

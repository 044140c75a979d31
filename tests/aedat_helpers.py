"""Helpers shared by the AEDAT tests: oracles (dv-processing, `aedat`) and file surgery."""

from __future__ import annotations

import struct
from pathlib import Path

import lz4.frame
import numpy as np

from evrt.events import EVENT_DTYPE, PACKED_EVENT_DTYPE, concat_events, from_dv
from evrt.sources.files import flatbuf
from evrt.sources.files.aedat4 import MAGIC
from evrt.sources.files.base import copy_events


def packed(events: np.ndarray) -> bytes:
    """Event bytes without the 3 padding bytes (for equality that ignores padding)."""
    return events.astype(PACKED_EVENT_DTYPE).tobytes()


def dv_events(path: Path) -> np.ndarray:
    import dv_processing as dv

    rec = dv.io.MonoCameraRecording(str(path))
    parts = []
    while rec.isRunning():
        batch = rec.getNextEventBatch()
        if batch is None:
            break
        parts.append(copy_events(from_dv(batch)))
    return concat_events(parts)


def aedat_events(path: Path) -> np.ndarray:
    import aedat

    parts = []
    for packet in aedat.Decoder(str(path)):
        if "events" in packet:
            e = packet["events"]
            out = np.zeros(e.size, EVENT_DTYPE)
            out["t"], out["x"], out["y"], out["p"] = e["t"], e["x"], e["y"], e["on"]
            parts.append(out)
    return concat_events(parts)


def aedat4_packets(path: Path) -> tuple[bytes, list[tuple[int, int, bytes]]]:
    """(header bytes, [(offset, stream id, compressed payload)]) of an AEDAT4 file, walking headers."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4 + n
    table = flatbuf.root(data[len(MAGIC) + 4:start], b"IOHE")
    end = int(table.scalar(1, "<q", -1))
    end = end if end > 0 else len(data)
    out = []
    pos = start
    while pos < end:
        sid, size = struct.unpack_from("<ii", data, pos)
        out.append((pos, sid, data[pos + 8:pos + 8 + size]))
        pos += 8 + size
    return data[:start], out


def without_table(header: bytes) -> bytearray:
    """The same file header with dataTablePosition set to -1 (no index)."""
    head = bytearray(header)
    base = len(MAGIC) + 4
    t = flatbuf.root(bytes(head[base:]), b"IOHE")
    at = t._field(1)
    struct.pack_into("<q", head, base + at, -1)
    return head


def rebuild(header: bytes, packets: list[tuple[int, bytes]]) -> bytes:
    """An AEDAT4 file from a header (its table position cleared) and (stream id, payload) packets."""
    out = bytearray(without_table(header))
    for sid, payload in packets:
        out += struct.pack("<ii", sid, len(payload)) + payload
    return bytes(out)


def recompress(payload: bytes, edit) -> bytes:
    raw = bytearray(lz4.frame.decompress(payload))
    edit(raw)
    return lz4.frame.compress(bytes(raw))

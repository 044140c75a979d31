"""AEDAT 4.0 (DV / dv-processing) reader: our own decoder, checked against dv-processing.

Layout: `#!AER-DAT4.0\\r\\n`, uint32 header length, an `IOHE` flatbuffer (compression,
dataTablePosition, infoNode XML), then packets `{int32 streamId, int32 size}` + one LZ4/ZSTD
frame that decompresses to a size-prefixed flatbuffer (`EVTS`, `FRME`, `IMUS`, `TRIG`), and
at dataTablePosition a compressed `FTAB` flatbuffer listing every packet (offset, stream,
element count, time range), which we use for `seek` and a decompression-free `info`.

An `EVTS` element is a 16-byte struct identical to `EVENT_DTYPE`, so the event vector of a
decompressed packet is viewed as an event array with no per-event work besides zeroing the
padding bytes and checking time order. For speed (see BENCHMARKS.md), LZ4 event packets
are decoded by our numba LZ4 decoder (`lz4_kernel`), a whole run of consecutive event
packets per call, from the memory-mapped file straight into one reused event array; every
other packet (ZSTD, frames with checksums, frames/IMU/triggers, anything the run kernel
leaves) goes through python-lz4 / zstandard one packet at a time.
"""

from __future__ import annotations

import mmap
import struct
import sys
import warnings
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from evrt.errors import FormatError
from evrt.events import EVENT_DTYPE, Geometry
from evrt.messages import IMU_DTYPE, TRIGGER_DTYPE, Frame, Imu, Trigger
from evrt.sources.files import flatbuf, lz4_kernel
from evrt.sources.files.base import EventBlock, Reader

NAME = "aedat4"
MAGIC = b"#!AER-DAT4.0\r\n"
COMPRESSION = {0: "none", 1: "lz4", 2: "lz4_high", 3: "zstd", 4: "zstd_high"}
KINDS = {"EVTS": "events", "FRME": "frames", "IMUS": "imu", "TRIG": "triggers"}
_PACKET_HEADER = struct.Struct("<ii")


def detect(head: bytes) -> bool:
    return head.startswith(MAGIC)


def open_reader(path: str, **kw: Any) -> Aedat4Reader:
    return Aedat4Reader(path, **kw)


@dataclass
class StreamInfo:
    id: int
    name: str
    type_id: str
    kind: str
    width: int = 0
    height: int = 0


@dataclass
class TableEntry:
    offset: int
    stream: int
    size: int
    elements: int
    t_first: int
    t_last: int


_EVTS_ERRORS = {
    1: "shorter than a size-prefixed flatbuffer",
    2: "size prefix larger than the decompressed data",
    3: "file identifier is not EVTS",
    4: "root table offset outside the buffer",
    5: "vtable offset outside the buffer",
    6: "elements field outside the buffer",
    7: "elements vector offset outside the buffer",
    8: "elements vector runs past the end of the buffer",
}


@numba.njit(cache=True, nogil=True)
def _u32(b, o):
    return np.int64(b[o]) | (np.int64(b[o + 1]) << 8) | (np.int64(b[o + 2]) << 16) \
        | (np.int64(b[o + 3]) << 24)


@numba.njit(cache=True, nogil=True)
def _evts_header(b, n_buf):
    """Find the event vector of a size-prefixed `EVTS` flatbuffer in b[:n_buf].

    Returns (vector start, count, error code (0 = ok, see _EVTS_ERRORS)). Every offset is
    bounds-checked, so a corrupt packet cannot read out of the buffer."""
    if n_buf < 12:
        return 0, 0, 1
    if _u32(b, 0) + 4 > n_buf:
        return 0, 0, 2
    if b[8] != 69 or b[9] != 86 or b[10] != 84 or b[11] != 83:  # "EVTS"
        return 0, 0, 3
    root = 4 + _u32(b, 4)
    if root + 4 > n_buf:
        return 0, 0, 4
    so = _u32(b, root)
    if so >= 2147483648:
        so -= 4294967296
    vt = root - so
    if vt < 0 or vt + 4 > n_buf:
        return 0, 0, 5
    vsize = np.int64(b[vt]) | (np.int64(b[vt + 1]) << 8)
    if vsize < 6 or vt + 6 > n_buf:
        return 0, 0, 0  # no elements field: an empty packet
    off = np.int64(b[vt + 4]) | (np.int64(b[vt + 5]) << 8)
    if off == 0:
        return 0, 0, 0
    field = root + off
    if field + 4 > n_buf:
        return 0, 0, 6
    vec = field + _u32(b, field)
    if vec + 4 > n_buf:
        return 0, 0, 7
    n = _u32(b, vec)
    start = vec + 4
    if start + 16 * n > n_buf:
        return 0, 0, 8
    return start, n, 0


@numba.njit(cache=True, nogil=True)
def _events_in_packet(b):
    """The event vector of a decompressed `EVTS` packet, its padding bytes zeroed and its
    first backwards step found: (start, count, error code, first backwards index or -1)."""
    start, n, err = _evts_header(b, b.size)
    if err:
        return 0, 0, err, -1
    return start, n, 0, lz4_kernel.fix_events(b, start, n)


@numba.njit(cache=True, nogil=True)
def _lz4_events(src, dst):
    """One LZ4-compressed `EVTS` packet decoded into dst and checked, in one GIL-free call.

    Returns (status, detail, EVTS error, vector start, count, first backwards index or -1).
    status 0 = decoded; -1 = a frame our decoder leaves to python-lz4 (checksums, or damage
    python-lz4 will name); > 0 = an `lz4_kernel.ERRORS` code, detail = its byte offset in src."""
    err, first, bound = lz4_kernel.frame_bound(src)
    if err or bound + lz4_kernel.SLACK > dst.size:
        return -1, 0, 0, 0, 0, -1
    size, err, where = lz4_kernel.decode_frame(src, first, dst)
    if err:
        return err, where, 0, 0, 0, -1
    start, n, err = _evts_header(dst, size)
    if err:
        return 0, 0, err, 0, 0, -1
    return 0, 0, 0, start, n, lz4_kernel.fix_events(dst, start, n)


@numba.njit(cache=True, nogil=True)
def _lz4_event_run(data, pos, end, stream_id, skip, dst, t_prev):
    """Decode consecutive LZ4 `EVTS` packets of one stream from data[pos:end] into one
    contiguous event array at the start of dst (each packet's vector moved down over the
    flatbuffer header while it is still in cache), zeroing padding and checking time order.

    Packets of streams marked in `skip` are passed over. Stops, without consuming it, at the
    first packet that is of another stream, does not fit
    in dst, is truncated, damaged, has checksums, or steps back in time (within itself or
    against t_prev / the packet before): the caller decodes that one on its own, which names
    the problem exactly. Returns (position after the last packet taken, events, last t)."""
    o = np.int64(0)
    cap = dst.size
    while pos + 8 <= end:
        sid = lz4_kernel._u32(data, pos)
        size = lz4_kernel._u32(data, pos + 4)
        if size >= 2147483648 or pos + 8 + size > end:
            break
        if sid != stream_id:
            if sid < skip.size and skip[sid]:
                pos += 8 + size
                continue
            break
        src = data[pos + 8:pos + 8 + size]
        err, first, bound = lz4_kernel.frame_bound(src)
        if err or o + bound + lz4_kernel.SLACK > cap:
            break
        out = dst[o:o + bound + lz4_kernel.SLACK]
        dec, err, where = lz4_kernel.decode_frame(src, first, out)
        if err:
            break
        start, n, err = _evts_header(out, dec)
        if err:
            break
        if n:
            lz4_kernel.move(dst, o, o + start, 16 * n)
            if lz4_kernel.fix_events(dst, o, n) >= 0:
                break
            w = dst[o:o + 16 * n].view(np.int64)
            if w[0] < t_prev:
                break
            t_prev = w[2 * (n - 1)]
        o += 16 * n
        pos += 8 + size
    return pos, o // 16, t_prev


@numba.njit(cache=True, nogil=True)
def _plan_run(data, pos, end, stream_id, skip, cap):
    """Where a run starting at `pos` ends when its output must fit in `cap` bytes, from the
    packet and LZ4 block headers only (upper bounds of the decoded sizes), so that runs can be
    handed to worker threads before the previous one is decoded. Stops where
    `_lz4_event_run` would stop for a reason visible in the headers."""
    o = np.int64(0)
    while pos + 8 <= end:
        sid = lz4_kernel._u32(data, pos)
        size = lz4_kernel._u32(data, pos + 4)
        if size >= 2147483648 or pos + 8 + size > end:
            break
        if sid != stream_id:
            if sid < skip.size and skip[sid]:
                pos += 8 + size
                continue
            break
        err, first, bound = lz4_kernel.frame_bound(data[pos + 8:pos + 8 + size])
        if err or o + bound + lz4_kernel.SLACK > cap:
            break
        o += bound
        pos += 8 + size
    return pos


class _RunBuffers:
    """The output arrays of inline decode runs, reused once no event array points into them:
    fresh memory costs a page fault per 4 KiB, a tenth of the decode time. At most `keep`
    arrays are kept, so memory stays bounded by what the consumer still holds."""

    def __init__(self, size: int, keep: int = 3) -> None:
        self.size = size
        self.keep = keep
        self._bufs: list[np.ndarray] = []
        # the reference count seen in get()'s loop for a buffer no view refers to, measured
        # on a probe held the same way (a list, the loop variable, the call)
        for probe in [np.empty(1, np.uint8)]:
            self._idle = self._refs(probe)

    @staticmethod
    def _refs(buf: np.ndarray) -> int:
        return sys.getrefcount(buf)

    def get(self) -> np.ndarray:
        for buf in self._bufs:
            if self._refs(buf) <= self._idle:
                return buf
        buf = np.empty(self.size, np.uint8)
        if len(self._bufs) < self.keep:
            self._bufs.append(buf)
        return buf


@dataclass
class _Run:
    """A run decoded by a worker: its block (None if the first packet was left) and where
    the kernel stopped, before the planned end if it left a packet."""

    block: EventBlock | None
    after: int
    planned: int


class _Decompressor:
    """One compressed frame -> bytes, for the file's compression type."""

    def __init__(self, kind: int):
        self.kind = kind
        if kind in (1, 2):
            import lz4.frame

            self._lz4 = lz4.frame.decompress  # into a bytearray: writable views, no copy
        elif kind in (3, 4):
            import zstandard

            self._zstd = zstandard.ZstdDecompressor()

    def __call__(self, data: bytes) -> bytes:
        if self.kind == 0:
            return bytearray(data)
        if self.kind in (1, 2):
            return self._lz4(data, return_bytearray=True)
        return bytearray(self._zstd.decompressobj().decompress(data))


class _Job:
    """A decode job handed to the worker pool that the reading thread takes back and runs
    itself when no worker has started it (a loaded machine gives the workers no core: then
    the reader does not wait on them and is as fast as inline; with a free core the workers
    decode ahead)."""

    __slots__ = ("future", "fn", "args", "value", "error", "taken")

    def __init__(self, pool: ThreadPoolExecutor, fn: Any, *args: Any) -> None:
        self.future = pool.submit(fn, *args)
        self.fn = fn
        self.args = args
        self.value: Any = None
        self.error: BaseException | None = None
        self.taken = False

    def take(self) -> bool:
        """Run the job here if no worker has started it; True if it is now done here (an
        error is kept for `result`, so the messages of earlier jobs still come first)."""
        if not self.taken and self.future.cancel():
            try:
                self.value = self.fn(*self.args)
            except Exception as exc:
                self.error = exc
            self.taken = True
        return self.taken

    def result(self) -> Any:
        if self.take():
            if self.error is not None:
                raise self.error
            return self.value
        return self.future.result()

    def cancel(self) -> bool:
        return self.future.cancel()


def _next_result(pending: deque) -> Any:
    """The oldest job's result. While a worker is still on it, the reading thread runs the
    later jobs no worker has started yet, instead of waiting."""
    head = pending.popleft()
    if head.take():
        return head.result()
    for job in pending:
        if head.future.done():
            break
        job.take()
    return head.future.result()


class Aedat4Reader(Reader):
    """Streams events, frames, IMU and triggers of an AEDAT 4.0 file, packet by packet."""

    format = NAME
    filters_streams = True
    RUN_BYTES = 1 << 20
    KEEP_MAPPED = 1 << 22
    """Bytes of the mapped file kept resident behind the reading position (read-ahead jobs
    may still read there); older pages are dropped from the mapping every KEEP_MAPPED bytes."""
    """Output of one inline decode call (64 Ki events): small enough that streaming memory
    does not depend on the file length, large enough to amortise the per-call cost."""

    def __init__(self, path: str, use_table: bool = True, threads: int = 0,
                 read_ahead: int = 8) -> None:
        """threads / read_ahead: runs of event packets (and other packets) decoded in worker
        threads ahead of the consumer (0 = inline in the consumer's thread, the default)."""
        super().__init__(path)
        self.threads = int(threads)
        self.read_ahead = int(read_ahead)
        self._executor: ThreadPoolExecutor | None = None
        self._file = open(self.path, "rb")
        self._file.seek(0, 2)
        self.size = self._file.tell()
        self._file.seek(0)
        self._read_header()
        self._map: mmap.mmap | None = None
        self._data: np.ndarray | None = None
        self.use_table = use_table
        self._table: list[TableEntry] | None = None
        self._table_loaded = False

    # -- header and data table ------------------------------------------------------------

    def _read_header(self) -> None:
        f = self._file
        head = f.read(len(MAGIC) + 4)
        if not head.startswith(MAGIC):
            raise FormatError(self.path, 0, f"expected the AEDAT 4.0 magic {MAGIC!r}, found {head[:14]!r}")
        if len(head) < len(MAGIC) + 4:
            raise FormatError(self.path, len(MAGIC), "file ends before the IOHeader length")
        (length,) = struct.unpack_from("<I", head, len(MAGIC))
        start = len(MAGIC) + 4
        buf = f.read(length)
        if len(buf) < length:
            raise FormatError(self.path, start, f"truncated IOHeader: {length} bytes announced, "
                              f"{len(buf)} present")
        try:
            t = flatbuf.root(buf, b"IOHE")
            self.compression = int(t.scalar(0, "<i", 0))
            self.data_table_position = int(t.scalar(1, "<q", -1))
            self.info_xml = t.string(2)
        except flatbuf.FlatbufferError as exc:
            raise FormatError(self.path, start + exc.where, f"bad IOHeader flatbuffer: {exc}") from None
        if self.compression not in COMPRESSION:
            raise FormatError(self.path, start, f"unknown compression {self.compression} "
                              "(expected 0 none, 1 LZ4, 2 LZ4 high, 3 ZSTD, 4 ZSTD high)")
        self._decompress = _Decompressor(self.compression)
        self.data_start = start + length
        self.camera = ""
        self.t_offset = 0
        self.stream_info = self._parse_info(self.info_xml, start)
        self.streams = {s.name: s.kind for s in self.stream_info.values() if s.kind}
        ev = [s for s in self.stream_info.values() if s.kind == "events"]
        sized = ev or [s for s in self.stream_info.values() if s.width]
        if not sized or not sized[0].width:
            raise FormatError(self.path, start, "the infoNode XML declares no stream with sizeX/sizeY")
        self.geometry = Geometry(sized[0].width, sized[0].height)

    def _parse_info(self, xml: str, offset: int) -> dict[int, StreamInfo]:
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as exc:
            raise FormatError(self.path, offset, f"infoNode is not XML: {exc}") from None
        streams: dict[int, StreamInfo] = {}
        parent = root.find(".//node[@name='outInfo']")
        for node in (parent if parent is not None else root).findall("node"):
            try:
                sid = int(node.get("name", ""))
            except ValueError:
                continue
            attrs = {a.get("key"): (a.text or "") for a in node.findall("attr")}
            info = {a.get("key"): (a.text or "") for n in node.findall("node")
                    if n.get("name") == "info" for a in n.findall("attr")}
            type_id = attrs.get("typeIdentifier", "")
            name = attrs.get("originalOutputName") or f"stream{sid}"
            streams[sid] = StreamInfo(sid, name, type_id, KINDS.get(type_id, ""),
                                      int(info.get("sizeX", 0) or 0), int(info.get("sizeY", 0) or 0))
            if info.get("source"):
                self.camera = info["source"]
            if info.get("tsOffset"):
                self.t_offset = int(info["tsOffset"])
        if not streams:
            raise FormatError(self.path, offset, "the infoNode XML declares no streams")
        return streams

    @property
    def table(self) -> list[TableEntry] | None:
        """The data table (loaded on first use: seeking, info, a start time), or None."""
        if not self._table_loaded:
            self._table = self._read_table() if self.use_table else None
            self._table_loaded = True
        return self._table

    def _read_table(self) -> list[TableEntry] | None:
        pos = self.data_table_position
        if pos < 0:
            return None
        if pos < self.data_start or pos >= self.size:
            warnings.warn(f"{self.path}: dataTablePosition {pos} is outside the file "
                          f"({self.size} bytes); reading without the data table", stacklevel=3)
            return None
        self._file.seek(pos)
        raw = self._file.read()
        try:
            buf = self._decompress(raw)
            t = flatbuf.root(buf, b"FTAB", size_prefixed=True)
            entries = []
            for e in t.tables(0):
                info_at = e._field(1)
                sid, size = _PACKET_HEADER.unpack_from(e.buf, info_at) if info_at else (-1, 0)
                entries.append(TableEntry(int(e.scalar(0, "<q", 0)), sid, size,
                                          int(e.scalar(2, "<q", 0)), int(e.scalar(3, "<q", 0)),
                                          int(e.scalar(4, "<q", 0))))
        except Exception as exc:  # a bad table only costs the index, the packets stay readable
            warnings.warn(f"{self.path}: data table at byte {pos} is unreadable ({exc}); "
                          "reading without it", stacklevel=3)
            return None
        return entries

    # -- packets -----------------------------------------------------------------------------

    def _end_of_packets(self) -> int:
        p = self.data_table_position
        return p if self.data_start <= p <= self.size else self.size

    def _first_packet(self, t_start: int | None) -> int:
        """Byte offset of the first packet to read: with a start time and a data table, the
        first packet that may hold t >= t_start (packets follow each other from there)."""
        if t_start is not None and self.table is not None:  # a plain pass walks the headers
            entry = next((e for e in self.table if e.t_last >= t_start), None)
            return entry.offset - 8 if entry is not None else self._end_of_packets()
        return self.data_start

    def _mapped(self) -> np.ndarray:
        """The whole file as a read-only byte array (memory-mapped: packets are decoded straight
        from the page cache, no read copies). Pages already passed are dropped from the mapping
        as the reader moves on (`_release_before`), so resident memory stays bounded."""
        if self._data is None:
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self._data = np.frombuffer(self._map, np.uint8)
        return self._data

    def _release_before(self, pos: int) -> None:
        if self._map is not None and hasattr(self._map, "madvise") and pos > self.KEEP_MAPPED:
            start = ((pos - self.KEEP_MAPPED) // mmap.PAGESIZE) * mmap.PAGESIZE
            if start > 0:
                self._map.madvise(mmap.MADV_DONTNEED, 0, start)

    def _blocks(self, t_start: int | None, t_end: int | None,
                streams: set[str] | None = None) -> Iterator[Any]:
        """Read packets in order and yield them decoded, in file order.

        Inline (the default): runs of consecutive LZ4 event packets are decoded by one kernel
        call into one event array of up to `RUN_BYTES` (the per-packet Python cost was a third
        of the time on small packets); any other packet is decoded on its own. With `threads`,
        up to `read_ahead` packets are decoded ahead in worker threads (all decoders release
        the GIL). Packets of streams not in `streams` are skipped undecoded (and do not
        break a run)."""
        data = self._mapped()
        skip = np.zeros(max(self.stream_info, default=0) + 1, np.bool_)
        for sid, info in self.stream_info.items():
            if sid >= 0:
                skip[sid] = not info.kind or (streams is not None and info.name not in streams)
        released = 0
        end = self._end_of_packets()
        pending: deque[Any] = deque()
        pool = self._pool()
        pos = self._first_packet(t_start)
        last_t: dict[int, int] = {}
        # runs are large: a couple in flight per thread keep the workers busy
        run_ahead = min(self.read_ahead, self.threads + 1)
        buffers = _RunBuffers(self.RUN_BYTES, keep=3 + (run_ahead if pool else 0))
        try:
            while pos < end:
                if pos + 8 > self.size:
                    yield from self._drain(pending, t_end)
                    warnings.warn(f"{self.path}: truncated packet header at byte {pos} "
                                  f"({self.size - pos} of 8 bytes); stopping after the complete "
                                  "packets", stacklevel=3)
                    return
                sid, size = _PACKET_HEADER.unpack_from(data, pos)
                stream = self.stream_info.get(sid)
                if stream is None or size < 0:
                    yield from self._drain(pending, t_end)
                    raise FormatError(self.path, pos, f"packet header names stream {sid} with size "
                                      f"{size}; expected one of the declared streams "
                                      f"{sorted(self.stream_info)} and a size >= 0")
                if pos + 8 + size > end:
                    yield from self._drain(pending, t_end)
                    warnings.warn(f"{self.path}: the packet at byte {pos} is truncated ({size} "
                                  f"bytes announced, {max(end - pos - 8, 0)} present); stopping "
                                  "after the complete packets", stacklevel=3)
                    return
                if released > self.KEEP_MAPPED:
                    self._release_before(pos)
                    released = 0
                if sid >= 0 and skip[sid]:
                    pos += 8 + size
                    continue
                if pool is not None and stream.kind == "events" and self.compression in (1, 2):
                    planned = _plan_run(data, pos, end, sid, skip, self.RUN_BYTES)
                    if planned > pos:
                        pending.append(_Job(pool, self._decode_run, data, pos, planned, sid,
                                            skip, buffers.get()))
                        released += planned - pos
                        pos = planned
                        while len(pending) > run_ahead:
                            for item in self._result(_next_result(pending), skip):
                                yield item
                                if self._past_end(item, t_end):
                                    return
                        continue
                if pool is None and stream.kind == "events" and self.compression in (1, 2):
                    dst = buffers.get()
                    t_prev = last_t.get(sid, -(1 << 63))
                    after, n, t_last = _lz4_event_run(data, pos, end, sid, skip, dst, t_prev)
                    if after > pos:
                        released += after - pos
                        last_t[sid] = int(t_last)
                        item = EventBlock(stream.name, dst[:16 * n].view(EVENT_DTYPE), pos,
                                          ordered=True)
                        pos = after
                        yield item
                        if self._past_end(item, t_end):
                            return
                        continue
                raw = data[pos + 8:pos + 8 + size]
                at = pos
                released += 8 + size
                pos += 8 + size
                if pool is None:
                    item = self._decode(raw, at, stream)
                    if item is not None:
                        if isinstance(item, EventBlock) and item.events.size:
                            last_t[sid] = int(item.events["t"][-1])
                        yield item
                        if self._past_end(item, t_end):
                            return
                    continue
                pending.append(_Job(pool, self._decode, raw, at, stream, self._room(raw, stream)))
                while len(pending) > self.read_ahead:
                    for item in self._result(_next_result(pending), skip):
                        yield item
                        if self._past_end(item, t_end):
                            return
            yield from self._drain(pending, t_end, skip)
        finally:
            for fut in pending:
                fut.cancel()

    def _drain(self, pending: deque, t_end: int | None,
               skip: np.ndarray | None = None) -> Iterator[Any]:
        while pending:
            for item in self._result(_next_result(pending), skip):
                yield item
                if self._past_end(item, t_end):
                    pending.clear()
                    return

    def _decode_run(self, data: np.ndarray, pos: int, planned: int, sid: int,
                    skip: np.ndarray, dst: np.ndarray) -> _Run:
        """Worker side of a planned run. Time order against the run before is checked by the
        base class (it compares each block's first event with the previous block's last)."""
        after, n, _ = _lz4_event_run(data, pos, planned, sid, skip, dst, -(1 << 63))
        block = EventBlock(self.stream_info[sid].name, dst[:16 * n].view(EVENT_DTYPE), pos,
                           ordered=True) if after > pos else None
        return _Run(block, after, planned)

    def _result(self, result: Any, skip: np.ndarray | None) -> Iterator[Any]:
        """A finished job's messages: a packet's message, or a run's block followed by the
        packets the run kernel left (damaged, checksummed...: decoded one by one, which
        raises the exact error where there is one)."""
        if not isinstance(result, _Run):
            if result is not None:
                yield result
            return
        if result.block is not None:
            yield result.block
        pos = result.after
        data = self._mapped()
        while pos < result.planned:
            sid, size = _PACKET_HEADER.unpack_from(data, pos)
            stream = self.stream_info[sid]
            if skip is None or not skip[sid]:
                item = self._decode(data[pos + 8:pos + 8 + size], pos, stream)
                if item is not None:
                    yield item
            pos += 8 + size

    def _past_end(self, item: Any, t_end: int | None) -> bool:
        """With a data table, packets are roughly time ordered: stop after an event block
        that starts at or after t_end."""
        return (t_end is not None and self.use_table and isinstance(item, EventBlock)
                and item.events.size > 0 and int(item.events["t"][0]) >= t_end)

    def _pool(self) -> ThreadPoolExecutor | None:
        if self.read_ahead <= 0 or self.threads <= 0:
            return None
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="aedat4")
        return self._executor

    def _room(self, raw: np.ndarray, stream: StreamInfo) -> np.ndarray | None:
        """Output buffer for an LZ4 event packet our decoder takes (sized from its block
        headers), else None (python-lz4 / zstd path)."""
        if stream.kind != "events" or self.compression not in (1, 2):
            return None
        err, _, bound = lz4_kernel.frame_bound(raw)
        return None if err else np.empty(bound + lz4_kernel.SLACK, np.uint8)

    def _decode(self, raw: np.ndarray, pos: int, stream: StreamInfo,
                room: np.ndarray | None = None) -> Any:
        if room is None:
            room = self._room(raw, stream)
        if room is not None:
            status, detail, err, start, n, back = _lz4_events(raw, room)
            if status > 0:
                raise FormatError(self.path, pos + 8 + detail, f"LZ4 data of the '{stream.name}' "
                                  f"packet does not decompress: {lz4_kernel.ERRORS[status]}")
            if status == 0:
                return self._event_block(room, pos, stream, start, n, err, back)
        try:
            buf = self._decompress(raw)
        except Exception as exc:
            raise FormatError(self.path, pos + 8, f"{COMPRESSION[self.compression]} data of the "
                              f"'{stream.name}' packet does not decompress: {exc}") from None
        try:
            if stream.kind == "events":
                start, n, err, back = _events_in_packet(np.frombuffer(buf, np.uint8))
                return self._event_block(buf, pos, stream, start, n, err, back)
            t = flatbuf.root(buf, stream.type_id.encode(), size_prefixed=True)
            if stream.kind == "frames":
                return self._frame(t, stream)
            if stream.kind == "imu":
                return self._imu(t, stream)
            if stream.kind == "triggers":
                return self._triggers(t, stream)
        except flatbuf.FlatbufferError as exc:
            raise FormatError(self.path, pos + 8, f"corrupt '{stream.name}' packet: decompressed "
                              f"flatbuffer byte {exc.where}: {exc}") from None
        return None

    def _event_block(self, buf: Any, pos: int, stream: StreamInfo, start: int, n: int,
                     err: int, back: int) -> EventBlock:
        if err:
            raise FormatError(self.path, pos + 8, f"corrupt '{stream.name}' packet: "
                              f"decompressed EVTS flatbuffer: {_EVTS_ERRORS[err]}")
        ev = np.frombuffer(buf, EVENT_DTYPE, count=n, offset=start)
        if back >= 0:
            raise FormatError(
                self.path, pos, f"stream '{stream.name}': time goes backwards at event "
                f"{back} of the block: t={int(ev['t'][back])} after "
                f"t={int(ev['t'][back - 1])} (expected non-decreasing timestamps)")
        return EventBlock(stream.name, ev, pos, ordered=True)

    @staticmethod
    def _frame(t: flatbuf.Table, stream: StreamInfo) -> Frame:
        ts = int(t.scalar(0, "<q"))
        fmt = int(t.scalar(5, "<b"))
        w, h = int(t.scalar(6, "<h")), int(t.scalar(7, "<h"))
        channels = {0: 1, 16: 3, 24: 4}.get(fmt, 1)
        pixels = t.array(10, np.uint8)
        if pixels.size != w * h * channels:
            raise flatbuf.FlatbufferError(0, f"frame has {pixels.size} pixel bytes, expected "
                                             f"{w}x{h}x{channels}")
        image = pixels.reshape((h, w) if channels == 1 else (h, w, channels))
        # like dv-processing: the frame's time is its start of exposure, exposure = EOE - SOE
        soe, eoe = int(t.scalar(3, "<q")), int(t.scalar(4, "<q"))
        t0 = soe or ts
        t1 = eoe if eoe > t0 else t0 + 1
        meta = {"exposure_us": t1 - t0 if eoe else int(t.scalar(11, "<q")),
                "t_center": ts, "position": [int(t.scalar(8, "<h")), int(t.scalar(9, "<h"))]}
        return Frame(image, stream.name, t0, t1, meta)

    @staticmethod
    def _imu(t: flatbuf.Table, stream: StreamInfo) -> Imu:
        rows = t.tables(0)
        out = np.zeros(len(rows), IMU_DTYPE)
        for i, r in enumerate(rows):
            out["t"][i] = r.scalar(0, "<q")
            out["temperature"][i] = r.scalar(1, "<f")
            out["accel"][i] = (r.scalar(2, "<f"), r.scalar(3, "<f"), r.scalar(4, "<f"))
            out["gyro"][i] = (r.scalar(5, "<f"), r.scalar(6, "<f"), r.scalar(7, "<f"))
        t0 = int(out["t"][0]) if out.size else 0
        t1 = int(out["t"][-1]) + 1 if out.size else 0
        return Imu(out, stream.name, t0, t1)

    @staticmethod
    def _triggers(t: flatbuf.Table, stream: StreamInfo) -> Trigger:
        rows = t.tables(0)
        out = np.zeros(len(rows), TRIGGER_DTYPE)
        for i, r in enumerate(rows):
            out["t"][i] = r.scalar(0, "<q")
            out["type"][i] = r.scalar(1, "<b")
        t0 = int(out["t"][0]) if out.size else 0
        t1 = int(out["t"][-1]) + 1 if out.size else 0
        return Trigger(out, stream.name, t0, t1)

    # -- info and close ------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """From the data table when there is one (no decompression), else one streaming pass."""
        if self.table is None:
            out = super().info()
        else:
            counts: dict[str, int] = {}
            t_first = t_last = None
            events = 0
            for e in self.table:
                s = self.stream_info.get(e.stream)
                if s is None or not s.kind:
                    continue
                counts[s.name] = counts.get(s.name, 0) + e.elements
                if s.kind == "events" and e.elements:
                    events += e.elements
                    t_first = e.t_first if t_first is None else min(t_first, e.t_first)
                    t_last = e.t_last if t_last is None else max(t_last, e.t_last)
            out = self._info_dict(events, t_first, t_last, counts)
        out.update(camera=self.camera, compression=COMPRESSION[self.compression],
                   data_table=self.table is not None)
        return out

    def close(self) -> None:
        if not self._closed:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None
            self._data = None
            if self._map is not None:
                try:
                    self._map.close()
                except BufferError:  # a caller still holds a view; the GC closes it later
                    pass
                self._map = None
            self._file.close()
        super().close()

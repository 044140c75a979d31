"""AEDAT 3.1 (cAER / libcaer) reader, and a small writer that makes test fixtures.

Layout: `#` text header ending with `#!END-HEADER\\r\\n`, then packets of a 28-byte
little-endian header {int16 type, int16 source, int32 eventSize, int32 tsOffset, int32
tsOverflow, int32 capacity, int32 number, int32 valid} + capacity * eventSize bytes.
Decoded: polarity (1), special (0, as the `triggers` stream: type = bits 7..1), IMU6 (3) and
IMU9 (4). Frames (2) and other types are skipped (and counted). Timestamps are
`(tsOverflow << 31) | ts`; events whose valid bit 0 is clear are skipped. Origin is top-left.

The sensor size comes from `# Size <source>: WxH` (written by evrt's writer), else from the
`#Source <id>: <camera>` name, else the `width=`/`height=` arguments.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from typing import Any

import numba
import numpy as np

from evrt.errors import ConfigError, FormatError
from evrt.events import EVENT_DTYPE, Geometry
from evrt.messages import IMU_DTYPE, TRIGGER_DTYPE, Imu, Trigger
from evrt.sources.files.base import EventBlock, Reader

NAME = "aedat3"
MAGIC = b"#!AER-DAT3.1"
END = b"#!END-HEADER\r\n"
HEADER_BYTES = 28
CHUNK = 1 << 22
SPECIAL, POLARITY, FRAME, IMU6, IMU9 = 0, 1, 2, 3, 4
TIMESTAMP_WRAP = 0
SIZES = {POLARITY: 8, SPECIAL: 8, IMU6: 36, IMU9: 48}
CAMERAS = [("dvs128", (128, 128)), ("davis240", (240, 180)), ("davis346", (346, 260)),
           ("davis640", (640, 480)), ("dvxplorer lite", (320, 240)), ("dvxplorer", (640, 480))]
ERR_BACKWARDS, ERR_PACKET = 1, 2


def detect(head: bytes) -> bool:
    return head.startswith(MAGIC)


def open_reader(path: str, **kw: Any) -> Aedat3Reader:
    return Aedat3Reader(path, **kw)


@numba.njit(cache=True, nogil=True)
def _i32(buf, o):
    v = np.int64(buf[o]) | (np.int64(buf[o + 1]) << 8) | (np.int64(buf[o + 2]) << 16) \
        | (np.int64(buf[o + 3]) << 24)
    return v - 4294967296 if v >= 2147483648 else v


@numba.njit(cache=True, nogil=True)
def _f32(buf, o):
    return buf[o:o + 4].view(np.float32)[0]


@numba.njit(cache=True, nogil=True)
def _walk(buf, nbytes, state, t64, xy16, p8, trig_t, trig_v, imu_t, imu_f):  # noqa: PLR0913
    """Decode every complete packet in buf[:nbytes].

    state: [last event t, invalid skipped, frame/other packets skipped]
    Returns (bytes consumed, events, triggers, imu, error code, error position).
    """
    pos = 0
    ne = 0
    nt = 0
    ni = 0
    while pos + 28 <= nbytes:
        etype = np.int64(buf[pos]) | (np.int64(buf[pos + 1]) << 8)
        size = _i32(buf, pos + 4)
        overflow = _i32(buf, pos + 12)
        capacity = _i32(buf, pos + 16)
        number = _i32(buf, pos + 20)
        valid = _i32(buf, pos + 24)
        if size <= 0 or capacity < 0 or number < 0 or number > capacity or valid > number \
                or overflow < 0:
            return pos, ne, nt, ni, 2, pos
        if (etype == 0 or etype == 1) and size != 8:
            return pos, ne, nt, ni, 2, pos
        if etype == 3 and size != 36:
            return pos, ne, nt, ni, 2, pos
        if etype == 4 and size != 48:
            return pos, ne, nt, ni, 2, pos
        body = pos + 28
        end = body + capacity * size
        if end > nbytes:
            break
        high = overflow << 31
        for k in range(number):
            o = body + k * size
            data = _i32(buf, o) & 0xFFFFFFFF
            if data & 1 == 0:
                state[1] += 1
                continue
            t = high | (_i32(buf, o + 4) & 0x7FFFFFFF)
            if etype == 1:
                if t < state[0]:
                    return pos, ne, nt, ni, 1, o
                state[0] = t
                t64[ne] = t
                xy16[ne, 0] = (data >> 17) & 0x7FFF
                xy16[ne, 1] = (data >> 2) & 0x7FFF
                p8[ne] = (data >> 1) & 1
                ne += 1
            elif etype == 0:
                trig_t[nt] = t
                trig_v[nt] = (data >> 1) & 0x7F
                nt += 1
            elif etype == 3 or etype == 4:
                imu_t[ni] = t
                for j in range(7):
                    imu_f[ni, j] = _f32(buf, o + 8 + 4 * j)
                ni += 1
        if etype > 4 or etype == 2:
            state[2] += 1
        pos = end
    return pos, ne, nt, ni, 0, 0


class Aedat3Reader(Reader):
    """Streams an AEDAT 3.1 file: `events`, `triggers` (special events) and `imu`."""

    format = NAME

    def __init__(self, path: str, width: int | None = None, height: int | None = None,
                 chunk_bytes: int = CHUNK) -> None:
        super().__init__(path)
        self.chunk_bytes = int(chunk_bytes)
        self._file = open(self.path, "rb")
        self.size = os.fstat(self._file.fileno()).st_size
        head = self._file.read(len(MAGIC))
        if head != MAGIC:
            raise FormatError(self.path, 0, f"expected the AEDAT 3.1 magic {MAGIC!r}, found {head!r}")
        self._file.seek(0)
        block = self._file.read(1 << 20)
        end = block.find(END)
        if end < 0:
            raise FormatError(self.path, len(block), "no '#!END-HEADER' line: truncated or not an "
                              "AEDAT 3.1 header")
        self.data_start = end + len(END)
        self.header = [ln.lstrip("#") for ln in block[:end].decode("latin-1").splitlines()]
        self.source = ""
        size = None
        for line in self.header:
            m = re.match(r"\s*Size \d+:\s*(\d+)x(\d+)", line)
            if m:
                size = (int(m.group(1)), int(m.group(2)))
            m = re.match(r"\s*Source \d+:\s*(.+)", line)
            if m:
                self.source = m.group(1).strip()
        if width is not None and height is not None:
            size = (int(width), int(height))
        if size is None:
            size = next((v for k, v in CAMERAS if k in self.source.lower()), None)
        if size is None:
            raise FormatError(self.path, 0, f"cannot tell the sensor size of source "
                              f"'{self.source}'; pass width= and height=")
        self.geometry = Geometry(*size)
        self.streams = {"events": "events", "triggers": "triggers", "imu": "imu"}
        self.invalid_skipped = 0
        self.skipped_packets = 0

    def _blocks(self, t_start: int | None, t_end: int | None) -> Iterator[Any]:
        f = self._file
        f.seek(self.data_start)
        state = np.zeros(3, np.int64)
        state[0] = np.iinfo(np.int64).min
        buf = np.empty(self.chunk_bytes, np.uint8)
        have = 0
        offset = self.data_start  # file offset of buf[0]
        eof = False
        while True:
            if not eof and have < buf.size:
                got = f.readinto(memoryview(buf)[have:])
                eof = got == 0
                have += got
            n = have // 8 + 1
            events = np.zeros(n, EVENT_DTYPE)
            t64 = events.view(np.int64).reshape(n, 2)[:, 0]
            xy16 = events.view(np.int16).reshape(n, 8)[:, 4:6]
            p8 = events.view(np.int8).reshape(n, 16)[:, 12]
            trig_t = np.empty(n, np.int64)
            trig_v = np.empty(n, np.int64)
            imu_t = np.empty(have // 36 + 1, np.int64)
            imu_f = np.empty((have // 36 + 1, 7), np.float32)
            used, ne, nt, ni, err, at = _walk(buf, have, state, t64, xy16, p8, trig_t, trig_v,
                                              imu_t, imu_f)
            if err == ERR_BACKWARDS:
                raise FormatError(self.path, offset + at, "time goes backwards: this polarity "
                                  "event is earlier than the previous one (expected non-decreasing "
                                  "timestamps)")
            if err == ERR_PACKET:
                raise FormatError(self.path, offset + at, "corrupt packet header: expected "
                                  "eventSize 8 (polarity/special), 36 (IMU6) or 48 (IMU9), "
                                  "capacity >= number >= valid >= 0, tsOverflow >= 0")
            if nt:
                trig = np.zeros(nt, TRIGGER_DTYPE)
                trig["t"], trig["type"] = trig_t[:nt], trig_v[:nt]
                yield Trigger(trig, "triggers", int(trig["t"][0]), int(trig["t"][-1]) + 1)
            if ni:
                imu = np.zeros(ni, IMU_DTYPE)
                imu["t"] = imu_t[:ni]
                imu["accel"] = imu_f[:ni, 0:3]
                imu["gyro"] = imu_f[:ni, 3:6]
                imu["temperature"] = imu_f[:ni, 6]
                yield Imu(imu, "imu", int(imu["t"][0]), int(imu["t"][-1]) + 1)
            if ne:
                yield EventBlock("events", events[:ne], offset, ordered=True)
                if t_end is not None and int(t64[ne - 1]) >= t_end:
                    break
            if used:
                buf[: have - used] = buf[used:have]
                have -= used
                offset += used
            if eof and used == 0:
                break
            if used == 0 and have == buf.size:  # one packet larger than the buffer
                grown = np.empty(buf.size * 2, np.uint8)
                grown[:have] = buf[:have]
                buf = grown
        self.invalid_skipped = int(state[1])
        self.skipped_packets = int(state[2])
        if have and t_end is None:
            warnings.warn(f"{self.path}: the last packet at byte {offset} is truncated ({have} "
                          "bytes present); it is dropped, the complete packets before it are kept",
                          stacklevel=3)

    def info(self) -> dict[str, Any]:
        out = super().info()
        out.update(source=self.source, header_bytes=self.data_start,
                   invalid_skipped=self.invalid_skipped, skipped_packets=self.skipped_packets)
        return out

    def close(self) -> None:
        if not self._closed:
            self._file.close()
        super().close()


# -- writer (for fixtures and conversion tests) ---------------------------------------------------

def _packet(etype: int, size: int, overflow: int, body: np.ndarray, number: int, valid: int) -> bytes:
    head = np.array([etype | (1 << 16)], "<u4").tobytes()  # type, source 1
    head += np.array([size, 4, overflow, number, number, valid], "<i4").tobytes()
    return head + body.tobytes()


def write_aedat31(path: Any, events: np.ndarray, geometry: Geometry, *, packet_events: int = 4096,
                  triggers: np.ndarray | None = None, invalid_every: int = 0,
                  source: str = "evrt") -> dict[str, int]:
    """Write events (and special events) as AEDAT 3.1 polarity/special packets.

    A packet never spans a 2^31 µs boundary: each gets the right tsOverflow, and a
    TIMESTAMP_WRAP special event marks every boundary crossed. `invalid_every=k` inserts an
    invalid (valid bit clear) copy after every k-th event, which readers must skip.
    Returns how many packets, invalid records and wrap events were written.
    """
    stats = {"packets": 0, "invalid": 0, "wraps": 0}
    if packet_events <= 0:
        raise ConfigError("packet_events must be > 0", key="packet_events")
    t = events["t"].astype(np.int64)
    if t.size and t[0] < 0:
        raise ConfigError("AEDAT 3.1 cannot store negative timestamps", key="events")
    trig = triggers if triggers is not None else np.zeros(0, TRIGGER_DTYPE)
    with open(path, "wb") as f:
        f.write(MAGIC + b"\r\n#Format: RAW\r\n")
        f.write(f"#Source 1: {source}\r\n# Size 1: {geometry.width}x{geometry.height}\r\n".encode())
        f.write(b"#Start-Time: evrt fixture\r\n" + END)
        hi_all = t >> 31
        last_hi = int(hi_all[0]) if t.size else 0
        for a in range(0, t.size, packet_events):
            part = events[a:a + packet_events]
            hi = hi_all[a:a + packet_events]
            for h in np.unique(hi):
                sel = part[hi == h]
                if int(h) != last_hi:
                    wrap = np.zeros(2, "<u4")
                    wrap[0] = 1 | (TIMESTAMP_WRAP << 1)
                    f.write(_packet(SPECIAL, 8, int(h), wrap, 1, 1))
                    last_hi = int(h)
                    stats["wraps"] += 1
                n = sel.size
                data = (sel["x"].astype(np.uint32) << 17) | (sel["y"].astype(np.uint32) << 2) \
                    | ((sel["p"].astype(np.uint32) & 1) << 1) | 1
                body = np.zeros((n, 2), "<u4")
                body[:, 0] = data
                body[:, 1] = (sel["t"] & 0x7FFFFFFF).astype(np.uint32)
                valid = n
                if invalid_every:
                    keep = np.arange(n) % invalid_every == invalid_every - 1
                    extra = body[keep].copy()
                    extra[:, 0] &= ~np.uint32(1)
                    stats["invalid"] += extra.shape[0]
                    order = np.concatenate([np.arange(n), np.flatnonzero(keep) + 0.5])
                    body = np.concatenate([body, extra])[np.argsort(order, kind="stable")]
                f.write(_packet(POLARITY, 8, int(h), body, body.shape[0], valid))
                stats["packets"] += 1
        if trig.size:
            body = np.zeros((trig.size, 2), "<u4")
            body[:, 0] = 1 | ((trig["type"].astype(np.uint32) & 0x7F) << 1)
            body[:, 1] = (trig["t"] & 0x7FFFFFFF).astype(np.uint32)
            f.write(_packet(SPECIAL, 8, int(trig["t"][0] >> 31), body, trig.size, trig.size))
            stats["packets"] += 1
    return stats

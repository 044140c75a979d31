"""AEDAT 2.0 (jAER) reader: big-endian {int32 address, int32 timestamp} records.

The header is every leading line that starts with `#` (jAER files may or may not end it
with `#End Of ASCII Header`); the data starts right after the last such line. The sensor
and the address layout come from the `# AEChip:` line: DVS128 (x bits 7..1, y bits 14..8,
polarity bit 0) or DAVIS (x bits 21..12, y bits 30..22, polarity bit 11, bit 10 external
event, bit 31 APS/IMU; IMU words `(a & 0x80000C00) == 0x80000C00`, 7 per sample).

Coordinate convention (`orientation`): "top_left" (default) converts jAER's lower-left
origin to evrt's top-left one: y = height-1-y_raw; DVS128 also gets jAER's x mirror
(x = 127-x_raw) and jAER's polarity (raw bit 0 = 0 is ON). "raw" returns the address bits
unchanged (x_raw, y_raw, p_raw), which is what AedatTools-style decoders report.

Decoding is one numba kernel over each chunk of records; IMU groups and timestamp wraps
are carried across chunks, so memory stays one chunk whatever the file size.
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

NAME = "aedat2"
MAGIC = b"#!AER-DAT2.0"
RECORD = 8
CHUNK_RECORDS = 1 << 17  # 1 MiB of records per read (~6 MiB of buffers per chunk)

# AEChip class-name fragment (lower case) -> (width, height, layout)
CHIPS = [
    ("dvs128", (128, 128, "dvs128")),
    ("davis240", (240, 180, "davis")),
    ("davis346", (346, 260, "davis")),
    ("davis640", (640, 480, "davis")),
    ("davis208", (208, 192, "davis")),
    ("davis128", (128, 128, "davis")),
]

# IMU scaling: accel 4096 LSB/g (±8 g; checked: the median |a| of both samples is 1 g),
# gyro 32.8 LSB/(deg/s) (±1000 deg/s, jAER's DAVIS default; not checkable here)
ACCEL_PER_LSB = 1.0 / 4096.0
GYRO_PER_LSB = 1.0 / 32.8
# error codes of the kernel
OK, BACKWARDS = 0, 1


def detect(head: bytes) -> bool:
    return head.startswith(MAGIC)


def open_reader(path: str, **kw: Any) -> Aedat2Reader:
    return Aedat2Reader(path, **kw)


def _is_text(line: bytes) -> bool:
    """A header line holds printable text: a binary record that starts with '#' does not."""
    return not any(b < 0x20 and b not in (9, 10, 13) for b in line)


def parse_header(path: str, f: Any) -> tuple[int, list[str]]:
    """(offset just after the last leading '#' line, the header lines without '#')."""
    f.seek(0)
    lines: list[str] = []
    pos = 0
    buf = b""
    while True:
        if not buf or b"\n" not in buf:
            more = f.read(1 << 16)
            buf += more
            if not more and not buf:
                return pos, lines
            if more and b"\n" not in buf:
                continue
        if not buf.startswith(b"#"):
            return pos, lines
        nl = buf.find(b"\n")
        line = buf if nl < 0 else buf[: nl + 1]
        if not _is_text(line):
            return pos, lines
        lines.append(line[1:].rstrip(b"\r\n").decode("latin-1"))
        pos += len(line)
        buf = b"" if nl < 0 else buf[nl + 1:]
        if nl < 0:  # the file ends inside a header line
            return pos, lines
        if lines[-1].strip().lower() == "end of ascii header":
            return pos, lines


@numba.njit(cache=True, nogil=True)
def _decode(buf, n, davis, flip, height, state, t64, xy16, p8, imu_t, imu_v, trig_t, trig_v):  # noqa: PLR0913
    """Decode `n` big-endian records of `buf` into events, IMU samples and external triggers.

    state: [wrap, last_raw_t, last_event_t, imu_word, imu_t, imu0..imu6 (7 slots), aps, bad_imu]
    Returns (events, imu samples, triggers, error code, record index of the error).
    """
    ne = 0
    ni = 0
    nt = 0
    for i in range(n):
        o = i * 8
        a = (np.int64(buf[o]) << 24) | (np.int64(buf[o + 1]) << 16) | (np.int64(buf[o + 2]) << 8) \
            | np.int64(buf[o + 3])
        traw = (np.int64(buf[o + 4]) << 24) | (np.int64(buf[o + 5]) << 16) \
            | (np.int64(buf[o + 6]) << 8) | np.int64(buf[o + 7])
        if traw >= 2147483648:
            traw -= 4294967296  # jAER timestamps are signed int32
        if traw < state[1] and state[1] - traw > 2147483648:
            state[0] += 4294967296  # the int32 counter wrapped
        state[1] = traw
        t = traw + state[0]
        if not davis:
            x = (a >> 1) & 0x7F
            y = (a >> 8) & 0x7F
            p = a & 1
            if flip:
                x = 127 - x
                y = 127 - y
                p = 1 - p
            if t < state[2]:
                return ne, ni, nt, 1, i
            state[2] = t
            t64[ne] = t
            xy16[ne, 0] = x
            xy16[ne, 1] = y
            p8[ne] = p
            ne += 1
            continue
        if (a >> 31) & 1 == 0:
            if (a >> 10) & 1:
                trig_t[nt] = t
                trig_v[nt] = (a >> 1) & 0x7F
                nt += 1
                continue
            y = (a >> 22) & 0x1FF
            if flip:
                y = height - 1 - y
            if t < state[2]:
                return ne, ni, nt, 1, i
            state[2] = t
            t64[ne] = t
            xy16[ne, 0] = (a >> 12) & 0x3FF
            xy16[ne, 1] = y
            p8[ne] = (a >> 11) & 1
            ne += 1
        elif (a & 0x80000C00) == 0x80000C00:
            sub = (a >> 28) & 7
            v = (a >> 12) & 0xFFFF
            if v >= 32768:
                v -= 65536
            if sub == 0:
                if state[3] != 0:
                    state[13] += 1  # an unfinished sample is dropped
                state[3] = 0
                state[4] = t
            elif sub != state[3]:
                if state[3] != 0 or sub != 0:
                    state[13] += 1
                state[3] = 0
                continue
            state[5 + sub] = v
            state[3] = sub + 1
            if sub == 6:
                imu_t[ni] = state[4]
                for k in range(7):
                    imu_v[ni, k] = state[5 + k]
                ni += 1
                state[3] = 0
        else:
            state[12] += 1  # APS sample (frames are not decoded from AEDAT 2.0)
    return ne, ni, nt, 0, 0


class Aedat2Reader(Reader):
    """Streams an AEDAT 2.0 file: events, plus `imu` and `triggers` streams for DAVIS chips."""

    format = NAME

    def __init__(self, path: str, orientation: str = "top_left", width: int | None = None,
                 height: int | None = None, chunk_records: int = CHUNK_RECORDS) -> None:
        super().__init__(path)
        if orientation not in ("top_left", "raw"):
            raise ConfigError(f"orientation must be 'top_left' or 'raw', got {orientation!r}",
                              key="orientation")
        self.orientation = orientation
        self.chunk_records = int(chunk_records)
        self._file = open(self.path, "rb")
        head = self._file.read(len(MAGIC))
        if head != MAGIC:
            raise FormatError(self.path, 0, f"expected the AEDAT 2.0 magic {MAGIC!r}, found {head!r}")
        self.data_start, self.header = parse_header(self.path, self._file)
        self.size = os.fstat(self._file.fileno()).st_size
        self.chip = ""
        self.creation_ms: int | None = None
        for line in self.header:
            m = re.match(r"\s*AEChip:\s*(\S+)", line)
            if m:
                self.chip = m.group(1)
            m = re.search(r"currentTimeMillis\(\)\s*(\d+)", line)
            if m:
                self.creation_ms = int(m.group(1))
        known = next((v for k, v in CHIPS if k in self.chip.lower()), None)
        if width is not None and height is not None:
            layout = known[2] if known else ("dvs128" if width == 128 == height else "davis")
            self.geometry = Geometry(int(width), int(height))
        elif known is not None:
            self.geometry = Geometry(known[0], known[1])
            layout = known[2]
        else:
            raise FormatError(self.path, 0, f"unknown AEChip {self.chip or '(no # AEChip: line)'}; "
                              f"expected one of {[k for k, _ in CHIPS]} or width=/height= arguments")
        self.layout = layout
        data = self.size - self.data_start
        self.records = data // RECORD
        self.tail = data % RECORD
        self.streams = {"events": "events"}
        if layout == "davis":
            self.streams.update(imu="imu", triggers="triggers")
        self.aps_samples = 0
        self.dropped_imu_words = 0

    # -- records -------------------------------------------------------------------------------

    def _record_time(self, index: int) -> int:
        self._file.seek(self.data_start + index * RECORD + 4)
        return int.from_bytes(self._file.read(4), "big", signed=True)

    def _first_record_at(self, t_us: int) -> int:
        """Binary search (timestamps never decrease in a valid file) for the first record >= t_us.
        Only used when the file does not wrap its 32-bit timestamps."""
        lo, hi = 0, self.records
        while lo < hi:
            mid = (lo + hi) // 2
            if self._record_time(mid) < t_us:
                lo = mid + 1
            else:
                hi = mid
        return max(lo - 7, 0)  # back up one IMU group so it is decoded whole

    def _blocks(self, t_start: int | None, t_end: int | None) -> Iterator[Any]:
        if self.records == 0:
            self._warn_tail()
            return
        first = 0
        if t_start is not None and self.records and \
                self._record_time(0) <= self._record_time(self.records - 1):
            first = self._first_record_at(t_start)
        davis = self.layout == "davis"
        flip = self.orientation == "top_left"
        state = np.zeros(14, np.int64)
        state[1] = self._record_time(first)
        state[2] = np.iinfo(np.int64).min
        n_chunk = self.chunk_records
        raw = np.empty(n_chunk * RECORD, np.uint8)
        self._file.seek(self.data_start + first * RECORD)
        index = first
        while index < self.records:
            n = min(n_chunk, self.records - index)
            got = self._file.readinto(memoryview(raw)[: n * RECORD])
            if got != n * RECORD:
                raise FormatError(self.path, self.data_start + index * RECORD + got,
                                  "file shrank while reading")
            events = np.zeros(n, EVENT_DTYPE)
            t64 = events.view(np.int64).reshape(n, 2)[:, 0]
            xy16 = events.view(np.int16).reshape(n, 8)[:, 4:6]
            p8 = events.view(np.int8).reshape(n, 16)[:, 12]
            imu_t = np.empty(n // 7 + 1, np.int64)
            imu_v = np.empty((n // 7 + 1, 7), np.int64)
            trig_t = np.empty(n if davis else 0, np.int64)
            trig_v = np.empty(n if davis else 0, np.int64)
            ne, ni, nt, err, at = _decode(raw, n, davis, flip, self.geometry.height, state,
                                          t64, xy16, p8, imu_t, imu_v, trig_t, trig_v)
            offset = self.data_start + index * RECORD
            if err == BACKWARDS:
                raise FormatError(self.path, offset + at * RECORD,
                                  "time goes backwards: this record's timestamp is earlier than "
                                  "the previous event's (expected non-decreasing timestamps)")
            if ni:
                yield self._imu(imu_t[:ni], imu_v[:ni])
            if nt:
                trig = np.zeros(nt, TRIGGER_DTYPE)
                trig["t"], trig["type"] = trig_t[:nt], trig_v[:nt]
                yield Trigger(trig, "triggers", int(trig["t"][0]), int(trig["t"][-1]) + 1)
            if ne:
                yield EventBlock("events", events[:ne], offset, ordered=True)
                if t_end is not None and int(t64[ne - 1]) >= t_end:
                    return
            index += n
        self.aps_samples = int(state[12])
        self.dropped_imu_words = int(state[13])
        if davis and state[3] != 0:
            warnings.warn(f"{self.path}: the file ends inside an IMU sample ({int(state[3])} of 7 "
                          "words); the incomplete sample is dropped", stacklevel=3)
        self._warn_tail()

    def _warn_tail(self) -> None:
        if self.tail:
            warnings.warn(f"{self.path}: {self.tail} trailing bytes at byte "
                          f"{self.data_start + self.records * RECORD} do not form a whole "
                          f"{RECORD}-byte record; they are ignored", stacklevel=4)

    @staticmethod
    def _imu(t: np.ndarray, v: np.ndarray) -> Imu:
        out = np.zeros(t.size, IMU_DTYPE)
        out["t"] = t
        out["accel"] = v[:, 0:3] * ACCEL_PER_LSB
        out["temperature"] = v[:, 3] / 340.0 + 35.0
        out["gyro"] = v[:, 4:7] * GYRO_PER_LSB
        return Imu(out, "imu", int(t[0]), int(t[-1]) + 1,
                   {"units": "accel g (±8 g scale), gyro deg/s (±1000 scale), temperature °C"})

    def info(self) -> dict[str, Any]:
        out = super().info()
        out.update(chip=self.chip, layout=self.layout, header_bytes=self.data_start,
                   records=self.records, data_version=2, start_timestamp_ms=self.creation_ms,
                   orientation=self.orientation, aps_samples=self.aps_samples)
        return out

    def close(self) -> None:
        if not self._closed:
            self._file.close()
        super().close()

"""numba decoder for Prophesee DAT CD records (8 bytes: <u4 timestamp, <u4 data).

data holds x (bits 13..0), y (bits 27..14) and polarity (bits 31..28, 0 or 1). The
32-bit timestamp wraps after 2^32 µs (about 71 minutes): a drop by more than half the
range is a wrap, a smaller drop is time going backwards (an error).
"""

from __future__ import annotations

import numpy as np
from numba import njit

S_OFFSET = 0  # wraps * 2^32
S_LAST_RAW = 1
S_HAVE = 2
STATE_SIZE = 3

ERR_NONE = 0
ERR_POLARITY = 1
ERR_BACKWARDS = 2
ERR_COORD = 3

_WRAP = np.int64(1) << 32
_HALF = np.int64(1) << 31


def new_state() -> np.ndarray:
    return np.zeros(STATE_SIZE, np.int64)


_RUN = 4096
_LOW = np.uint64(0xFFFFFFFF)
_HIGH_SHIFT = np.uint64(32)


@njit(cache=True, nogil=True)
def _fast_run(records, a, b, flat, j0, offset, last_raw, width, height):
    """Decode records[a:b] into the flat int64 output from event j0, assuming no wrap and no
    bad record: no branches in the loop (flags are OR-ed), one test at the end. Returns True
    when the assumption held; else the caller redoes the run record by record."""
    bad = False
    prev = last_raw
    rec = records[a:b]  # loops from 0 over slices: no negative-index fix-ups, twice as fast
    dst = flat[2 * j0:2 * (j0 + b - a)]
    for i in range(rec.size):
        w = rec[i]
        raw = np.int64(w & _LOW)
        data = np.int64(w >> _HIGH_SHIFT)
        x = data & 0x3FFF
        y = (data >> 14) & 0x3FFF
        p = data >> 28
        bad |= (raw < prev) | (p > 1) | (x >= width) | (y >= height)
        prev = raw
        dst[2 * i] = offset + raw
        dst[2 * i + 1] = x | (y << 16) | (p << 32)
    return not bad


@njit(cache=True, nogil=True)
def decode_dat(records, start, out, state, width, height):
    """Decode records[start:] (uint64: timestamp | data << 32) into out (int64 (cap, 2)).

    Returns (events, next record, error code, index of the offending record).
    """
    end = min(records.shape[0], start + out.shape[0])
    flat = out.reshape(out.shape[0] * 2)
    offset = state[S_OFFSET]
    last_raw = state[S_LAST_RAW]
    if not state[S_HAVE]:
        last_raw = -1
    err = 0
    stop = end
    i0 = start
    while i0 < end:
        i1 = min(end, i0 + _RUN)
        if _fast_run(records, i0, i1, flat, i0 - start, offset, last_raw, width, height):
            last_raw = np.int64(records[i1 - 1] & _LOW)
            i0 = i1
            continue
        # a wrap, time going backwards or a bad record in this run: record by record
        for i in range(i0, i1):
            w = records[i]
            raw = np.int64(w & _LOW)
            data = np.int64(w >> _HIGH_SHIFT)
            if raw < last_raw:
                if last_raw - raw > _HALF:
                    offset += _WRAP
                else:
                    err = ERR_BACKWARDS
                    stop = i
                    break
            x = data & 0x3FFF
            y = (data >> 14) & 0x3FFF
            p = data >> 28
            if p > 1:
                err = ERR_POLARITY
                stop = i
                break
            if x >= width or y >= height:
                err = ERR_COORD
                stop = i
                break
            last_raw = raw
            j = 2 * (i - start)
            flat[j] = offset + raw
            flat[j + 1] = x | (y << 16) | (p << 32)
        if err:
            break
        i0 = i1
    ne = stop - start
    state[S_OFFSET] = offset
    if ne > 0:
        state[S_LAST_RAW] = last_raw
        state[S_HAVE] = 1
    return ne, stop, err, stop

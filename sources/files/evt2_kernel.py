"""numba decoder for Prophesee EVT 2.0 words (little-endian uint32), resumable across chunks.

Word type = top 4 bits: 0 CD_OFF / 1 CD_ON (y bits 10..0, x bits 21..11, t_low bits
27..22), 8 TIME_HIGH (bits 27..0, t = t_high << 6 | t_low), 0xA EXT_TRIGGER (t_low bits
27..22, channel bits 12..8, value bit 0), 0xE OTHERS and 0xF CONTINUED (skipped). Every
other type is corrupt data. CD events before the first TIME_HIGH have no time and are
skipped. TIME_HIGH wraps after 2^28 (about 4.8 h): a drop by more than half the range is
a wrap, a smaller drop is time going backwards.

The decoder writes events straight into the 16-byte evrt layout viewed as int64 pairs
(t, then x | y << 16 | p << 32), so no per-field copy follows.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# decoder state slots (int64 array)
S_TIME_HIGH = 0  # 64-bit time-high (wraps added), valid when S_HAVE_TIME
S_HAVE_TIME = 1
S_LAST_RAW = 2  # last raw 28-bit TIME_HIGH value
S_LAST_T = 3  # last event time, for the monotonic check
STATE_SIZE = 4

ERR_NONE = 0
ERR_TYPE = 1
ERR_BACKWARDS = 2
ERR_COORD = 3

_WRAP = np.int64(1) << 28
_HALF = np.int64(1) << 27


def new_state() -> np.ndarray:
    state = np.zeros(STATE_SIZE, np.int64)
    state[S_LAST_T] = -1
    return state


@njit(cache=True, nogil=True)
def decode_evt2(words, start, out, trig, state, width, height):
    """Decode words[start:] into out (int64 (cap, 2)) and trig (int64 (cap, 3): t, value, id).

    Stops early when `out` or `trig` is full. Returns (events, triggers, next word,
    error code, index of the offending word).
    """
    n = words.shape[0]
    cap = out.shape[0]
    tcap = trig.shape[0]
    time_high = state[S_TIME_HIGH]
    have_time = state[S_HAVE_TIME]
    last_raw = state[S_LAST_RAW]
    last_t = state[S_LAST_T]
    ne = 0
    nt = 0
    i = start
    err = 0
    while i < n:
        w = np.int64(words[i])
        kind = w >> 28
        if kind <= 1:
            if have_time:
                if ne >= cap:
                    break
                t = time_high | ((w >> 22) & 0x3F)
                x = (w >> 11) & 0x7FF
                y = w & 0x7FF
                if t < last_t:
                    err = ERR_BACKWARDS
                    break
                if x >= width or y >= height:
                    err = ERR_COORD
                    break
                last_t = t
                out[ne, 0] = t
                out[ne, 1] = x | (y << 16) | (kind << 32)
                ne += 1
        elif kind == 8:
            raw = w & 0x0FFFFFFF
            if have_time:
                base = time_high >> 6
                if raw < last_raw:
                    if last_raw - raw > _HALF:
                        base += _WRAP
                    else:
                        err = ERR_BACKWARDS
                        break
                time_high = ((base - (base & (_WRAP - 1))) | raw) << 6
            else:
                time_high = raw << 6
                have_time = 1
            last_raw = raw
        elif kind == 0xA:
            if have_time:
                if nt >= tcap:
                    break
                trig[nt, 0] = time_high | ((w >> 22) & 0x3F)
                trig[nt, 1] = w & 1
                trig[nt, 2] = (w >> 8) & 0x1F
                nt += 1
        elif kind == 0xE or kind == 0xF:
            pass
        else:
            err = ERR_TYPE
            break
        i += 1
    state[S_TIME_HIGH] = time_high
    state[S_HAVE_TIME] = have_time
    state[S_LAST_RAW] = last_raw
    state[S_LAST_T] = last_t
    return ne, nt, i, err, i

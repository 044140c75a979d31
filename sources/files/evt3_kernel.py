"""numba decoder for Prophesee EVT 3.0 words (little-endian uint16), resumable across chunks.

EVT 3.0 is stateful: ADDR_Y (0x0) sets y, ADDR_X (0x2) emits one event at x with
polarity bit 11, VECT_BASE_X (0x3) sets a base x and polarity, VECT_12 (0x4) / VECT_8
(0x5) emit one event per set bit of a 12 / 8 bit mask at base x + bit and advance the
base, TIME_LOW (0x6) and TIME_HIGH (0x8) hold the 12 low and 12 high bits of a 24-bit
time, 0xA is an external trigger (value bit 0, channel bits 11..8), 0x7 / 0xE / 0xF are
continued / other words (skipped). Types 0x1, 0x9, 0xB, 0xC, 0xD are corrupt data.

The 24-bit time wraps every 16,777,216 µs: a TIME_HIGH that drops by more than half its
range starts a new loop and the 64-bit time keeps increasing; a smaller drop, or an
event earlier than the previous one, is time going backwards (an error). Events before
the first TIME_HIGH or the first ADDR_Y have no time / row and are skipped.
"""

from __future__ import annotations

import numpy as np
from numba import njit

S_TIME_HIGH = 0  # 64-bit time high part (loops added), in units of 4096 µs
S_HAVE_TIME = 1
S_LAST_RAW = 2  # last raw 12-bit TIME_HIGH
S_TIME_LOW = 3
S_Y = 4
S_HAVE_Y = 5
S_BASE_X = 6
S_POL = 7
S_LAST_T = 8
STATE_SIZE = 9

ERR_NONE = 0
ERR_TYPE = 1
ERR_BACKWARDS = 2
ERR_COORD = 3

VECTOR_MAX = 12  # most events one word can emit


def new_state() -> np.ndarray:
    state = np.zeros(STATE_SIZE, np.int64)
    state[S_LAST_T] = -1
    return state


@njit(cache=True, nogil=True)
def decode_evt3(words, start, out, trig, state, width, height):
    """Decode words[start:] into out (int64 (cap, 2)) and trig (int64 (cap, 3): t, value, id).

    Stops before a word whose events would not fit. Returns (events, triggers, next word,
    error code, index of the offending word).
    """
    n = words.shape[0]
    cap = out.shape[0]
    tcap = trig.shape[0]
    time_high = state[S_TIME_HIGH]
    have_time = state[S_HAVE_TIME]
    last_raw = state[S_LAST_RAW]
    time_low = state[S_TIME_LOW]
    y = state[S_Y]
    have_y = state[S_HAVE_Y]
    base_x = state[S_BASE_X]
    pol = state[S_POL]
    last_t = state[S_LAST_T]
    ne = 0
    nt = 0
    err = 0
    i = start
    while i < n:
        w = np.int64(words[i])
        kind = w >> 12
        if kind == 0x2:  # ADDR_X: one event
            if have_time and have_y:
                if ne >= cap:
                    break
                t = (time_high << 12) | time_low
                x = w & 0x7FF
                if t < last_t:
                    err = ERR_BACKWARDS
                    break
                if x >= width:
                    err = ERR_COORD
                    break
                last_t = t
                out[ne, 0] = t
                out[ne, 1] = x | (y << 16) | (((w >> 11) & 1) << 32)
                ne += 1
        elif kind == 0x0:  # ADDR_Y
            y = w & 0x7FF
            if y >= height:
                err = ERR_COORD
                break
            have_y = 1
        elif kind == 0x4 or kind == 0x5:  # VECT_12 / VECT_8
            bits = 12 if kind == 0x4 else 8
            if have_time and have_y:
                if ne + bits > cap:
                    break
                mask = w & ((1 << bits) - 1)
                if mask != 0:
                    t = (time_high << 12) | time_low
                    if t < last_t:
                        err = ERR_BACKWARDS
                        break
                    hi = (y << 16) | (pol << 32)
                    for b in range(bits):
                        if (mask >> b) & 1:
                            x = base_x + b
                            if x >= width:
                                err = ERR_COORD
                                break
                            out[ne, 0] = t
                            out[ne, 1] = x | hi
                            ne += 1
                    if err:
                        break
                    last_t = t
            base_x += bits
        elif kind == 0x3:  # VECT_BASE_X
            base_x = w & 0x7FF
            pol = (w >> 11) & 1
        elif kind == 0x6:  # TIME_LOW
            time_low = w & 0xFFF
        elif kind == 0x8:  # TIME_HIGH
            raw = w & 0xFFF
            if have_time:
                if raw < last_raw:
                    if last_raw - raw > 2048:
                        time_high = time_high - last_raw + 4096 + raw
                    else:
                        err = ERR_BACKWARDS
                        break
                else:
                    time_high = time_high - last_raw + raw
            else:
                time_high = raw
                have_time = 1
            last_raw = raw
        elif kind == 0xA:  # EXT_TRIGGER
            if have_time:
                if nt >= tcap:
                    break
                trig[nt, 0] = (time_high << 12) | time_low
                trig[nt, 1] = w & 1
                trig[nt, 2] = (w >> 8) & 0xF
                nt += 1
        elif kind == 0x7 or kind == 0xE or kind == 0xF:
            pass
        else:
            err = ERR_TYPE
            break
        i += 1
    state[S_TIME_HIGH] = time_high
    state[S_HAVE_TIME] = have_time
    state[S_LAST_RAW] = last_raw
    state[S_TIME_LOW] = time_low
    state[S_Y] = y
    state[S_HAVE_Y] = have_y
    state[S_BASE_X] = base_x
    state[S_POL] = pol
    state[S_LAST_T] = last_t
    return ne, nt, i, err, i

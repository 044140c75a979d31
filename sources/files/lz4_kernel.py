"""LZ4 frame decoding in numba, straight into a preallocated buffer.

Why our own: python-lz4's `frame.decompress` does not know the output size of frames
without a content-size field (dv-processing writes none), so it grows its buffer and copies
the result once more into the returned object; it also holds one Python call per packet
outside any kernel. Decoding here writes each block once into one array (linked blocks refer
back into the same array), and the caller can run it in threads (nogil).

Every read and write is bounds-checked per sequence, so a corrupt frame returns an error
code instead of touching memory outside the buffers. Frames with block or content checksums
are left to python-lz4 (which verifies them): `frame_bound` reports them as unsupported.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

MAGIC = 0x184D2204

ERRORS = {
    1: "not an LZ4 frame (bad magic or version)",
    2: "unsupported LZ4 frame options (checksums or dictionary)",
    3: "truncated LZ4 frame header",
    4: "an LZ4 block runs past the end of the frame",
    5: "an LZ4 block decodes past its maximum size",
    6: "an LZ4 match refers before the start of the output",
    7: "an LZ4 sequence runs past the end of its block",
    8: "the LZ4 frame has no end mark",
}


@intrinsic
def _copy(typingctx, dst, dst_at, src, src_at, count):
    """memcpy(dst + dst_at, src + src_at, count) for uint8 arrays; the caller checks bounds
    and that the ranges do not overlap (numba's slice assignment would go byte by byte)."""
    sig = types.void(dst, types.int64, src, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        d, do, s, so, n = args
        da = context.make_array(signature.args[0])(context, builder, d)
        sa = context.make_array(signature.args[2])(context, builder, s)
        dp = builder.gep(da.data, [do])
        sp = builder.gep(sa.data, [so])
        cgutils.raw_memcpy(builder, dp, sp, n, 1)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _copy8(typingctx, dst, dst_at, src, src_at):
    """Copy exactly 8 bytes (one unaligned load and store); the caller checks bounds."""
    sig = types.void(dst, types.int64, src, types.int64)

    def codegen(context, builder, signature, args):
        d, do, s, so = args
        da = context.make_array(signature.args[0])(context, builder, d)
        sa = context.make_array(signature.args[2])(context, builder, s)
        dp = builder.gep(da.data, [do])
        sp = builder.gep(sa.data, [so])
        cgutils.raw_memcpy(builder, dp, sp, context.get_constant(types.int64, 8), 1)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def move(typingctx, dst, dst_at, src_at, count):
    """memmove(dst + dst_at, dst + src_at, count) inside one uint8 array (ranges may overlap);
    the caller checks bounds."""
    sig = types.void(dst, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        d, do, so, n = args
        da = context.make_array(signature.args[0])(context, builder, d)
        cgutils.raw_memmove(builder, builder.gep(da.data, [do]), builder.gep(da.data, [so]), n, 1)
        return context.get_dummy_value()

    return sig, codegen


def _loader(bits):
    @intrinsic
    def load(typingctx, arr, at):
        """An unsigned little-endian load at arr.data + at (no negative-index fix-up, no
        alignment); the caller checks bounds."""
        sig = types.int64(arr, types.int64)

        def codegen(context, builder, signature, args):
            a, i = args
            aa = context.make_array(signature.args[0])(context, builder, a)
            ptr = builder.bitcast(builder.gep(aa.data, [i]), ir.IntType(bits).as_pointer())
            value = builder.load(ptr, align=1)
            return builder.zext(value, ir.IntType(64))

        return sig, codegen

    return load


_get8 = _loader(8)
_get16 = _loader(16)

SLACK = 32
"""Bytes the output array must have beyond the bound: short copies write whole 8-byte words."""


@numba.njit(cache=True, nogil=True)
def _u32(b, o):
    return np.int64(b[o]) | (np.int64(b[o + 1]) << 8) | (np.int64(b[o + 2]) << 16) \
        | (np.int64(b[o + 3]) << 24)


@numba.njit(cache=True, nogil=True)
def frame_bound(src):
    """(error code, position of the first block, upper bound of the decoded size).

    Walks the block headers only. Error 2 means "valid but not for this decoder"."""
    n = src.size
    if n < 7:
        return 3, 0, 0
    if _u32(src, 0) != MAGIC:
        return 1, 0, 0
    flg = src[4]
    bd = src[5]
    if (flg >> 6) != 1:
        return 1, 0, 0
    if (flg & 0x10) or (flg & 0x04) or (flg & 0x01):  # block/content checksum, dictionary id
        return 2, 0, 0
    bsid = (bd >> 4) & 7
    if bsid < 4:
        return 1, 0, 0
    block_max = np.int64(1) << (8 + 2 * bsid)
    pos = 6
    if flg & 0x08:
        pos += 8
    pos += 1  # header checksum
    if pos > n:
        return 3, 0, 0
    first = pos
    total = np.int64(0)
    while True:
        if pos + 4 > n:
            return 8, 0, 0
        word = _u32(src, pos)
        pos += 4
        if word == 0:
            break
        size = word & 0x7FFFFFFF
        if size > block_max or pos + size > n:
            return 4, 0, 0
        pos += size
        total += block_max if (word & 0x80000000) == 0 else size
    return 0, first, total


@numba.njit(cache=True, nogil=True)
def _block(src, i, end, dst, o, o_limit):
    """Decode one LZ4 block src[i:end] into dst[o:]; returns (new o, error code).

    Writes may run up to SLACK bytes past o_limit (dst must be that much longer)."""
    n_src = src.size
    fast_end = end - 20  # room for the fast path's fixed-size reads
    while i < end:
        token = _get8(src, i)
        i += 1
        lit = token >> 4
        mlc = token & 15
        if lit < 15 and mlc < 15 and i < fast_end and o + 40 <= o_limit:
            # the common case (and the only one in event packets): short literals, then a
            # short match; fixed-size word copies, no loops; all bounds hold by the test above
            _copy8(dst, o, src, i)
            _copy8(dst, o + 8, src, i + 8)
            i += lit
            o += lit
            off = _get16(src, i)
            i += 2
            if off >= 8 and off <= o:
                m = o - off
                _copy8(dst, o, dst, m)
                _copy8(dst, o + 8, dst, m + 8)
                _copy8(dst, o + 16, dst, m + 16)  # always: a branch costs more than a copy
                o += mlc + 4
                continue
            if off == 0 or off > o:
                return o, 6
            m = o - off
            for k in range(mlc + 4):
                dst[o + k] = dst[m + k]
            o += mlc + 4
            continue
        if lit == 15:
            while True:
                if i >= end:
                    return o, 7
                s = np.int64(src[i])
                i += 1
                lit += s
                if s != 255:
                    break
        if i + lit > end:
            return o, 7
        if o + lit > o_limit:
            return o, 5
        if lit <= 16 and i + 16 <= n_src:
            _copy8(dst, o, src, i)
            _copy8(dst, o + 8, src, i + 8)
        else:
            _copy(dst, o, src, i, lit)
        i += lit
        o += lit
        if i >= end:  # the last sequence has literals only
            break
        if i + 2 > end:
            return o, 7
        off = np.int64(src[i]) | (np.int64(src[i + 1]) << 8)
        i += 2
        ml = mlc + 4
        if mlc == 15:
            while True:
                if i >= end:
                    return o, 7
                s = np.int64(src[i])
                i += 1
                ml += s
                if s != 255:
                    break
        if off == 0 or off > o:
            return o, 6
        if o + ml > o_limit:
            return o, 5
        m = o - off
        if off >= 8 and ml <= 32:
            for k in range(0, ml, 8):  # each word reads bytes written before it
                _copy8(dst, o + k, dst, m + k)
        elif off >= ml:
            _copy(dst, o, dst, m, ml)
        else:  # overlapping: the match repeats the last `off` bytes
            for k in range(ml):
                dst[o + k] = dst[m + k]
        o += ml
    return o, 0


@numba.njit(cache=True, nogil=True)
def decode_frame(src, first, dst):
    """Decode the blocks of a frame (after `frame_bound` said 0) into dst.

    Returns (decoded size, error code, byte offset in src of the failing block)."""
    n = src.size
    pos = first
    o = np.int64(0)
    cap = dst.size - SLACK
    while pos + 4 <= n:
        word = _u32(src, pos)
        pos += 4
        if word == 0:
            return o, 0, 0
        size = word & 0x7FFFFFFF
        if pos + size > n:
            return o, 4, pos - 4
        if word & 0x80000000:
            if o + size > cap:
                return o, 5, pos - 4
            _copy(dst, o, src, pos, size)
            o += size
        else:
            o, err = _block(src, pos, pos + size, dst, o, cap)
            if err:
                return o, err, pos - 4
        pos += size
    return o, 8, pos


@numba.njit(cache=True, nogil=True)
def fix_events(b, start, n):
    """Zero the 3 padding bytes of each 16-byte event at b[start:] (dv leaves them undefined)
    and return the index of the first event earlier than its predecessor, or -1.

    Works on 8-byte words when `start` is 8-aligned in an 8-aligned buffer, else per byte."""
    back = -1
    prev = np.int64(-9223372036854775807)
    if start % 8 == 0 and b.ctypes.data % 8 == 0:
        w = b[start:start + 16 * n].view(np.int64)
        mask = np.int64(0x000000FFFFFFFFFF)  # keep x, y, p; clear bytes 13-15
        for i in range(n):
            t = w[2 * i]
            w[2 * i + 1] &= mask
            if t < prev and back < 0:
                back = i
            prev = t
        return back
    for i in range(n):
        o = start + 16 * i
        b[o + 13] = 0
        b[o + 14] = 0
        b[o + 15] = 0
        t = np.int64(0)
        for k in range(8):
            t |= np.int64(b[o + k]) << (8 * k)
        if t < prev and back < 0:
            back = i
        prev = t
    return back

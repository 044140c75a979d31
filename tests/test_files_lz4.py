"""evrt's numba LZ4 frame decoder (AEDAT4 packets): equal to python-lz4 on real packets and on
frames of every block kind, and safe on damaged frames (an error code, never a crash)."""

from __future__ import annotations

import lz4.frame
import numpy as np
import pytest
from aedat_helpers import aedat4_packets
from conftest import shared_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evrt.sources.files import lz4_kernel


def _decode(frame: bytes) -> tuple[int, bytes]:
    src = np.frombuffer(frame, np.uint8)
    err, first, bound = lz4_kernel.frame_bound(src)
    if err:
        return err, b""
    size = bound + lz4_kernel.SLACK
    guarded = np.full(size + 64, 0xA5, np.uint8)  # 64 guard bytes after the buffer
    n, err, _ = lz4_kernel.decode_frame(src, first, guarded[:size])
    assert (guarded[size:] == 0xA5).all(), "wrote past the end of its buffer"
    assert 0 <= n <= bound
    return err, guarded[:n].tobytes() if not err else b""


@pytest.mark.parametrize("name", ["aedat4/aestream_davis.aedat4", "aedat4/tonic_sample.aedat4"])
def test_real_packets_equal_python_lz4(name):
    _, packets = aedat4_packets(shared_file(name))
    for _, _, payload in packets[:60]:
        err, out = _decode(payload)
        assert err == 0 and out == lz4.frame.decompress(payload)


@pytest.mark.parametrize("kw", [
    {"block_linked": True}, {"block_linked": False}, {"store_size": True},
    {"block_size": lz4.frame.BLOCKSIZE_MAX1MB}, {"compression_level": 12},
])
def test_synthetic_frames_equal_python_lz4(kw):
    rng = np.random.default_rng(3)
    raw = b"".join([rng.integers(0, 4, 70000, np.uint8).tobytes(),  # compressible
                    rng.integers(0, 256, 70000, np.uint8).tobytes(),  # stored blocks
                    b"ab" * 50000, b""])
    for data in (raw, raw[:5], b""):
        frame = lz4.frame.compress(data, **kw)
        err, out = _decode(frame)
        assert err == 0 and out == data


def test_checksummed_frames_are_left_to_python_lz4():
    frame = lz4.frame.compress(b"x" * 1000, content_checksum=True)
    assert _decode(frame)[0] == 2


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), flips=st.integers(1, 8), cut=st.integers(0, 40))
def test_damaged_frames_give_an_error_or_the_same_bytes(seed, flips, cut):
    """Random byte changes and truncations: decoding stays inside its buffers (an error
    code or some output); when python-lz4 accepts the frame too, both agree."""
    rng = np.random.default_rng(seed)
    data = (rng.integers(0, 3, 3000, np.uint8).tobytes() + b"event" * 300)
    frame = bytearray(lz4.frame.compress(data, block_linked=True))
    for _ in range(flips):
        frame[int(rng.integers(7, len(frame)))] = int(rng.integers(0, 256))
    frame = bytes(frame[: len(frame) - cut])
    err, out = _decode(frame)
    try:
        ref = lz4.frame.decompress(frame)
    except RuntimeError:
        return
    if err == 0:
        assert out == ref

"""AEDAT 3.1: no public sample exists, so real AEDAT4 events go through our writer and back."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
from conftest import shared_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evrt.errors import FormatError
from evrt.events import EVENT_DTYPE, EventPacket, Geometry
from evrt.messages import TRIGGER_DTYPE, Trigger
from evrt.sources.files import open_file
from evrt.sources.files.aedat3 import END, Aedat3Reader, write_aedat31
from evrt.sources.files.base import concat_exact, copy_events

TONIC = "aedat4/tonic_sample.aedat4"


@pytest.fixture(scope="module")
def real_events():
    with open_file(shared_file(TONIC)) as r:
        return copy_events(r.read_all()), r.geometry


def _write(tmp_path, events, geometry, **kw):
    p = tmp_path / "x.aedat"
    _write.stats = write_aedat31(p, events, geometry, **kw)
    return p


def test_round_trip_real_events_with_overflow_and_invalid(tmp_path, real_events):
    ev, g = real_events
    ev = copy_events(ev)
    ev["t"] += (1 << 31) * 3 - 300_000 - int(ev["t"][0])  # the recording crosses a 2^31 µs wrap
    trig = np.zeros(2, TRIGGER_DTYPE)
    trig["t"] = [ev["t"][-1] + 5, ev["t"][-1] + 9]
    trig["type"] = [2, 3]
    p = _write(tmp_path, ev, g, packet_events=5000, invalid_every=9, triggers=trig)
    with open_file(p) as r:
        assert isinstance(r, Aedat3Reader) and r.geometry == g
        msgs = list(r.packets())
        info = r.info()
    got = concat_exact([m.events for m in msgs if isinstance(m, EventPacket)])
    assert got.tobytes() == ev.tobytes()
    assert _write.stats["wraps"] == 1 and _write.stats["invalid"] >= ev.size // 9 - 30
    assert info["invalid_skipped"] == _write.stats["invalid"]
    specials = np.concatenate([m.triggers for m in msgs if isinstance(m, Trigger)])
    assert list(specials["type"]) == [0, 2, 3]  # one TIMESTAMP_WRAP, then the two triggers
    assert specials["t"][0] == (1 << 31) * 3
    assert list(specials["t"][1:]) == list(trig["t"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(packet=st.integers(1, 20_000), chunk=st.integers(64, 200_000),
       window=st.one_of(st.none(), st.integers(50, 100_000)))
def test_chunked_reading_equals_whole(tmp_path_factory, real_events, packet, chunk, window):
    ev, g = real_events
    ev = ev[:30_000]
    p = tmp_path_factory.mktemp("a3") / "c.aedat"
    write_aedat31(p, ev, g, packet_events=packet)
    with Aedat3Reader(str(p), chunk_bytes=chunk) as r:
        got = [m.events for m in r.packets(window_us=window) if isinstance(m, EventPacket)]
    assert concat_exact(got).tobytes() == ev.tobytes()


def test_imu6_packet_is_decoded(tmp_path):
    ev = np.zeros(3, EVENT_DTYPE)
    ev["t"] = [10, 20, 30]
    p = _write(tmp_path, ev, Geometry(32, 32))
    body = struct.pack("<Ii7f", 1, 15, 0.1, -1.0, 0.2, 3.0, 4.0, 5.0, 36.5)
    head = struct.pack("<hhiiiiii", 3, 1, 36, 4, 0, 1, 1, 1)
    with open(p, "ab") as f:
        f.write(head + body)
    with open_file(p) as r:
        imu = [m for m in r.packets() if getattr(m, "stream", "") == "imu"]
    s = imu[0].samples[0]
    assert s["t"] == 15 and s["accel"][1] == pytest.approx(-1.0)
    assert s["gyro"][2] == pytest.approx(5.0) and s["temperature"] == pytest.approx(36.5)


# -- bad input ------------------------------------------------------------------------------------

def test_wrong_magic_and_truncated_header(tmp_path, real_events):
    ev, g = real_events
    p = _write(tmp_path, ev[:100], g)
    data = p.read_bytes()
    bad = tmp_path / "magic.aedat"
    bad.write_bytes(data.replace(b"DAT3.1", b"DAT3.7", 1))
    with pytest.raises(FormatError) as err:
        open_file(bad)
    assert err.value.offset == 0
    cut = tmp_path / "cut.aedat"
    cut.write_bytes(data[: data.find(END) - 3])
    with pytest.raises(FormatError, match="END-HEADER") as err:
        open_file(cut)
    assert str(cut) in str(err.value)


def test_truncated_last_packet_warns_and_keeps_complete_part(tmp_path, real_events):
    ev, g = real_events
    p = _write(tmp_path, ev[:10_000], g, packet_events=1000)
    data = p.read_bytes()
    p.write_bytes(data[:-4000])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with open_file(p) as r:
            got = r.read_all()
    assert any("truncated" in str(x.message) for x in w)
    assert got.size == 9000 and got.tobytes() == ev[:9000].tobytes()


def test_corrupt_packet_in_the_middle(tmp_path, real_events):
    ev, g = real_events
    p = _write(tmp_path, ev[:10_000], g, packet_events=1000)
    data = bytearray(p.read_bytes())
    start = data.find(END) + len(END)
    fifth = start + 4 * (28 + 8 * 1000)
    struct.pack_into("<i", data, fifth + 4, 13)  # eventSize 13 for a polarity packet
    p.write_bytes(bytes(data))
    with open_file(p) as r, pytest.raises(FormatError) as err:
        r.read_all()
    assert err.value.offset == fifth and "corrupt packet header" in str(err.value)


def test_time_going_backwards(tmp_path, real_events):
    ev, g = real_events
    ev = copy_events(ev[:5000])
    ev["t"] -= ev["t"][0]
    ev["t"] += 1_000_000
    p = _write(tmp_path, ev, g, packet_events=1000)
    data = bytearray(p.read_bytes())
    start = data.find(END) + len(END)
    at = start + 2 * (28 + 8000) + 28 + 8 * 17  # event 17 of the third packet
    struct.pack_into("<i", data, at + 4, 5)
    p.write_bytes(bytes(data))
    with open_file(p) as r, pytest.raises(FormatError) as err:
        r.read_all()
    assert err.value.offset == at and "backwards" in str(err.value)

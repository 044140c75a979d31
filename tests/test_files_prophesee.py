"""Prophesee EVT 2.0 / EVT 3.0 / DAT readers against the real samples and SOURCES.md's values."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
from conftest import shared_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evrt.events import EventPacket, Geometry
from evrt.messages import Trigger
from evrt.sources.files import dat, detect_format, evt2, evt3, open_file
from evrt.sources.files.base import concat_exact


def sha3(array: np.ndarray) -> str:
    return hashlib.sha3_224(array.tobytes()).hexdigest()


def digests(ev: np.ndarray) -> dict[str, str]:
    """SOURCES.md's per-field scheme: t uint64 LE, x uint16 LE, y uint16 LE, on numpy bool."""
    return {
        "t": sha3(ev["t"].astype("<u8")),
        "x": sha3(ev["x"].astype("<u2")),
        "y": sha3(ev["y"].astype("<u2")),
        "on": sha3(ev["p"].astype(bool)),
    }


# values from /work/shared/data/SOURCES.md
EXPECTED = {
    "evt2/expelliarmus_evt2_test_sparklers.raw": dict(
        module=evt2, count=521252, on=185861, size=(640, 480),
        first=(913716224, 35, 443, 1), last=(913812095, 12, 471, 0),
        x_range=(0, 639), y_range=(0, 479),
        digests={"t": "9855ba39c1baea316ae623b72466e420df60a7510248391856eb4eaf",
                 "x": "93fc6cff19b483fd48ca53345c6c1cf05123681d7b7272a1717e9303",
                 "y": "07cfaef58e5fa71ce9910ed5b88fb7e9fcf71e4a8654cc2c4666f1ae",
                 "on": "d2b5e9c4047f4c431937b24cd46c8b504e055372b0ded1df77f0ffa1"}),
    "evt2/expelliarmus_evt2_sample.raw": dict(
        module=evt2, count=539481, on=367855, size=(640, 480),
        first=(1317888, 237, 121, 1), last=(1367888, 210, 142, 1),
        x_range=(60, 599), y_range=(18, 475),
        digests={"t": "88cd1934f5fac4a512fa8c5a54785afd9059bb2edffdc0a7d258c96d",
                 "x": "a59ce9d8a440e327400618b09b067e0721ff69301a20df082c7ad8ac",
                 "y": "e8caba01c078762fc5a6cc823ef5c91548d80dfd33cc80787e6e8231",
                 "on": "ba98b38db72347c528b25aa16650556c0e7613d4278bcd34db30f818"}),
    "evt3/expelliarmus_evt3_test_pedestrians.raw": dict(
        module=evt3, count=5000, on=2894, size=(1280, 720),
        first=(5840504, 707, 297, 0), last=(5885714, 598, 260, 0),
        second=(5840507, 592, 301, 0), npy="evt3/expelliarmus_evt3_test_pedestrians.npy",
        npy_t_valid=False),
    "evt3/expelliarmus_evt3_sample.raw": dict(
        module=evt3, count=219596, on=115532, size=(1280, 720),
        first=(11718656, 874, 200, 0), last=(11727457, 1218, 572, 1),
        x_range=(0, 1279), y_range=(0, 719),
        second=(11718656, 806, 200, 1), third=(11718656, 882, 201, 0),
        npy="evt3/expelliarmus_evt3_sample.npy", npy_t_valid=False,
        digests={"t": "40fc435b407b3a72c52fd24338151caa33e59cfc7fa4f2eddee0f857",
                 "x": "c88bf5a9cd91ad9dc2782e11659e2bd6cfcd97ae77f4db347ede4d3f",
                 "y": "2581d0ac206d0b7d9e58a51baf0601c0f7460559b44246fd4aec9b15",
                 "on": "9966c54546959e2c31e538e9f5c851bfcd059fbf7e913b296775c621"}),
    "dat/expelliarmus_dat_test_NCARS.dat": dict(
        module=dat, count=4407, on=1671, size=None,
        first_t=0, last_t=99937, x_max=53, y_max=60,
        npy="dat/expelliarmus_dat_test_NCARS.npy", npy_t_valid=True),
}

pytestmark = pytest.mark.filterwarnings("ignore:.*header names no sensor size")


def _tuple(ev: np.ndarray, i: int) -> tuple[int, int, int, int]:
    return (int(ev["t"][i]), int(ev["x"][i]), int(ev["y"][i]), int(ev["p"][i]))


@pytest.fixture(scope="module")
def decoded() -> dict[str, np.ndarray]:
    """Each sample decoded once, whole, through open_file (content detection)."""
    return {}


def _read(name: str, cache: dict) -> np.ndarray:
    if name not in cache:
        with open_file(shared_file(name)) as reader:
            cache[name] = reader.read_all()
    return cache[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_conformance(name, decoded):
    exp = EXPECTED[name]
    path = shared_file(name)
    assert [m.NAME for m in detect_format(path)] == [exp["module"].NAME]
    ev = _read(name, decoded)
    assert ev.size == exp["count"]
    assert int(ev["p"].sum()) == exp["on"]
    assert np.all(np.diff(ev["t"]) >= 0)
    with open_file(path) as reader:
        assert reader.format == exp["module"].NAME
        if exp["size"] is not None:
            assert reader.geometry == Geometry(*exp["size"])
    if "first" in exp:
        assert _tuple(ev, 0) == exp["first"]
        assert _tuple(ev, -1) == exp["last"]
    if "second" in exp:
        assert _tuple(ev, 1) == exp["second"]
    if "third" in exp:
        assert _tuple(ev, 2) == exp["third"]
    if "first_t" in exp:
        assert int(ev["t"][0]) == exp["first_t"] and int(ev["t"][-1]) == exp["last_t"]
        assert int(ev["x"].max()) == exp["x_max"] and int(ev["y"].max()) == exp["y_max"]
    if "x_range" in exp:
        assert (int(ev["x"].min()), int(ev["x"].max())) == exp["x_range"]
        assert (int(ev["y"].min()), int(ev["y"].max())) == exp["y_range"]
    if "digests" in exp:
        assert digests(ev) == exp["digests"]
    if "npy" in exp:
        ref = np.load(shared_file(exp["npy"]))
        assert ref.shape[0] == ev.size
        for field in ("x", "y", "p"):
            np.testing.assert_array_equal(ev[field].astype(np.int64), ref[field].astype(np.int64))
        if exp["npy_t_valid"]:
            np.testing.assert_array_equal(ev["t"], ref["t"].astype(np.int64))
        else:  # SOURCES.md: that expelliarmus version counts every 4096 µs step twice
            assert int(ref["t"][0]) == int(ev["t"][0])


def test_info_of_the_evt2_sample():
    """faery's time range for the sparklers file: t_first 913716224, t_last + 1 = 913812096."""
    with open_file(shared_file("evt2/expelliarmus_evt2_test_sparklers.raw")) as reader:
        info = reader.info()
    assert info["format"] == "evt2"
    assert (info["width"], info["height"]) == (640, 480)
    assert info["events"] == 521252
    assert info["t_first"] == 913716224 and info["t_last"] + 1 == 913812096
    assert info["duration_us"] == 95871
    assert info["event_rate_hz"] == pytest.approx(521252 / 0.095871)


@pytest.mark.parametrize("name", ["evt3/expelliarmus_evt3_test_pedestrians.raw",
                                  "dat/expelliarmus_dat_test_NCARS.dat"])
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(5, 3000), count=st.one_of(st.none(), st.integers(1, 2000)),
       window=st.one_of(st.none(), st.integers(1, 20000)))
def test_chunked_reading_equals_whole(name, decoded, chunk, count, window):
    """Any decode chunk size and any packet size give the events of the whole-file read."""
    whole = _read(name, decoded)
    with open_file(shared_file(name), chunk_words=chunk) as reader:
        packets = [m for m in reader.packets(window_us=window, count=count)
                   if isinstance(m, EventPacket)]
    got = concat_exact([p.events for p in packets])
    assert got.tobytes() == whole.tobytes()
    if count is not None:
        assert all(len(p) <= count for p in packets)
    if window is not None:
        for p in packets:
            assert p.t_start <= int(p.t[0]) and int(p.t[-1]) < p.t_end
            if count is None:  # whole windows: they start on the grid from the first event
                assert (p.t_start - int(whole["t"][0])) % window == 0
                assert int(p.t[-1]) < p.t_start + window


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(500, 200000), count=st.integers(1000, 300000))
def test_chunked_reading_of_vector_words(decoded, chunk, count):
    """The EVT 3.0 sample with VECT_12 / VECT_8 words, decoded in chunks, equals the whole read."""
    name = "evt3/expelliarmus_evt3_sample.raw"
    whole = _read(name, decoded)
    with open_file(shared_file(name), chunk_words=chunk) as reader:
        parts = [m.events for m in reader.packets(count=count) if isinstance(m, EventPacket)]
    assert concat_exact(parts).tobytes() == whole.tobytes()


@pytest.mark.parametrize("name", ["evt2/expelliarmus_evt2_sample.raw",
                                  "evt3/expelliarmus_evt3_sample.raw"])
def test_seek_and_time_range(name, decoded):
    whole = _read(name, decoded)
    t = whole["t"]
    t0 = int(t[t.size // 3]) + 1
    t1 = int(t[2 * t.size // 3])
    expect = whole[np.searchsorted(t, t0):np.searchsorted(t, t1)]
    with open_file(shared_file(name), chunk_words=4099) as reader:
        first = reader.read_all(t_start=t0, t_end=t1)  # first pass builds checkpoints
        assert first.tobytes() == expect.tobytes()
        assert len(reader._checkpoints) > 3
        reader.seek(t0)
        again = concat_exact([m.events for m in reader.packets(window_us=500, t_end=t1)
                                if isinstance(m, EventPacket)])
        assert again.tobytes() == expect.tobytes()
        reader.seek(int(t[-1]) + 1)
        assert reader.read_all(t_start=int(t[-1]) + 1).size == 0


@pytest.mark.parametrize("name", ["evt2/expelliarmus_evt2_test_sparklers.raw",
                                  "dat/expelliarmus_dat_test_NCARS.dat"])
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.floats(-0.01, 1.01), span=st.integers(1, 40000))
def test_binary_search_seek_on_a_fresh_reader(decoded, name, a, span):
    """Seeking without any earlier pass (binary search over TIME_HIGH words / DAT records)
    gives exactly the events of the whole read in [t0, t1)."""
    whole = _read(name, decoded)
    t = whole["t"]
    t0 = int(t[0]) + int(a * (int(t[-1]) - int(t[0])))
    t1 = t0 + span
    with open_file(shared_file(name), chunk_words=5000) as reader:
        start = reader._start_point(t0)[0]
        got = reader.read_all(t_start=t0, t_end=t1)
    assert got.tobytes() == whole[np.searchsorted(t, t0):np.searchsorted(t, t1)].tobytes()
    if a > 0.1:  # the search skipped most of the file before t0
        assert start > 0


# -- synthetic files: triggers, time wraps, bad input ------------------------------------------

def evt2_word(kind: int, *, x=0, y=0, t_low=0, raw=0, value=0, channel=0) -> int:
    if kind in (0, 1):
        return (kind << 28) | (t_low << 22) | (x << 11) | y
    if kind == 8:
        return (8 << 28) | raw
    if kind == 0xA:
        return (0xA << 28) | (t_low << 22) | (channel << 8) | value
    return kind << 28


def write_raw(path, header: bytes, words, dtype) -> None:
    path.write_bytes(header + np.asarray(words, dtype=dtype).tobytes())


EVT2_HEADER = b"% evt 2.0\n% geometry 320x240\n% end\n"
EVT3_HEADER = b"% format EVT3;height=720;width=1280\n% end\n"


def test_evt2_triggers_and_geometry_line(tmp_path):
    words = [evt2_word(8, raw=10), evt2_word(1, x=5, y=6, t_low=1),
             evt2_word(0xA, t_low=2, value=1, channel=3), evt2_word(0, x=7, y=8, t_low=3),
             evt2_word(8, raw=11), evt2_word(0xA, t_low=0, value=0, channel=3),
             evt2_word(0xE), evt2_word(1, x=319, y=239, t_low=5)]
    path = tmp_path / "trig.raw"
    write_raw(path, EVT2_HEADER, words, "<u4")
    with open_file(path) as reader:
        assert reader.geometry == Geometry(320, 240)
        msgs = list(reader.packets())
    ev = concat_exact([m.events for m in msgs if isinstance(m, EventPacket)])
    assert [tuple(map(int, e)) for e in ev[["t", "x", "y", "p"]].tolist()] == [
        (641, 5, 6, 1), (643, 7, 8, 0), (709, 319, 239, 1)]
    trig = [m for m in msgs if isinstance(m, Trigger)]
    assert len(trig) == 1
    assert trig[0].triggers["t"].tolist() == [642, 704]
    assert trig[0].triggers["type"].tolist() == [1, 2]  # rising, falling edge
    assert trig[0].meta["channels"] == [3, 3]


def test_first_data_byte_percent_is_not_taken_for_header(tmp_path):
    """Without '% end', a first data word whose low byte is '%' (0x25) is still data."""
    header = b"% evt 2.0\n% geometry 64x64\n"
    path = tmp_path / "pct.raw"
    write_raw(path, header, [evt2_word(8, raw=0x25), evt2_word(1, x=3, y=4, t_low=1),
                             evt2_word(0, x=10, y=0x0A, t_low=2)], "<u4")
    assert detect_format(path)[0].NAME == "evt2"
    with open_file(path) as reader:
        assert reader.data_offset == len(header)
        ev = reader.read_all()
    assert ev["t"].tolist() == [(0x25 << 6) | 1, (0x25 << 6) | 2]
    assert ev["x"].tolist() == [3, 10] and ev["y"].tolist() == [4, 0x0A]


def evt3_words(events_by_time) -> list[int]:
    """EVT 3.0 words for [(t, y, x, p)]: TIME_HIGH for every 4096 µs step passed (as a camera
    sends them), then TIME_LOW, ADDR_Y and ADDR_X for each event."""
    words = []
    high = None
    for t, y, x, p in events_by_time:
        steps = [t >> 12] if high is None or (t >> 12) <= high else range(high + 1, (t >> 12) + 1)
        words += [0x8000 | (h & 0xFFF) for h in steps]
        high = t >> 12
        words += [0x6000 | (t & 0xFFF), y, 0x2000 | (p << 11) | x]
    return words


def test_evt3_time_high_wrap_keeps_time_increasing(tmp_path):
    period = 1 << 24
    times = [period - 70000, period - 10, period + 3, period + 70000, 2 * period + 1]
    words = evt3_words([(t, 1, 2, 1) for t in times])
    words.insert(1, 0xA000 | (2 << 8) | 1)  # a trigger after the first TIME_HIGH
    path = tmp_path / "wrap.raw"
    write_raw(path, EVT3_HEADER, words, "<u2")
    with open_file(path, chunk_words=1000) as reader:
        assert reader.geometry == Geometry(1280, 720)
        msgs = list(reader.packets())
    ev = concat_exact([m.events for m in msgs if isinstance(m, EventPacket)])
    assert ev["t"].tolist() == times  # 64-bit time: two wraps of the 24-bit counter
    trig = [m for m in msgs if isinstance(m, Trigger)]
    assert trig[0].triggers["t"].tolist() == [(times[0] >> 12) << 12]
    assert trig[0].meta["channels"] == [2]


def test_evt3_vector_words(tmp_path):
    words = [0x8000 | 1, 0x6000 | 5, 0x0000 | 9, 0x3000 | (1 << 11) | 100,
             0x4000 | 0b100000000101, 0x5000 | 0b10000001, 0x6000 | 6, 0x3000 | 20, 0x5000 | 1]
    path = tmp_path / "vec.raw"
    write_raw(path, EVT3_HEADER, words, "<u2")
    with open_file(path) as reader:
        ev = reader.read_all()
    assert ev["x"].tolist() == [100, 102, 111, 112, 119, 20]
    assert ev["p"].tolist() == [1, 1, 1, 1, 1, 0]
    assert ev["t"].tolist() == [4096 + 5] * 5 + [4096 + 6]
    assert set(ev["y"].tolist()) == {9}


def _error(path, **kw):
    from evrt.errors import FormatError
    with pytest.raises(FormatError) as info:
        with open_file(path, **kw) as reader:
            reader.read_all()
    return info.value


def test_wrong_magic(tmp_path):
    path = tmp_path / "x.raw"
    path.write_bytes(b"#!AER-DAT9.9\r\n" + bytes(64))
    err = _error(path)
    assert str(path) in str(err) and err.offset == 0
    from evrt.errors import FormatError
    with pytest.raises(FormatError, match="expected a '%' text header"):
        evt2.open_reader(path)
    path.write_bytes(b"% evt 4.0\n" + bytes(64))
    with pytest.raises(FormatError, match="EVT 2.0"):
        evt2.open_reader(path)
    path.write_bytes(b"% evt 2.0\n" + bytes(64))  # a valid header, of the other EVT version
    with pytest.raises(FormatError, match=r"at byte 0: expected an EVT 3\.0 header \('% evt 3\.0'\), found encoding 'evt2'"):
        evt3.open_reader(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "cut.raw"
    path.write_bytes(b"% Date 2020-09-25 07:48:31\n% evt 2.0\n% plugin_na")
    from evrt.errors import FormatError
    with pytest.raises(FormatError) as info:
        evt2.open_reader(path)
    assert info.value.offset == len(b"% Date 2020-09-25 07:48:31\n% evt 2.0\n")
    assert "truncated header" in str(info.value)
    dpath = tmp_path / "cut.dat"
    dpath.write_bytes(b"% Data file containing Event2D events.\n% Version 2\n")
    with pytest.raises(FormatError, match="event type and event size") as info:
        dat.open_reader(dpath)
    assert info.value.offset == dpath.stat().st_size


@pytest.mark.parametrize("name,cut", [("evt2/expelliarmus_evt2_sample.raw", 3),
                                      ("evt3/expelliarmus_evt3_sample.raw", 1),
                                      ("dat/expelliarmus_dat_test_NCARS.dat", 5)])
def test_truncated_last_record_warns_and_keeps_the_complete_part(tmp_path, decoded, name, cut):
    src = shared_file(name)
    data = src.read_bytes()
    whole = _read(name, decoded)
    path = tmp_path / src.name
    path.write_bytes(data[:-cut])
    with pytest.warns(UserWarning, match=r"truncated last record at byte \d+"):
        with open_file(path) as reader:
            ev = reader.read_all()
    # the cut word held at most one event (EVT2 / DAT); EVT3's last word is an event word
    assert ev.size in (whole.size, whole.size - 1)
    assert ev.tobytes() == whole[: ev.size].tobytes()


@pytest.mark.parametrize("name,word_size,bad", [
    ("evt2/expelliarmus_evt2_sample.raw", 4, 0x30000000),   # type 0x3 does not exist
    ("evt3/expelliarmus_evt3_sample.raw", 2, 0xB000),       # type 0xB does not exist
])
def test_corrupt_word_in_the_middle(tmp_path, name, word_size, bad):
    src = shared_file(name)
    data = bytearray(src.read_bytes())
    header = 164 if "evt2_sample" in name else 166
    n_words = (len(data) - header) // word_size
    at = header + (n_words // 2) * word_size
    data[at:at + word_size] = bad.to_bytes(word_size, "little")
    path = tmp_path / src.name
    path.write_bytes(bytes(data))
    err = _error(path, chunk_words=10000)
    assert err.offset == at and str(path) in str(err) and "corrupt data" in str(err)


def test_corrupt_dat_record_in_the_middle(tmp_path, decoded):
    """A DAT record whose polarity nibble is not 0/1 is corrupt; the error names its offset."""
    name = "dat/expelliarmus_dat_test_NCARS.dat"
    src = shared_file(name)
    data = bytearray(src.read_bytes())
    data_start = 0x5B + 2  # header (91 bytes) + type and size bytes
    at = data_start + 2000 * 8
    data[at + 7] |= 0x70  # polarity bits 31..28 of the data word
    path = tmp_path / src.name
    path.write_bytes(bytes(data))
    err = _error(path, chunk_words=777)
    assert err.offset == at and "polarity" in str(err)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(1000, 600000), window=st.integers(100, 60000))
def test_chunked_evt2_windows_equal_whole(decoded, chunk, window):
    name = "evt2/expelliarmus_evt2_sample.raw"
    whole = _read(name, decoded)
    with open_file(shared_file(name), chunk_words=chunk) as reader:
        parts = [m for m in reader.packets(window_us=window) if isinstance(m, EventPacket)]
    assert concat_exact([p.events for p in parts]).tobytes() == whole.tobytes()
    t0 = int(whole["t"][0])
    for p in parts:  # each packet is exactly its window of the whole read
        a, b = np.searchsorted(whole["t"], [p.t_start, p.t_end])
        assert p.events.tobytes() == whole[a:b].tobytes() and (p.t_start - t0) % window == 0


def test_time_going_backwards(tmp_path):
    from evrt.errors import FormatError
    words = [evt2_word(8, raw=100), evt2_word(1, x=1, y=1), evt2_word(8, raw=90),
             evt2_word(1, x=1, y=1)]
    path = tmp_path / "back.raw"
    write_raw(path, EVT2_HEADER, words, "<u4")
    err = _error(path)
    assert isinstance(err, FormatError)
    assert err.offset == len(EVT2_HEADER) + 2 * 4 and "backwards" in str(err)
    path3 = tmp_path / "back3.raw"
    # same TIME_HIGH, a smaller TIME_LOW: the second ADDR_X (word 7) is the offender
    write_raw(path3, EVT3_HEADER, evt3_words([(9000, 1, 1, 1), (8500, 1, 2, 1)]), "<u2")
    err3 = _error(path3)
    assert err3.offset == len(EVT3_HEADER) + 7 * 2 and "backwards" in str(err3)
    # TIME_HIGH dropping by a little (not a wrap): the TIME_HIGH word (word 4) is the offender
    write_raw(path3, EVT3_HEADER, evt3_words([(9000, 1, 1, 1), (5000, 1, 2, 1)]), "<u2")
    err3 = _error(path3)
    assert err3.offset == len(EVT3_HEADER) + 4 * 2 and "backwards" in str(err3)
    rec = np.array([[50, 1 | (1 << 14) | (1 << 28)], [40, 2]], "<u4")
    pathd = tmp_path / "back.dat"
    pathd.write_bytes(b"% Width 10\n% Height 10\n" + bytes([0, 8]) + rec.tobytes())
    errd = _error(pathd)
    assert errd.offset == len(b"% Width 10\n% Height 10\n") + 2 + 8


def test_coordinate_outside_the_sensor(tmp_path):
    path = tmp_path / "big.raw"
    write_raw(path, EVT2_HEADER, [evt2_word(8, raw=1), evt2_word(1, x=320, y=0)], "<u4")
    err = _error(path)
    assert err.offset == len(EVT2_HEADER) + 4 and "outside the sensor" in str(err)


@pytest.mark.parametrize("header,word", [(EVT2_HEADER, 4), (EVT3_HEADER, 2),
                                         (b"% Width 640\n% Height 480\n\x00\x08", 8)])
@settings(max_examples=40, deadline=None)
@given(payload=st.binary(min_size=0, max_size=600), chunk=st.integers(1, 64))
def test_random_payloads_decode_or_raise_format_error(tmp_path_factory, header, word, payload,
                                                       chunk):
    """Whatever follows a valid header, the reader returns events or raises FormatError (with
    the file and an offset inside the data), never another exception from numba or numpy."""
    from evrt.errors import FormatError
    path = tmp_path_factory.mktemp("fuzz") / "f.bin"
    path.write_bytes(header + payload)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_file(path, chunk_words=chunk) as reader:
                ev = reader.read_all()
                blocks = concat_exact([m.events for m in reader.packets(count=7)
                                        if isinstance(m, EventPacket)])
        assert blocks.tobytes() == ev.tobytes()
        assert np.all(np.diff(ev["t"]) >= 0)
    except FormatError as err:
        assert str(path) in str(err)
        assert err.offset is not None and len(header) <= err.offset < len(header) + len(payload)


def test_dat_timestamp_wrap_mid_run_keeps_time_increasing(tmp_path):
    """A 32-bit timestamp wrap inside a run of records (the kernel's branch-free run fails and
    is redone record by record), then more runs after it: 64-bit time keeps increasing and
    every field survives, in one call and in small chunks."""
    name = "dat/expelliarmus_dat_test_NCARS.dat"
    src = shared_file(name)
    raw = src.read_bytes()
    data_start = 0x5B + 2
    rec = np.frombuffer(raw[data_start:], "<u4").reshape(-1, 2).copy()
    n = rec.shape[0]
    # shift time so that record n//2 is at 2^32 - 1 and the next ones wrap past 2^32
    t64 = rec[:, 0].astype(np.int64) + ((1 << 32) - 1 - int(rec[n // 2, 0]))
    rec[:, 0] = (t64 & 0xFFFFFFFF).astype(np.uint32)
    path = tmp_path / "wrap.dat"
    path.write_bytes(raw[:data_start] + rec.tobytes())
    assert int(rec[n - 1, 0]) < int(rec[0, 0])  # it does wrap
    for kw in ({}, {"chunk_words": 997}):
        with open_file(path, **kw) as r:
            ev = r.read_all()
            parts = [m.events for m in r.packets() if isinstance(m, EventPacket)]
        assert ev.size == n
        assert ev["t"].tolist() == t64.tolist()
        assert ev["x"].tolist() == (rec[:, 1] & 0x3FFF).tolist()
        assert ev["y"].tolist() == ((rec[:, 1] >> 14) & 0x3FFF).tolist()
        assert concat_exact(parts).tobytes() == ev.tobytes()

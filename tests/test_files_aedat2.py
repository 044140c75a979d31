"""AEDAT 2.0 (jAER): values from SOURCES.md, both address layouts, conventions, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import shared_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evrt.errors import FormatError
from evrt.events import EventPacket
from evrt.messages import Imu
from evrt.sources.files import open_file
from evrt.sources.files.aedat2 import Aedat2Reader
from evrt.sources.files.base import concat_exact

BOXES = "aedat2/PyAedatTools_IMU_translBoxes.aedat"
DISK = "aedat2/PyAedatTools_IMU_rotDisk.aedat"
H128 = "aedat2/aedat-file-reader-rs_header_test_128.aedat_test"
H240 = "aedat2/aedat-file-reader-rs_header_test_240.aedat_test"
TONIC_HEADER = "aedat2/tonic_sample_aedat_header.aedat"

EXPECTED = {
    BOXES: dict(header=175268, records=196608, events=162771, on=82944,
                t=(294976755, 297049406), first=(294976755, 156, 36, 0), imu=4834 - 1),
    DISK: dict(header=175039, records=425984, events=374296, on=163098,
               t=(341678, 3508437), first=(341678, 11, 15, 1), imu=7384),
}


def numpy_davis_baseline(path, header: int) -> np.ndarray:
    """A vectorised numpy decode of the DAVIS layout (the benchmark's baseline, raw convention)."""
    raw = np.fromfile(path, dtype=">u4", offset=header)
    raw = raw[: raw.size // 2 * 2].reshape(-1, 2)
    a, t = raw[:, 0], raw[:, 1].astype(np.int32)
    dvs = ((a >> 31) == 0) & (((a >> 10) & 1) == 0)
    a, t = a[dvs], t[dvs]
    out = np.zeros(a.size, Aedat2Reader and np.dtype(
        {"names": ["t", "x", "y", "p"], "formats": ["<i8", "<i2", "<i2", "i1"],
         "offsets": [0, 8, 10, 12], "itemsize": 16}))
    out["t"], out["x"], out["y"], out["p"] = t, (a >> 12) & 0x3FF, (a >> 22) & 0x1FF, (a >> 11) & 1
    return out


@pytest.mark.parametrize("name", [BOXES, DISK])
def test_values_from_sources_md(name):
    exp = EXPECTED[name]
    path = shared_file(name)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with open_file(path, orientation="raw") as r:
            assert isinstance(r, Aedat2Reader) and r.chip == "eu.seebetter.ini.chips.davis.DAVIS240C"
            assert r.geometry.as_tuple() == (240, 180) and r.layout == "davis"
            assert r.data_start == exp["header"] and r.records == exp["records"]
            msgs = list(r.packets())
            info = r.info()
    ev = concat_exact([m.events for m in msgs if isinstance(m, EventPacket)])
    assert ev.size == exp["events"] and int((ev["p"] == 1).sum()) == exp["on"]
    assert tuple(int(v) for v in ev[0].tolist()) == exp["first"]
    assert (info["t_first"], info["t_last"]) <= exp["t"]  # events lie inside the record range
    assert ev["t"][0] >= exp["t"][0] and ev["t"][-1] <= exp["t"][1]
    assert ev["x"].max() == 239 and ev["y"].max() == 179 and ev["x"].min() == 0 and ev["y"].min() == 0
    imu = np.concatenate([m.samples for m in msgs if isinstance(m, Imu)])
    assert imu.size == exp["imu"] and np.all(np.diff(imu["t"]) >= 0)
    # gravity: |accel| is about 1 g while the camera is held
    assert np.median(np.linalg.norm(imu["accel"], axis=1)) == pytest.approx(1.0, abs=0.15)
    assert info["aps_samples"] == 0
    partial = [x for x in w if "inside an IMU sample" in str(x.message)]
    assert bool(partial) == (name == BOXES)  # translBoxes ends with 6 of 7 IMU words


def test_equals_vectorised_numpy_baseline():
    path = shared_file(DISK)
    with open_file(path, orientation="raw") as r:
        ours = r.read_all()
    ref = numpy_davis_baseline(path, EXPECTED[DISK]["header"])
    assert ours.tobytes() == ref.tobytes()


def test_top_left_convention_flips_y_only_for_davis():
    path = shared_file(DISK)
    with open_file(path, orientation="raw") as raw, open_file(path) as tl:
        a, b = raw.read_all(), tl.read_all()
    assert np.array_equal(a["x"], b["x"]) and np.array_equal(a["p"], b["p"])
    assert np.array_equal(b["y"], 179 - a["y"])


@pytest.mark.parametrize("name,offset,size", [(H128, 4241, (128, 128)), (H240, 303869, (240, 180))])
def test_header_end_offsets_and_sensor(name, offset, size):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the '$' filler after these headers is not whole records
        with open_file(shared_file(name)) as r:
            assert r.data_start == offset and r.geometry.as_tuple() == size
            assert r.layout == ("dvs128" if size == (128, 128) else "davis")


def test_tonic_header_values():
    with open_file(shared_file(TONIC_HEADER)) as r:
        info = r.info()
    assert info["data_version"] == 2 and info["start_timestamp_ms"] == 1695355587880
    assert (info["width"], info["height"]) == (346, 260) and info["events"] == 0


def _dvs128_file(tmp_path, records: bytes):
    head = shared_file(H128).read_bytes()[:4241]
    p = tmp_path / "dvs128.aedat"
    p.write_bytes(head + records)
    return p


def test_dvs128_record_decode(tmp_path):
    """aedat-file-reader-rs's record: polarity bit set, t = -1672025907, raw x 115, y 56."""
    p = _dvs128_file(tmp_path, bytes([0, 0, 56, 231, 156, 86, 232, 205]))
    with open_file(p, orientation="raw") as r:
        ev = r.read_all()
    assert ev.size == 1 and tuple(int(v) for v in ev[0].tolist()) == (-1672025907, 115, 56, 1)
    with open_file(p) as r:  # jAER's view in top-left: x mirrored, y flipped, raw bit 0 = 0 is ON
        ev = r.read_all()
    assert tuple(int(v) for v in ev[0].tolist()) == (-1672025907, 127 - 115, 127 - 56, 0)


def test_timestamp_wrap_is_unwrapped(tmp_path):
    rec = np.zeros((3, 2), ">i4")
    rec[:, 0] = [2, 4, 6]
    rec[:, 1] = [2**31 - 10, -2**31 + 5, -2**31 + 20]
    with open_file(_dvs128_file(tmp_path, rec.tobytes()), orientation="raw") as r:
        t = r.read_all()["t"]
    assert list(t) == [2**31 - 10, 2**31 + 5, 2**31 + 20]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(7, 50_000), window=st.one_of(st.none(), st.integers(100, 500_000)),
       count=st.one_of(st.none(), st.integers(1, 40_000)))
def test_chunked_reading_equals_whole(chunk, window, count):
    path = shared_file(DISK)
    with open_file(path) as r:
        whole = r.read_all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Aedat2Reader(str(path), chunk_records=chunk) as r:
            msgs = list(r.packets(window, count))
    got = concat_exact([m.events for m in msgs if isinstance(m, EventPacket)])
    assert got.tobytes() == whole.tobytes()
    imu = np.concatenate([m.samples for m in msgs if isinstance(m, Imu)])
    assert imu.size == 7384  # IMU groups split across chunks are reassembled


def test_seek_by_binary_search():
    path = shared_file(DISK)
    with open_file(path) as r:
        whole = r.read_all()
        target = int(whole["t"][200_000]) + 3
        r.seek(target)
        ev = r.read_all()
    i = int(np.searchsorted(whole["t"], target))
    assert ev.tobytes() == whole[i:].tobytes()


# -- bad input ------------------------------------------------------------------------------------

def test_wrong_magic(tmp_path):
    p = tmp_path / "x.aedat"
    p.write_bytes(b"#!AER-DAT9.9\r\n" + bytes(64))
    with pytest.raises(FormatError) as err:
        open_file(p)
    assert err.value.offset == 0 and "unknown file format" in str(err.value)
    with pytest.raises(FormatError, match="magic"):
        Aedat2Reader(str(p))


def test_unknown_chip_is_a_clear_error(tmp_path):
    p = tmp_path / "chip.aedat"
    p.write_bytes(b"#!AER-DAT2.0\r\n# AEChip: org.example.Mystery\r\n" + bytes(16))
    with pytest.raises(FormatError, match="unknown AEChip"):
        open_file(p)
    with open_file(p, width=64, height=64) as r:
        assert r.geometry.as_tuple() == (64, 64)


def test_truncated_header_line_is_header_only(tmp_path):
    p = tmp_path / "h.aedat"
    p.write_bytes(shared_file(H128).read_bytes()[:1000])  # cut inside a '#' line
    with open_file(p) as r:
        assert r.data_start == 1000 and r.info()["events"] == 0


def test_truncated_last_record_warns_and_keeps_complete_part(tmp_path):
    src = shared_file(DISK)
    data = src.read_bytes()
    p = tmp_path / "cut.aedat"
    p.write_bytes(data[: EXPECTED[DISK]["header"] + 8 * 1000 + 5])
    with open_file(src) as r:
        whole = r.read_all()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with open_file(p) as r:
            got = r.read_all()
    assert any("5 trailing bytes" in str(x.message) for x in w)
    assert got.size > 0 and got.tobytes() == whole[: got.size].tobytes()


def test_time_going_backwards_names_the_record(tmp_path):
    src = shared_file(DISK)
    header = EXPECTED[DISK]["header"]
    data = bytearray(src.read_bytes()[: header + 8 * 5000])
    rec = np.frombuffer(bytes(data[header:]), ">u4").reshape(-1, 2)
    dvs = np.flatnonzero(((rec[:, 0] >> 31) == 0) & (((rec[:, 0] >> 10) & 1) == 0))
    k = int(dvs[3000])
    data[header + 8 * k + 4: header + 8 * k + 8] = (100).to_bytes(4, "big")
    p = tmp_path / "back.aedat"
    p.write_bytes(bytes(data))
    with open_file(p) as r, pytest.raises(FormatError) as err:
        r.read_all()
    assert err.value.offset == header + 8 * k and "backwards" in str(err.value)

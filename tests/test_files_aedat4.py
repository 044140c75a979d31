"""AEDAT 4.0: our reader against SOURCES.md, dv-processing and `aedat`; round trips; bad input."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
from aedat_helpers import aedat4_packets, aedat_events, dv_events, packed, rebuild, recompress
from conftest import shared_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evrt.errors import FormatError
from evrt.events import EventPacket
from evrt.graph.node import NodeContext
from evrt.messages import Frame, Imu, Trigger
from evrt.sinks.aedat4 import Aedat4Sink
from evrt.sources.files import open_file
from evrt.sources.files.aedat4 import Aedat4Reader
from evrt.sources.files.base import concat_exact

DAVIS = "aedat4/aestream_davis.aedat4"
TONIC = "aedat4/tonic_sample.aedat4"

EXPECTED = {
    DAVIS: dict(n=117667, on=72363, size=(346, 260), first=(1633953690975950, 218, 15, 1),
                last=(1633953691105949, 137, 56, 0), packets=13, camera="DAVIS346_00000104",
                streams={"events", "frames", "imu", "triggers"}, frames=3, imu=130, triggers=15,
                imu_t=(1633953690976628, 1633953691105605)),
    TONIC: dict(n=111954, on=55023, size=(320, 240), first=(1605537493718345, 154, 204, 0),
                last=(1605537494308262, 88, 237, 1), packets=59, camera="DVXplorer_DXB00010",
                streams={"events", "imu", "triggers"}, frames=0, imu=475, triggers=0,
                imu_t=(1605537493718788, 1605537494307448)),
}


def _messages(path, **kw):
    with open_file(path) as r:
        return list(r.packets(**kw))


@pytest.mark.parametrize("name", [DAVIS, TONIC])
def test_values_from_sources_md(name):
    exp = EXPECTED[name]
    path = shared_file(name)
    with open_file(path) as r:
        assert isinstance(r, Aedat4Reader) and r.format == "aedat4"
        assert r.geometry.as_tuple() == exp["size"]
        assert set(r.streams) == exp["streams"] and r.camera == exp["camera"]
        ev = r.read_all()
        info = r.info()
    assert ev.size == exp["n"] and int((ev["p"] == 1).sum()) == exp["on"]
    assert tuple(int(v) for v in ev[0].tolist()) == exp["first"]
    assert tuple(int(v) for v in ev[-1].tolist()) == exp["last"]
    assert np.all(np.diff(ev["t"]) >= 0)
    assert ev["x"].min() == 0 and ev["x"].max() == exp["size"][0] - 1
    assert ev["y"].min() == 0 and ev["y"].max() == exp["size"][1] - 1
    assert info["events"] == exp["n"] and info["t_first"] == exp["first"][0]
    assert info["t_last"] == exp["last"][0]
    assert info["counts"].get("frames", 0) == exp["frames"]
    assert info["counts"]["imu"] == exp["imu"] and info["counts"].get("triggers", 0) == exp["triggers"]
    msgs = _messages(path)
    assert sum(isinstance(m, EventPacket) for m in msgs) == exp["packets"]
    imu = np.concatenate([m.samples for m in msgs if isinstance(m, Imu)])
    assert imu.size == exp["imu"] and (imu["t"][0], imu["t"][-1]) == exp["imu_t"]
    assert sum(len(m.triggers) for m in msgs if isinstance(m, Trigger)) == exp["triggers"]
    assert sum(isinstance(m, Frame) for m in msgs) == exp["frames"]


def test_aestream_davis_details_and_table():
    """Frames, triggers, the aestream 10000-then-rest read and the data table."""
    path = shared_file(DAVIS)
    msgs = _messages(path)
    frames = [m for m in msgs if isinstance(m, Frame)]
    assert [f.t_start for f in frames] == [1633953690976518, 1633953691016518, 1633953691056518]
    assert all(f.image.shape == (260, 346) and f.image.dtype == np.uint8 for f in frames)
    assert all(f.meta["exposure_us"] == 4773 for f in frames)
    trig = np.concatenate([m.triggers for m in msgs if isinstance(m, Trigger)])
    assert trig["t"][0] == 1633953690976518 and list(trig["type"][:4]) == [8, 9, 7, 6]
    # (APS_EXPOSURE_START, _END, FRAME_END, FRAME_START in dv's TriggerType numbering)
    with open_file(path) as r:
        a = list(r.packets(count=10000, streams=["events"]))
        assert len(a[0]) == 10000 and sum(len(p) for p in a[1:]) == 107667
        assert r.data_table_position == 1190063  # SOURCES.md says 1189039; FTAB sits at 1190063+20
        assert len(r.table) == 13 + 3 + 13 + 11
        assert r.t_offset == 1633953629213182


def test_tonic_sample_table_position():
    with open_file(shared_file(TONIC)) as r:
        assert r.data_table_position == 945243
        assert r.info()["data_table"] is True


@pytest.mark.parametrize("name", [DAVIS, TONIC])
def test_identical_to_dv_processing_and_aedat(name):
    path = shared_file(name)
    with open_file(path) as r:
        ours = r.read_all()
    assert packed(ours) == packed(dv_events(path))
    assert packed(ours) == packed(aedat_events(path))


def test_frames_imu_triggers_match_dv_processing():
    import dv_processing as dv

    path = shared_file(DAVIS)
    msgs = _messages(path)
    rec = dv.io.MonoCameraRecording(str(path))
    f = rec.getNextFrame()
    ours = next(m for m in msgs if isinstance(m, Frame))
    assert f.timestamp == ours.t_start and np.array_equal(np.squeeze(f.image), ours.image)
    imu = np.concatenate([m.samples for m in msgs if isinstance(m, Imu)])
    batch = rec.getNextImuBatch()
    assert imu["t"][0] == batch[0].timestamp
    assert imu["accel"][0][0] == pytest.approx(batch[0].accelerometerX)
    assert imu["gyro"][0][2] == pytest.approx(batch[0].gyroscopeZ)
    assert imu["temperature"][0] == pytest.approx(batch[0].temperature)


def test_same_events_with_and_without_data_table():
    path = shared_file(TONIC)
    with open_file(path) as a, Aedat4Reader(str(path), use_table=False) as b:
        assert a.read_all().tobytes() == b.read_all().tobytes()
        assert a.info()["events"] == b.info()["events"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(window=st.one_of(st.none(), st.integers(1, 200_000)),
       count=st.one_of(st.none(), st.integers(1, 50_000)),
       cut=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_chunked_reading_equals_whole(window, count, cut):
    path = shared_file(TONIC)
    with open_file(path) as r:
        whole = r.read_all()
        t0, t1 = int(whole["t"][0]), int(whole["t"][-1]) + 1
        a = t0 + int(min(cut) * (t1 - t0))
        b = t0 + int(max(cut) * (t1 - t0)) + 1
        got = [m for m in r.packets(window, count, a, b) if isinstance(m, EventPacket)]
    ref = EventPacket(whole, r.geometry).slice_time(a, b).events
    assert concat_exact([p.events for p in got]).tobytes() == ref.tobytes()
    if count:
        assert all(len(p) <= count for p in got)
    if window:
        assert all(p.t_end - p.t_start <= window for p in got)


def test_seek_uses_table_and_lands_on_first_event():
    path = shared_file(DAVIS)
    with open_file(path) as r:
        whole = r.read_all()
        target = int(whole["t"][60000]) + 1
        r.seek(target)
        first = next(m for m in r.packets() if isinstance(m, EventPacket))
    i = int(np.searchsorted(whole["t"], target))
    assert first.events[0].tobytes() == whole[i].tobytes()


@pytest.mark.parametrize("name", [DAVIS, TONIC])
def test_read_write_read_identical(tmp_path, name):
    """Our reader -> aedat4 sink (dv-processing) -> our reader, dv-processing and `aedat`."""
    path = shared_file(name)
    out = tmp_path / "copy.aedat4"
    with open_file(path) as r:
        sink = Aedat4Sink(str(out))
        sink.open(NodeContext("w"))
        for m in r.packets():
            sink.process(m)
        sink.close()
        src = r.read_all()
        src_info = r.info()
    with open_file(out) as r2:
        assert r2.read_all().tobytes() == src.tobytes()
        info = r2.info()
    assert info["counts"].get("imu") == src_info["counts"].get("imu")
    assert info["counts"].get("frames", 0) == src_info["counts"].get("frames", 0)
    assert info["counts"].get("triggers", 0) == src_info["counts"].get("triggers", 0)
    assert packed(dv_events(out)) == packed(src)
    assert packed(aedat_events(out)) == packed(src)


# -- bad input ------------------------------------------------------------------------------------

def test_wrong_magic(tmp_path):
    data = bytearray(shared_file(TONIC).read_bytes())
    data[10] = ord("5")  # "#!AER-DAT5.0"
    p = tmp_path / "bad.aedat4"
    p.write_bytes(bytes(data))
    with pytest.raises(FormatError) as err:
        open_file(p)
    assert err.value.offset == 0 and str(p) in str(err.value)
    with pytest.raises(FormatError) as err:
        Aedat4Reader(str(p))
    assert "magic" in str(err.value) and err.value.offset == 0


def test_truncated_header(tmp_path):
    p = tmp_path / "short.aedat4"
    p.write_bytes(shared_file(TONIC).read_bytes()[:500])
    with pytest.raises(FormatError) as err:
        open_file(p)
    assert err.value.offset == 18 and "truncated IOHeader" in str(err.value)


def test_truncated_last_packet_warns_and_keeps_complete_part(tmp_path):
    header, packets = aedat4_packets(shared_file(TONIC))
    rebuilt = [(sid, pl) for _, sid, pl in packets]
    data = rebuild(header, rebuilt)
    k = max(i for i, (sid, _) in enumerate(rebuilt) if sid == 0)  # cut the last event packet
    cut = len(header) + sum(8 + len(x) for _, x in rebuilt[:k]) + 8 + len(rebuilt[k][1]) // 2
    p = tmp_path / "cut.aedat4"
    p.write_bytes(data[:cut])
    with open_file(shared_file(TONIC)) as r:
        whole = r.read_all()
    with open_file(p) as r, warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = r.read_all()
    assert any("truncated" in str(x.message) for x in w)
    assert 0 < got.size < whole.size and got.tobytes() == whole[:got.size].tobytes()


def test_corrupt_packet_in_the_middle(tmp_path):
    header, packets = aedat4_packets(shared_file(TONIC))
    rebuilt = [(sid, pl) for _, sid, pl in packets]
    k = len(rebuilt) // 2
    sid, pl = rebuilt[k]
    rebuilt[k] = (sid, pl[:20] + bytes(b ^ 0x5A for b in pl[20:60]) + pl[60:])
    p = tmp_path / "corrupt.aedat4"
    p.write_bytes(rebuild(header, rebuilt))
    offset = len(header) + sum(8 + len(x) for _, x in rebuilt[:k])
    with open_file(p) as r, pytest.raises(FormatError) as err:
        r.read_all(stream=None) if sid == 0 else list(r.packets())
    assert err.value.offset == offset + 8 and str(p) in str(err.value)


def test_corrupt_flatbuffer_is_a_format_error(tmp_path):
    header, packets = aedat4_packets(shared_file(TONIC))
    rebuilt = [(sid, pl) for _, sid, pl in packets]
    k = next(i for i, (sid, _) in enumerate(rebuilt) if sid == 0)

    def huge_vector(raw):  # make the event vector claim far more elements than present
        root = struct.unpack_from("<I", raw, 4)[0] + 4
        vt = root - struct.unpack_from("<i", raw, root)[0]
        field = root + struct.unpack_from("<H", raw, vt + 4)[0]
        vec = field + struct.unpack_from("<I", raw, field)[0]
        struct.pack_into("<I", raw, vec, 10**8)

    rebuilt[k] = (0, recompress(rebuilt[k][1], huge_vector))
    p = tmp_path / "fb.aedat4"
    p.write_bytes(rebuild(header, rebuilt))
    with open_file(p) as r, pytest.raises(FormatError) as err:
        r.read_all()
    assert err.value.offset == len(header) + sum(8 + len(x) for _, x in rebuilt[:k]) + 8
    assert "vector runs past the end" in str(err.value)


def test_time_going_backwards(tmp_path):
    header, packets = aedat4_packets(shared_file(TONIC))
    rebuilt = [(sid, pl) for _, sid, pl in packets]
    ks = [i for i, (sid, _) in enumerate(rebuilt) if sid == 0]
    k = ks[3]

    def backwards(raw):
        root = struct.unpack_from("<I", raw, 4)[0] + 4
        vt = root - struct.unpack_from("<i", raw, root)[0]
        field = root + struct.unpack_from("<H", raw, vt + 4)[0]
        vec = field + struct.unpack_from("<I", raw, field)[0] + 4
        struct.pack_into("<q", raw, vec + 16 * 5, 1000)  # event 5 of the packet at t = 1000 µs

    rebuilt[k] = (0, recompress(rebuilt[k][1], backwards))
    p = tmp_path / "back.aedat4"
    p.write_bytes(rebuild(header, rebuilt))
    with open_file(p) as r, pytest.raises(FormatError) as err:
        r.read_all()
    assert err.value.offset == len(header) + sum(8 + len(x) for _, x in rebuilt[:k])
    assert "backwards" in str(err.value) and "event 5" in str(err.value)


@pytest.mark.parametrize("compression", ["zstd", "none", "lz4_high"])
def test_other_compressions_written_by_dv_processing(tmp_path, compression):
    path = shared_file(TONIC)
    out = tmp_path / f"{compression}.aedat4"
    with open_file(path) as r:
        sink = Aedat4Sink(str(out), compression=compression, imu=False, triggers=False)
        sink.open(NodeContext("w"))
        for m in r.packets(streams=["events"]):
            sink.process(m)
        sink.close()
        src = r.read_all()
    with open_file(out) as r2:
        assert r2.info()["compression"] == compression
        assert r2.read_all().tobytes() == src.tobytes()


def test_decode_threads_give_the_same_messages_and_errors(tmp_path):
    path = shared_file(DAVIS)
    with open_file(path) as a, Aedat4Reader(str(path), threads=2, read_ahead=3) as b:
        ma, mb = list(a.packets(window_us=7000)), list(b.packets(window_us=7000))
    assert [type(m).__name__ for m in ma] == [type(m).__name__ for m in mb]
    assert concat_exact([m.events for m in ma if isinstance(m, EventPacket)]).tobytes() == \
        concat_exact([m.events for m in mb if isinstance(m, EventPacket)]).tobytes()
    header, packets = aedat4_packets(shared_file(TONIC))
    rebuilt = [(sid, pl) for _, sid, pl in packets]
    rebuilt[20] = (rebuilt[20][0], b"\x00" * len(rebuilt[20][1]))
    p = tmp_path / "bad.aedat4"
    p.write_bytes(rebuild(header, rebuilt))
    with Aedat4Reader(str(p), threads=2) as r, pytest.raises(FormatError) as err:
        list(r.packets())
    assert err.value.offset == len(header) + sum(8 + len(x) for _, x in rebuilt[:20]) + 8


@pytest.mark.parametrize("bad", [None, "zeros", "backwards"])
def test_threaded_runs_equal_inline(tmp_path, bad):
    """Event packets back to back (decoded as runs in worker threads) give the inline result;
    a damaged packet or a backwards packet inside a run raises at that packet's offset."""
    header, packets = aedat4_packets(shared_file(TONIC))
    rebuilt = [(sid, pl) for _, sid, pl in packets if sid == 0]
    k = 17
    if bad == "zeros":
        rebuilt[k] = (0, b"\x00" * len(rebuilt[k][1]))
    elif bad == "backwards":
        def earlier(raw):
            root = struct.unpack_from("<I", raw, 4)[0] + 4
            vt = root - struct.unpack_from("<i", raw, root)[0]
            field = root + struct.unpack_from("<H", raw, vt + 4)[0]
            vec = field + struct.unpack_from("<I", raw, field)[0] + 4
            struct.pack_into("<q", raw, vec, 1000)
        rebuilt[k] = (0, recompress(rebuilt[k][1], earlier))
    p = tmp_path / "runs.aedat4"
    p.write_bytes(rebuild(header, rebuilt))
    at = len(header) + sum(8 + len(x) for _, x in rebuilt[:k])
    results = []
    for kw in ({}, {"threads": 2, "read_ahead": 2}):
        with Aedat4Reader(str(p), **kw) as r:
            r.RUN_BYTES = 1 << 18  # several runs
            if bad is None:
                results.append(r.read_all().tobytes())
                continue
            with pytest.raises(FormatError) as err:
                r.read_all()
            assert err.value.offset in (at, at + 8) and str(p) in str(err.value)
    if bad is None:
        assert results[0] == results[1] and len(results[0]) > 0


def test_time_going_backwards_between_packets(tmp_path):
    """A packet that starts before the previous one ended, inside a run of packets the
    inline decoder takes in one call: the error names that packet's offset."""
    header, packets = aedat4_packets(shared_file(TONIC))
    rebuilt = [(sid, pl) for _, sid, pl in packets if sid == 0]  # event packets back to back
    k = 5

    def earlier(raw):
        root = struct.unpack_from("<I", raw, 4)[0] + 4
        vt = root - struct.unpack_from("<i", raw, root)[0]
        field = root + struct.unpack_from("<H", raw, vt + 4)[0]
        vec = field + struct.unpack_from("<I", raw, field)[0] + 4
        struct.pack_into("<q", raw, vec, 1000)  # its first event at t = 1000 µs

    rebuilt[k] = (0, recompress(rebuilt[k][1], earlier))
    p = tmp_path / "back2.aedat4"
    p.write_bytes(rebuild(header, rebuilt))
    with open_file(p) as r, pytest.raises(FormatError) as err:
        r.read_all()
    assert err.value.offset == len(header) + sum(8 + len(x) for _, x in rebuilt[:k])
    assert "backwards" in str(err.value)


@pytest.mark.parametrize("run_bytes", [1 << 18, 1 << 19])
def test_run_buffers_reused_only_when_free(run_bytes):
    """Inline decoding reuses its output arrays: events held by the consumer are never
    overwritten, and streaming without holding them cycles through a few arrays only."""
    path = shared_file(DAVIS)
    ref = dv_events(path)
    with open_file(path) as r:
        r.RUN_BYTES = run_bytes
        held = [m.events for m in r.packets(streams=["events"])]
        assert packed(concat_exact(held)) == packed(ref)
        bases = set()
        copies = []
        for m in r.packets(streams=["events"]):
            bases.add(id(m.events.base))
            copies.append(m.events.view(np.uint8).copy())
        assert len(held) > 3 and len(bases) <= 3
        assert b"".join(c.tobytes() for c in copies) == concat_exact(held).tobytes()

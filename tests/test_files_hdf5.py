"""MVSEC / DSEC HDF5 readers and the DSEC-layout `hdf5` sink, on fixtures made from real events.

No public MVSEC or DSEC sample exists, so the fixtures are written with the published
layouts (sources/files/mvsec_writer.py, sinks/hdf5.py) from the real AEDAT4 (DAVIS346,
via dv-processing) and EVT 2.0 samples, then read back.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import shared_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evrt
from evrt.errors import EventDataError, FormatError
from evrt.events import EventPacket, Geometry, from_dv, make_events
from evrt.graph.node import Source
from evrt.messages import Frame, TensorMsg
from evrt.sinks.hdf5 import DsecWriter, Hdf5Sink, write_dsec
from evrt.sources.files import detect_format, open_file
from evrt.sources.files.base import concat_exact
from evrt.sources.files.mvsec_writer import write_mvsec_data, write_mvsec_gt

hdf5 = pytest.importorskip("hdf5plugin")


def clean(ev: np.ndarray) -> np.ndarray:
    """A copy with zeroed padding bytes (numpy's fancy indexing leaves them undefined)."""
    return make_events(ev["t"], ev["x"], ev["y"], ev["p"])


@pytest.fixture(scope="module")
def davis_events() -> np.ndarray:
    """The 117,667 real DAVIS346 events of aestream's AEDAT4 sample, read by dv-processing."""
    dv = pytest.importorskip("dv_processing")
    path = shared_file("aedat4/aestream_davis.aedat4")
    rec = dv.io.MonoCameraRecording(str(path))
    parts = []
    while True:
        batch = rec.getNextEventBatch()
        if batch is None:
            break
        parts.append(clean(from_dv(batch)))
    ev = concat_exact(parts)
    assert ev.size == 117667  # SOURCES.md
    return ev


@pytest.fixture(scope="module")
def evt2_events() -> np.ndarray:
    """The 539,481 real events of expelliarmus' EVT 2.0 sample (640x480)."""
    with open_file(shared_file("evt2/expelliarmus_evt2_sample.raw")) as reader:
        ev = reader.read_all()
    assert ev.size == 539481
    return ev


@pytest.fixture(scope="module")
def mvsec_pair(tmp_path_factory, davis_events, evt2_events):
    """An MVSEC data + gt pair: left = the DAVIS sample, right = EVT2 events cropped to
    346x260 and moved onto the left camera's clock, depth maps every 10 ms."""
    d = tmp_path_factory.mktemp("mvsec")
    left = davis_events
    right = evt2_events[(evt2_events["x"] < 346) & (evt2_events["y"] < 260)]
    right = clean(right)
    right["t"] += int(left["t"][0]) - int(right["t"][0]) + 1234
    stamps = int(left["t"][0]) + 777 + np.arange(0, 140_000, 10_000, dtype=np.int64)
    rng = np.random.default_rng(3)
    depth = rng.uniform(1, 30, (stamps.size, 260, 346)).astype(np.float32)
    depth[:, :10] = np.nan
    frame_t = int(left["t"][0]) + 5000 + np.arange(0, 120_000, 25_000, dtype=np.int64)
    frames = rng.integers(0, 256, (frame_t.size, 260, 346), dtype=np.uint8)
    write_mvsec_data(d / "seq_data.hdf5", {"left": left, "right": right}, chunk_rows=4096,
                     frames={"left": (frame_t, frames)})
    write_mvsec_gt(d / "seq_gt.hdf5", {("left", "rect"): (stamps, depth)})
    return dict(path=d / "seq_data.hdf5", gt=d / "seq_gt.hdf5", left=left, right=right,
                stamps=stamps, depth=depth, frame_t=frame_t, frames=frames)


def test_mvsec_round_trip(mvsec_pair):
    path = mvsec_pair["path"]
    assert [m.NAME for m in detect_format(path)] == ["mvsec", "dsec"]
    with open_file(path, block_events=5000) as reader:
        assert reader.format == "mvsec"
        assert reader.geometry == Geometry(346, 260)
        assert reader.streams == {"left": "events", "right": "events",
                                  "left_frames": "frames", "left_depth_rect": "depth"}
        assert reader.read_all("left").tobytes() == mvsec_pair["left"].tobytes()
        assert reader.read_all("right").tobytes() == mvsec_pair["right"].tobytes()
        info = reader.info()
    left, right = mvsec_pair["left"], mvsec_pair["right"]
    assert info["events"] == left.size + right.size
    assert info["counts"]["left_depth_rect"] == mvsec_pair["stamps"].size
    assert info["counts"]["left_frames"] == mvsec_pair["frame_t"].size
    with open_file(path) as reader:
        frames = [m for m in reader.packets() if isinstance(m, Frame)]
    assert [f.t_start for f in frames] == mvsec_pair["frame_t"].tolist()
    for f, want in zip(frames, mvsec_pair["frames"], strict=True):
        assert f.stream == "left_frames"
        np.testing.assert_array_equal(f.image, want)
    assert info["t_first"] == int(left["t"][0])  # SOURCES.md: 1633953690975950
    assert info["t_first"] == 1633953690975950


def test_mvsec_depth_is_aligned_by_timestamp(mvsec_pair):
    """In the file's own packets, each depth map comes after every event before its time and
    before every event at or after it; in windows, no window that ends by then comes later."""
    stamps, depth = mvsec_pair["stamps"], mvsec_pair["depth"]
    for window in (None, 4000):
        with open_file(mvsec_pair["path"], block_events=3000) as reader:
            msgs = list(reader.packets(window_us=window))
        seen = []
        for k, m in enumerate(msgs):
            if not isinstance(m, TensorMsg):
                continue
            i = len(seen)
            seen.append(m.t_start)
            assert m.stream == "left_depth_rect"
            np.testing.assert_array_equal(m.data, depth[i])
            before = [p for p in msgs[:k] if isinstance(p, EventPacket)]
            after = [p for p in msgs[k + 1:] if isinstance(p, EventPacket)]
            if window is None:
                assert all(int(p.t[-1]) < m.t_start for p in before)
                assert all(int(p.t[0]) >= m.t_start for p in after)
            else:
                assert all(p.t_start < m.t_start for p in before)
                assert all(p.t_end > m.t_start for p in after)
        assert seen == stamps.tolist()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(block=st.integers(50, 40000), window=st.one_of(st.none(), st.integers(100, 30000)),
       count=st.one_of(st.none(), st.integers(1, 20000)),
       a=st.floats(0, 1), b=st.floats(0, 1))
def test_mvsec_packets_and_seek_equal_slicing(mvsec_pair, block, window, count, a, b):
    left, right = mvsec_pair["left"], mvsec_pair["right"]
    t = left["t"]
    t0 = int(t[0]) + int(a * (int(t[-1]) - int(t[0])))
    t1 = t0 + 1 + int(b * 60000)
    with open_file(mvsec_pair["path"], block_events=block) as reader:
        reader.seek(t0)
        msgs = list(reader.packets(window_us=window, count=count, t_end=t1))
    for side, ev in (("left", left), ("right", right)):
        want = ev[np.searchsorted(ev["t"], t0):np.searchsorted(ev["t"], t1)]
        got = concat_exact([m.events for m in msgs
                             if isinstance(m, EventPacket) and m.stream == side])
        assert got.tobytes() == want.tobytes()
    stamps = mvsec_pair["stamps"]
    depth_t = [m.t_start for m in msgs if isinstance(m, TensorMsg)]
    assert depth_t == stamps[(stamps >= t0) & (stamps < t1)].tolist()


# -- DSEC --------------------------------------------------------------------------------------

class ArraySource(Source):
    """Feeds an event array into a graph in packets of `n` events."""

    def __init__(self, events: object = None, n: int = 10007) -> None:
        self.events = events
        self.n = n

    def messages(self):
        for a in range(0, self.events.size, self.n):
            yield EventPacket(self.events[a:a + self.n], Geometry(640, 480))


def test_hdf5_sink_in_a_graph_writes_dsec_layout(tmp_path, evt2_events):
    out = tmp_path / "rec" / "events.h5"
    graph = evrt.Graph("record")
    graph.add("src", ArraySource(evt2_events))
    graph.add("h5", "hdf5", inputs=["src"], path=str(out), chunk_events=50000)
    graph.run()
    assert out.is_file() and not (tmp_path / "rec" / "events.h5.partial").exists()
    t = evt2_events["t"]
    with h5py.File(out, "r") as f:
        assert f["events/x"].dtype == np.uint16 and f["events/y"].dtype == np.uint16
        assert f["events/p"].dtype == np.uint8 and f["events/t"].dtype == np.uint32
        t_offset = int(f["t_offset"][()])
        assert t_offset == int(t[0])
        rel = t - t_offset
        ms = np.arange(int(rel[-1]) // 1000 + 2)
        np.testing.assert_array_equal(f["ms_to_idx"][()],
                                      np.searchsorted(rel, ms * 1000, side="left"))
        assert f["events/t"].id.get_create_plist().get_nfilters() >= 1  # compressed
        assert f["events/t"].chunks == (50000,)
    raw_bytes = evt2_events.size * (2 + 2 + 1 + 4)
    assert out.stat().st_size < raw_bytes * 0.6
    assert [m.NAME for m in detect_format(out)] == ["mvsec", "dsec"]
    with open_file(out) as reader:  # mvsec refuses the layout, dsec takes it
        assert reader.format == "dsec" and reader.geometry == Geometry(640, 480)
        assert reader.read_all().tobytes() == evt2_events.tobytes()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(100, 200000), block=st.integers(100, 300000),
       a=st.floats(0, 1), b=st.floats(0, 1), compression=st.sampled_from(["zstd", "gzip"]))
def test_dsec_round_trip_and_seek(tmp_path_factory, davis_events, chunk, block, a, b,
                                  compression):
    ev = davis_events
    path = tmp_path_factory.mktemp("dsec") / "events.h5"
    write_dsec(str(path), ev, chunk_events=chunk, compression=compression)
    t = ev["t"]
    t0 = int(t[0]) + int(a * (int(t[-1]) - int(t[0])))
    t1 = t0 + int(b * 100000)
    with open_file(path, block_events=block) as reader:
        assert reader.read_all().tobytes() == ev.tobytes()
        reader.seek(t0)
        got = concat_exact([m.events for m in reader.packets(window_us=3000, t_end=t1)])
        first = reader._index_at(t0)
    want = ev[np.searchsorted(t, t0):np.searchsorted(t, t1)]
    assert got.tobytes() == want.tobytes()
    # the seek lands within one millisecond's worth of events of the target
    assert first <= np.searchsorted(t, t0) and t0 - int(t[first]) < 1000


def test_evt3_to_dsec_layout_keeps_sensor_size_and_events(tmp_path):
    """A 1280x720 EVT 3.0 recording through the hdf5 sink reads back identical, as 1280x720."""
    from evrt.graph.node import NodeContext
    src = shared_file("evt3/expelliarmus_evt3_sample.raw")
    out = tmp_path / "evt3.h5"
    sink = Hdf5Sink(str(out), chunk_events=4096)
    sink.open(NodeContext("h5"))
    with open_file(src) as reader:
        whole = reader.read_all()
        for m in reader.packets(window_us=700):
            sink.process(m)
    sink.close()
    with open_file(out) as back:
        assert back.format == "dsec" and back.geometry == Geometry(1280, 720)
        assert back.read_all().tobytes() == whole.tobytes()


def test_hdf5_writer_rejects_time_going_backwards(tmp_path, evt2_events):
    writer = DsecWriter(str(tmp_path / "e.h5"))
    writer.append(evt2_events[:1000])
    with pytest.raises(EventDataError, match="backwards"):
        writer.append(evt2_events[:10])
    writer.close()
    with open_file(tmp_path / "e.h5") as reader:  # what was written before stays readable
        assert reader.read_all().tobytes() == evt2_events[:1000].tobytes()


def test_hdf5_sink_rejects_unknown_compression():
    from evrt.errors import ConfigError
    with pytest.raises(ConfigError, match="compression"):
        Hdf5Sink("x.h5", compression="lzma")


def test_bad_hdf5_input(tmp_path, evt2_events):
    path = tmp_path / "events.h5"
    write_dsec(str(path), evt2_events[:50000])
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError) as info:
        with open_file(cut) as reader:
            reader.read_all()
    assert str(cut) in str(info.value)
    # an HDF5 file with neither layout
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["something"] = np.arange(3)
    with pytest.raises(FormatError, match="no reader accepted"):
        open_file(other)
    # DSEC time going backwards: the dataset and the row are named
    back = tmp_path / "back.h5"
    with h5py.File(back, "w") as f:
        for name, values in (("x", [1, 2, 3]), ("y", [1, 2, 3]), ("p", [0, 1, 0]),
                             ("t", [10, 30, 20])):
            f[f"events/{name}"] = np.asarray(values, np.uint32 if name == "t" else np.uint16)
        f["ms_to_idx"] = np.array([0, 3], np.uint64)
        f["t_offset"] = np.int64(0)
    with pytest.raises(FormatError, match=r"events/t row 2: time goes backwards"):
        with open_file(back) as reader:
            reader.read_all()
    # DSEC coordinates off the 640x480 sensor
    with h5py.File(back, "r+") as f:
        f["events/t"][...] = np.array([10, 20, 30], np.uint32)
        f["events/x"][...] = np.array([1, 700, 3], np.uint16)
    with pytest.raises(FormatError, match=r"row 1: event at \(x=700, y=2\) is outside"):
        with open_file(back) as reader:
            reader.read_all()
    # MVSEC with the wrong event shape
    bad = tmp_path / "bad_data.hdf5"
    with h5py.File(bad, "w") as f:
        f["davis/left/events"] = np.zeros((5, 3))
    with pytest.raises(FormatError, match="expected N x 4"):
        open_file(bad)

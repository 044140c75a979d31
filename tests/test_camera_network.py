"""Camera discovery errors, dv stream conversion on a real recording, and DV TCP interop on loopback.

The network peers are dv-processing's own NetworkWriter / NetworkReader, run in child
processes (plain dv-processing scripts, no evrt code) on 127.0.0.1.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_file
from evrt.sources.camera import CameraSource, discover
from evrt.sources.dv_streams import StreamPoller, read_streams
from evrt.sources.network import DvNetworkSource
from evrt.sources.synthetic.patterns import PatternSource

from evrt import Graph
from evrt.errors import DeviceNotFoundError, EvrtError
from evrt.events import EVENT_DTYPE, PACKED_EVENT_DTYPE, EventPacket, Geometry, concat_events
from evrt.graph.node import NodeContext, Sink, Source
from evrt.messages import Frame

dv = pytest.importorskip("dv_processing")


class Collect(Sink):
    """Keeps every message (a sink instance without required parameters)."""

    def __init__(self) -> None:
        self.got: list = []

    def process(self, message) -> None:
        self.got.append(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def packed(ev: np.ndarray) -> bytes:
    return ev.astype(PACKED_EVENT_DTYPE).tobytes()


# ---------------------------------------------------------------- camera

def test_no_camera_gives_device_not_found_listing_nothing() -> None:
    if discover():
        pytest.skip("a camera is attached to this machine")
    src = CameraSource()
    with pytest.raises(DeviceNotFoundError) as err:
        src.open(NodeContext("cam"))
    text = str(err.value)
    assert "found nothing" in text and "evrt replay" in text and "synthetic" in text
    with pytest.raises(DeviceNotFoundError, match="found nothing"):
        CameraSource(serial="00000104").open(NodeContext("cam"))


def test_no_camera_from_the_command_line_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    if discover():
        pytest.skip("a camera is attached to this machine")
    cfg = tmp_path / "cam.toml"
    cfg.write_text('[graph]\nname = "cam"\n[nodes.cam]\ntype = "camera"\n'
                   '[nodes.out]\ntype = "null"\ninputs = ["cam"]\n')
    run = subprocess.run([sys.executable, "-m", "evrt.cli", "run", str(cfg), "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "no event camera found" in run.stderr and "evrt replay" in run.stderr
    assert "Traceback" not in run.stderr


def test_dv_stream_conversion_on_a_real_davis_recording() -> None:
    """The camera's read path (StreamPoller) on a DAVIS346 AEDAT4 file: every stream, real values."""
    path = shared_file("aedat4/aestream_davis.aedat4")
    rec = dv.io.MonoCameraRecording(str(path))
    poller = StreamPoller(rec, None)
    messages = list(read_streams([poller]))
    kinds: dict[str, list] = {}
    for m in messages:
        kinds.setdefault(m.stream, []).append(m)
    ev = concat_events([m.events for m in kinds["events"]])
    assert ev.size == 117_667 and int((ev["p"] == 1).sum()) == 72_363
    assert tuple(int(v) for v in (ev["t"][0], ev["x"][0], ev["y"][0], ev["p"][0])) == (
        1633953690975950, 218, 15, 1)
    assert poller.geometry.as_tuple() == (346, 260)
    frames = kinds["frames"]
    assert [f.t_start for f in frames] == [1633953690976518, 1633953691016518, 1633953691056518]
    assert frames[0].image.shape == (260, 346) and frames[0].meta["exposure_us"] == 4773
    imu = np.concatenate([m.samples for m in kinds["imu"]])
    assert imu.size == 130 and imu["t"][0] == 1633953690976628 and imu["t"][-1] == 1633953691105605
    trig = np.concatenate([m.triggers for m in kinds["triggers"]])
    assert trig.size == 15 and trig["t"][0] == 1633953690976518
    assert int(trig["type"][0]) == int(dv.TriggerType.APS_EXPOSURE_START)


# ---------------------------------------------------------------- network

PEER_WRITER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import dv_processing as dv
    ev_port, fr_port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    data = np.load(path)
    ev, frames, ftimes = data["events"], data["frames"], data["ftimes"]
    w = dv.io.NetworkWriter("127.0.0.1", ev_port, dv.io.Stream.EventStream(0, "events", "peer", (64, 48)))
    f = dv.io.NetworkWriter("127.0.0.1", fr_port, dv.io.Stream.FrameStream(0, "frames", "peer", (64, 48)))
    deadline = time.time() + 30
    while (w.getClientCount() < 1 or f.getClientCount() < 1) and time.time() < deadline:
        time.sleep(0.01)
    for chunk in np.array_split(np.arange(ev.size), 7):
        store = dv.EventStore()
        for i in chunk:
            store.push_back(int(ev["t"][i]), int(ev["x"][i]), int(ev["y"][i]), bool(ev["p"][i]))
        w.writeEvents(store)
    for img, t in zip(frames, ftimes):
        f.writeFrame(dv.Frame(int(t), img))
    while (w.getQueuedPacketCount() or f.getQueuedPacketCount()) and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)
    os._exit(0)  # NetworkWriter's destructor deadlocks with a client still connected
""")

PEER_READER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import dv_processing as dv
    port, path = int(sys.argv[1]), sys.argv[2]
    deadline = time.time() + 30
    while True:
        try:
            r = dv.io.NetworkReader("127.0.0.1", port)
            break
        except RuntimeError:
            if time.time() > deadline:
                raise
            time.sleep(0.02)
    parts = []
    while r.isRunning() and time.time() < deadline:
        b = r.getNextEventBatch()
        if b is None:
            time.sleep(0.001)
            continue
        parts.append(b.numpy().tobytes())
    while (b := r.getNextEventBatch()) is not None:
        parts.append(b.numpy().tobytes())
    open(path, "wb").write(b"".join(parts))
    print("resolution", r.getEventResolution(), "camera", r.getCameraName())
""")


def test_network_source_receives_every_event_from_a_dv_network_writer(tmp_path: Path) -> None:
    events = PatternSource("rotating_disk", width=64, height=48, duration=0.2, noise_rate=5e4,
                           seed=2).all_events()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 48, 64), dtype=np.uint8)
    ftimes = np.array([1000, 51000, 101000])
    np.savez(tmp_path / "peer.npz", events=events, frames=frames, ftimes=ftimes)
    ev_port, fr_port = free_port(), free_port()
    peer = subprocess.Popen([sys.executable, "-c", PEER_WRITER, str(ev_port), str(fr_port),
                             str(tmp_path / "peer.npz")])
    try:
        sink = Collect()
        g = Graph("net-in")
        g.add("net", "dv_network", port=ev_port, extra_ports=[fr_port], connect_timeout=20.0)
        g.add("out", sink, inputs=["net"])
        g.run()
        got = sink.got
        assert peer.wait(30) == 0
    finally:
        peer.kill()
    packets = [m for m in got if m.stream == "events"]
    received = concat_events([m.events for m in packets])
    assert events.size > 5000
    assert received.size == events.size
    assert packed(received) == packed(events)
    assert packets[0].geometry.as_tuple() == (64, 48)
    got_frames = [m for m in got if isinstance(m, Frame)]
    assert [f.t_start for f in got_frames] == ftimes.tolist()
    assert all((f.image == img).all() for f, img in zip(got_frames, frames, strict=True))


def test_dv_server_sink_serves_every_event_to_a_dv_network_reader(tmp_path: Path) -> None:
    src = dict(pattern="moving_bar", width=80, height=60, duration=0.3, noise_rate=2e4, seed=5)
    expected = PatternSource(**src).all_events()
    port = free_port()
    out = tmp_path / "received.bin"
    peer = subprocess.Popen([sys.executable, "-c", PEER_READER, str(port), str(out)],
                            stdout=subprocess.PIPE, text=True)
    try:
        g = Graph("net-out")
        g.add("src", "synthetic", **src)
        g.add("dv", "dv_server", inputs=["src"], port=port, wait_clients=1, wait_timeout=30.0,
              linger=1.0, camera_name="evrt-test")
        g.run()
        stdout, _ = peer.communicate(timeout=30)
    finally:
        peer.kill()
    assert peer.returncode == 0
    assert "(80, 60)" in stdout and "evrt-test" in stdout
    received = np.fromfile(out, EVENT_DTYPE)
    assert expected.size > 5000
    assert received.size == expected.size
    assert packed(received) == packed(expected)


PEER_FRAME_READER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import dv_processing as dv
    ev_port, port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    deadline = time.time() + 30

    def connect(p):
        while True:
            try:
                return dv.io.NetworkReader("127.0.0.1", p)
            except RuntimeError:
                if time.time() > deadline:
                    raise
                time.sleep(0.02)

    events = connect(ev_port)  # the sink waits for a client on each stream it serves
    r = connect(port)
    assert r.isFrameStreamAvailable() and events.isEventStreamAvailable()
    images, times = [], []
    while time.time() < deadline:
        events.getNextEventBatch()
        f = r.getNextFrame()
        if f is None:
            if not r.isRunning():
                break
            time.sleep(0.001)
            continue
        images.append(f.image.copy())
        times.append(f.timestamp)
    np.savez(path, images=np.stack(images), times=np.array(times))
""")


class FrameSource(Source):
    """Three known uint8 frames and one event packet."""

    def messages(self):
        rng = np.random.default_rng(1)
        for k in range(3):
            yield Frame(rng.integers(0, 256, (30, 40), dtype=np.uint8), "frames", 1000 * k, 1000 * k)
        yield EventPacket(PatternSource(width=40, height=30, duration=0.01).all_events(),
                          Geometry(40, 30))


def test_dv_server_sink_serves_frames_on_their_own_port(tmp_path: Path) -> None:
    ev_port, fr_port = free_port(), free_port()
    out = tmp_path / "frames.npz"
    peer = subprocess.Popen([sys.executable, "-c", PEER_FRAME_READER, str(ev_port), str(fr_port),
                             str(out)])
    try:
        g = Graph("frames-out")
        g.add("src", FrameSource())
        g.add("dv", "dv_server", inputs=["src"], port=ev_port, frames_port=fr_port, width=40,
              height=30, wait_clients=1, wait_timeout=30.0, linger=1.0)
        g.run()
        assert peer.wait(30) == 0
    finally:
        peer.kill()
    got = np.load(out)
    rng = np.random.default_rng(1)
    expected = [rng.integers(0, 256, (30, 40), dtype=np.uint8) for _ in range(3)]
    assert got["times"].tolist() == [0, 1000, 2000]
    assert all((a == b).all() for a, b in zip(got["images"], expected, strict=True))


def test_network_source_without_server_is_an_evrt_error() -> None:
    src = DvNetworkSource(port=free_port(), connect_timeout=0.2)
    with pytest.raises(EvrtError, match="no DV stream at tcp://127.0.0.1"):
        src.open(NodeContext("net"))

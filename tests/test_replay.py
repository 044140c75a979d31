"""Replay: the `file` source node in a graph, pacing, ranges, looping, and the CLI commands."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from conftest import shared_file

import evrt
from evrt.cli import main as cli
from evrt.events import EventPacket
from evrt.graph.node import Sink
from evrt.sinks.basic import EventChecksum
from evrt.sources.files import open_file
from evrt.sources.files.base import concat_exact
from evrt.sources.files.node import FileSource

TONIC = "aedat4/tonic_sample.aedat4"
DISK = "aedat2/PyAedatTools_IMU_rotDisk.aedat"


class Collect(Sink):
    """Keeps every message. (A node instance with required parameters, like CallbackSink,
    currently fails Graph.validate, which checks instances' empty params against the schema.)"""

    def __init__(self) -> None:
        self.got: list = []

    def process(self, message):
        self.got.append(message)


def _collect(path, **params):
    sink = Collect()
    g = evrt.Graph("replay-test")
    g.add("file", "file", path=str(path), **params)
    g.add("out", sink, inputs=["file"])
    result = g.run()
    return sink.got, result


def test_graph_delivers_every_event_in_order():
    path = shared_file(TONIC)
    with open_file(path) as r:
        whole = r.read_all()
    got, result = _collect(path, window_us=20_000)
    assert result.status == "completed"
    ev = concat_exact([m.events for m in got if isinstance(m, EventPacket)])
    a, b = EventChecksum(), EventChecksum()
    a.update(ev)
    b.update(whole)
    assert (a.count, a.hexdigest()) == (b.count, b.hexdigest())
    assert sum(len(m.samples) for m in got if m.stream == "imu") == 475
    for stream in ("events", "imu"):  # each stream in time order (streams interleave in file order)
        starts = [m.t_start for m in got if m.stream == stream]
        assert starts == sorted(starts)


def test_start_and_end_relative_to_first_event():
    path = shared_file(DISK)
    with open_file(path) as r:
        whole = r.read_all()
    t0 = int(whole["t"][0])
    got, _ = _collect(path, window_us=50_000, start_us=500_000, end_us=1_200_000, streams=["events"])
    ev = concat_exact([m.events for m in got])
    ref = EventPacket(whole, open_file(path).geometry).slice_time(t0 + 500_000, t0 + 1_200_000)
    assert ev.tobytes() == ref.events.tobytes()


def test_loop_keeps_time_increasing():
    path = shared_file(TONIC)
    src = FileSource(str(path), window_us=100_000, loop=True, streams=["events"])
    src.open(None)
    try:
        msgs = list(itertools.islice(src.messages(), 40))
    finally:
        src.close()
    assert src.loops_done >= 2
    t = np.concatenate([m.events["t"] for m in msgs])
    assert np.all(np.diff(t) >= 0)
    n_first = 111954
    first, second = t[:n_first], t[n_first:2 * n_first]
    assert second.size == n_first and np.all(second - first == second[0] - first[0])


def test_paced_replay_takes_at_least_the_scaled_duration_and_reports_lag():
    path = shared_file(TONIC)  # 0.59 s of recording
    wall = time.monotonic()
    got, result = _collect(path, window_us=10_000, speed=4.0, streams=["events"])
    wall = time.monotonic() - wall
    assert wall >= 0.589917 / 4 * 0.95
    assert "lag_ms" in result.nodes["file"] and result.nodes["file"]["lag_ms"] >= 0


def test_bad_parameters_are_config_errors():
    with pytest.raises(evrt.errors.ConfigError):
        FileSource("x", speed=-1)


def test_cli_info(capsys):
    assert cli(["info", str(shared_file(TONIC))]) == 0
    out = capsys.readouterr().out
    assert "aedat4" in out and "320 x 240" in out and "111,954" in out
    assert "1605537493718345 .. 1605537494308262" in out


def test_cli_info_unknown_file_is_an_error_not_a_traceback(tmp_path, capsys):
    p = tmp_path / "junk.bin"
    p.write_bytes(b"\x00" * 100)
    assert cli(["info", str(p)]) == 1
    err = capsys.readouterr().err
    assert "unknown file format" in err and "aedat4" in err and "Traceback" not in err


def test_cli_replay_as_fast_as_possible(capsys):
    assert cli(["replay", str(shared_file(TONIC)), "--speed", "0", "--quiet"]) == 0
    assert "replayed 111,954 events" in capsys.readouterr().err


def test_cli_convert_aedat2_to_aedat4(tmp_path):
    src = shared_file(DISK)
    out = tmp_path / "disk.aedat4"
    assert cli(["convert", str(src), str(out)]) == 0
    with open_file(src) as a, open_file(out) as b:
        assert b.format == "aedat4" and b.geometry == a.geometry
        assert b.read_all().tobytes() == a.read_all().tobytes()
        assert b.info()["counts"]["imu"] == 7384
    assert cli(["convert", str(src), str(out)]) == 2  # exists, no --force


def test_cli_convert_to_hdf5_needs_the_writer(tmp_path, capsys):
    try:
        import evrt.sinks.hdf5  # noqa: F401
    except ImportError:
        assert cli(["convert", str(shared_file(TONIC)), str(tmp_path / "x.h5")]) == 2
        assert "evrt.sinks.hdf5" in capsys.readouterr().err
    else:
        assert cli(["convert", str(shared_file(TONIC)), str(tmp_path / "x.h5")]) == 0
        with open_file(tmp_path / "x.h5") as r:
            assert r.info()["events"] == 111954

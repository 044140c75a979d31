"""Offline equivalents of the viewer: png and video sinks, `evrt plot-stats`, and `evrt view`."""

from __future__ import annotations

import json

import imageio.v2 as iio
import numpy as np
import pytest
from viewer_helpers import png_pixels

import evrt
from evrt.cli import main as cli
from evrt.errors import FormatError
from evrt.events import Geometry, make_events
from evrt.graph import registry
from evrt.sinks.imaging import events_rgb
from evrt.sinks.offline import EventFramer
from evrt.sources.synthetic.patterns import PatternSource

FRAME_US = 50_000


def _oracle_frames(events: np.ndarray, g: Geometry) -> list[np.ndarray]:
    """Pictures made with numpy alone, one per FRAME_US window from t = 0."""
    frames = []
    last = int(events["t"][-1]) // FRAME_US
    for k in range(last + 1):
        w = events[(events["t"] >= k * FRAME_US) & (events["t"] < (k + 1) * FRAME_US)]
        on = np.zeros((g.height, g.width), np.int64)
        off = np.zeros_like(on)
        np.add.at(on, (w["y"][w["p"] == 1], w["x"][w["p"] == 1]), 1)
        np.add.at(off, (w["y"][w["p"] == 0], w["x"][w["p"] == 0]), 1)
        frames.append(events_rgb(on, off))
    return frames


def test_framer_partitions_events_and_fills_gaps():
    g = Geometry(4, 4)
    ev = make_events([5, 10, 60, 310, 320], [0, 1, 2, 3, 0], [0, 0, 1, 1, 2], [1, 0, 1, 1, 0])
    from evrt.events import EventPacket

    framer = EventFramer(100)
    got = list(framer.push(EventPacket(ev[:3], g, "e", 0, 100)))
    got += list(framer.push(EventPacket(ev[3:], g, "e", 100, 400)))
    got += list(framer.flush())
    assert [t for t, _ in got] == [0, 100, 200, 300]
    assert [c.events for _, c in got] == [3, 0, 0, 2]


def test_png_and_gif_match_numpy_oracle(tmp_path):
    src = dict(pattern="rotating_disk", width=64, height=48, duration=0.3, window_us=7_000,
               noise_rate=5e4, seed=2)
    g = evrt.Graph("offline")
    g.add("source", "synthetic", **src)
    g.add("png", "png", inputs=["source"], directory=str(tmp_path / "png"), frame_us=FRAME_US)
    g.add("gif", "video", inputs=["source"], path=str(tmp_path / "v.gif"), frame_us=FRAME_US)
    g.add("mp4", "video", inputs=["source"], path=str(tmp_path / "{stream}.mp4"), frame_us=FRAME_US)
    assert g.run().status == "completed"
    oracle = _oracle_frames(PatternSource(**src).all_events(), Geometry(64, 48))
    files = sorted((tmp_path / "png").glob("events_*.png"))
    assert len(files) == len(oracle) == 6
    for f, want in zip(files, oracle, strict=True):
        assert np.array_equal(png_pixels(f.read_bytes()), want)
    gif = iio.mimread(tmp_path / "v.gif")
    assert len(gif) == len(oracle)
    assert all(np.array_equal(np.asarray(a)[..., :3], b) for a, b in zip(gif, oracle, strict=True))
    mp4 = iio.mimread(tmp_path / "events.mp4")
    assert len(mp4) == len(oracle) and mp4[0].shape == (48, 64, 3)
    # lossy (and chroma-subsampled), but the picture is still there: brightness correlates
    got, want = np.asarray(mp4[3], float).sum(axis=2), oracle[3].astype(float).sum(axis=2)
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.6


def test_video_rejects_unknown_suffix():
    with pytest.raises(evrt.errors.ConfigError):
        registry.build("video", {"path": "out.avi"}, node="v")


def test_plot_stats_from_a_real_run(tmp_path):
    stats = tmp_path / "stats.jsonl"
    g = evrt.Graph("stats", stats_interval=0.2)
    g.add("source", "synthetic", duration=1.0, speed=1.0)
    g.add("sink", "null", inputs=["source"])
    g.run(stats_json=str(stats))
    records = [json.loads(line) for line in stats.read_text().splitlines()]
    assert len(records) >= 3
    out = tmp_path / "stats.png"
    assert cli(["plot-stats", str(stats), str(out)]) == 0
    img = iio.imread(out)
    assert img.shape[0] > 500 and img.shape[1] > 500

    from evrt.commands.plot_stats import series

    s = series(records)
    assert set(s) == {"source", "sink"}
    # instantaneous rates: the synthetic bar runs at a steady rate, so mid-run samples agree
    rates = np.array(s["sink"]["events_per_s"][1:-1])
    assert rates.size and np.all(rates > 0)


def test_plot_stats_bad_file_is_format_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"time": 1, "nodes": {}}\nnot json\n')
    from evrt.commands.plot_stats import read_stats

    with pytest.raises(FormatError, match="byte 25"):
        read_stats(bad)
    assert cli(["plot-stats", str(bad), str(tmp_path / "x.png")]) == 1


def test_view_file_replays_recording(capsys):
    from conftest import shared_file

    path = shared_file("aedat4/tonic_sample.aedat4")
    assert cli(["view", str(path), "--speed", "0", "--port", "0", "--flow", "lossless"]) == 0
    err = capsys.readouterr().err
    shown = int(err.rsplit(":", 1)[1].split()[0])
    assert shown > 0


def test_view_synthetic_runs(capsys):
    assert cli(["view", "--synthetic", "moving_bar", "--duration", "0.3", "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert "http://127.0.0.1:" in err and "events shown" in err

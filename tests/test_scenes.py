"""Scenes on the simulator: digits_saccades, depth_scene, and the dataset files of `evrt dataset`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from evrt.sources.synthetic.depth_scene import (
    SKY,
    DepthScenes,
    Primitive,
    Scene,
    Trajectory,
    depth_clip,
    make_scene,
    simulate_scene,
)
from evrt.sources.synthetic.digits import (
    DigitsSaccades,
    digits_data,
    digits_sample,
    screen,
    split_indices,
)
from evrt.sources.synthetic.simulator import join_events
from evrt.sources.synthetic.store import StoredDataset

from evrt import Graph
from evrt.cli import main as cli
from evrt.errors import FormatError
from evrt.events import EventPacket, Geometry
from evrt.graph.node import Sink
from evrt.messages import Frame, TensorMsg


class Collect(Sink):
    def __init__(self) -> None:
        self.got: list = []

    def process(self, message) -> None:
        self.got.append(message)


# ---------------------------------------------------------------- digits

def test_digit_sample_is_deterministic_labelled_and_on_the_digit() -> None:
    ev, label = digits_sample(17, seed=3)
    ev2, _ = digits_sample(17, seed=3)
    other, _ = digits_sample(17, seed=4)
    assert ev.tobytes() == ev2.tobytes()
    assert ev.tobytes() != other.tobytes()
    assert label == int(digits_data()[1][17])
    assert ev["x"].min() >= 0 and ev["x"].max() < 34 and ev["y"].min() >= 0 and ev["y"].max() < 34
    assert ev["t"].min() >= 0 and ev["t"].max() <= 300_000 and (np.diff(ev["t"]) >= 0).all()
    assert 2_000 < ev.size < 30_000
    # the path is a closed triangle: brightening and darkening balance
    on = int((ev["p"] == 1).sum())
    assert abs(2 * on - ev.size) < 0.15 * ev.size
    # nearly all events lie where the moving digit has an edge (its support, grown by the saccade)
    from scipy.ndimage import binary_dilation

    support = binary_dilation(screen(17) > 0.05, iterations=3)
    assert support[ev["y"], ev["x"]].mean() > 0.97
    # each of the three saccades makes events
    counts = np.histogram(ev["t"], bins=[0, 100_000, 200_000, 300_001])[0]
    assert (counts > 0.15 * ev.size).all()


def test_digits_split_is_fixed_disjoint_and_stratified() -> None:
    train, test = split_indices("train"), split_indices("test")
    labels = digits_data()[1]
    assert train.size == 1442 and test.size == 355
    assert np.intersect1d(train, test).size == 0 and train.size + test.size == labels.size
    per_class = np.bincount(labels[test], minlength=10)
    assert per_class.min() >= 34 and per_class.max() <= 36
    ds = DigitsSaccades("test")
    assert len(ds) == 355 and ds.labels.tolist() == labels[test].tolist()


def test_digits_source_emits_one_packet_per_sample_with_label_meta() -> None:
    sink = Collect()
    g = Graph("digits")
    g.add("src", "digits_saccades", split="test", samples=3, start=2)
    g.add("out", sink, inputs=["src"])
    g.run()
    packets = [m for m in sink.got if isinstance(m, EventPacket)]
    assert len(packets) == 3
    test = split_indices("test")
    labels = digits_data()[1]
    for k, p in enumerate(packets):
        assert p.meta["split"] == "test" and p.meta["index"] == int(test[2 + k])
        assert p.meta["label"] == int(labels[test[2 + k]])
        assert (p.t_start, p.t_end) == (k * 301_000, k * 301_000 + 300_001)
        assert p.geometry == Geometry(34, 34)
        ev, _ = digits_sample(int(test[2 + k]))
        assert (p.events["t"] - k * 301_000).tobytes() == ev["t"].tobytes()


# ---------------------------------------------------------------- depth

def still() -> Trajectory:
    zero = (0.0, 0.0, 0.0)
    return Trajectory(forward=0.0, sway=zero, bob=zero, yaw=zero, pitch=zero)


def test_pinhole_depth_of_known_planes() -> None:
    g = Geometry(40, 30)
    wall = Scene([Primitive("plane_z", 0, 1.0, 50.0, 7.5)], still(), g, 30.0)
    _, depth = wall.render(0)
    assert np.allclose(depth, 7.5)  # depth is camera-frame z, not distance along the ray
    floor = Scene([Primitive("plane_y", 2, 1.0, 50.0, 1.5)], still(), g, 30.0)
    image, depth = floor.render(0)
    rows = np.arange(30) - floor.cy
    expected = np.where(rows > 0, 1.5 * 30.0 / np.where(rows > 0, rows, 1), np.nan)
    assert np.allclose(depth[:, 5], expected, equal_nan=True)
    assert np.isnan(depth[: int(floor.cy)]).all() and (image[: int(floor.cy)] == SKY).all()


def test_numba_ray_caster_matches_the_numpy_one() -> None:
    s = make_scene(seed=1, scene=2, width=96, height=72)
    a_img, a_depth = s.render(123_456)
    b_img, b_depth = s.render_numpy(123_456)
    assert np.array_equal(np.isnan(a_depth), np.isnan(b_depth))
    assert np.isnan(a_depth).any() and np.isfinite(a_depth).mean() > 0.5
    assert np.nanmax(np.abs(a_depth - b_depth)) < 1e-4
    # texture lookups differ (mip-mapped vs plain bilinear) but only where texture is minified
    assert np.median(np.abs(a_img - b_img)) < 0.05


def test_still_camera_without_noise_makes_no_events() -> None:
    s = make_scene(seed=0, scene=0, width=64, height=48)
    s.trajectory = still()
    quiet = dict(shot_noise_rate=0.0, leak_rate=0.0)
    windows = list(simulate_scene(s, 100_000, sim_params=quiet, window_us=20_000))
    assert sum(ev.size for _, _, ev, _ in windows) == 0
    assert [t for *_, samples in windows for t, _, _ in samples] == [0, 50_000, 100_000]


def test_depth_scene_source_streams_events_depth_and_frames() -> None:
    sink = Collect()
    g = Graph("depth")
    g.add("src", "depth_scene", width=64, height=48, duration=0.2, depth_rate=20.0,
          window_us=25_000, seed=4)
    g.add("out", sink, inputs=["src"])
    g.run()
    depth = [m for m in sink.got if isinstance(m, TensorMsg)]
    frames = [m for m in sink.got if isinstance(m, Frame)]
    packets = [m for m in sink.got if isinstance(m, EventPacket)]
    assert [d.t_start for d in depth] == list(range(0, 200_001, 50_000))
    assert [f.t_start for f in frames] == [d.t_start for d in depth]
    assert all(d.stream == "depth" and d.data.shape == (48, 64) and d.data.dtype == np.float32
               for d in depth)
    assert depth[0].meta["units"] == "m" and depth[0].meta["fx"] > 0
    finite = np.concatenate([d.data[np.isfinite(d.data)] for d in depth])
    assert finite.min() > 0.5 and finite.max() < 60
    assert [(p.t_start, p.t_end) for p in packets] == [
        (a, a + 25_000 + (a == 175_000)) for a in range(0, 200_000, 25_000)]
    ev = join_events([p.events for p in packets])
    assert ev.size > 1000 and (np.diff(ev["t"]) >= 0).all()
    for p in packets:
        assert p.events.size == 0 or (p.t_start <= p.events["t"].min() and p.events["t"].max() < p.t_end)
    # a depth map at t comes after every event before t
    seen = 0
    for m in sink.got:
        if isinstance(m, EventPacket):
            seen += len(m)
        elif isinstance(m, TensorMsg):
            assert seen >= int((ev["t"] < m.t_start).sum())
    # the same scene through the dataset API gives the same events and depth
    ev2, t2, d2 = depth_clip(0, seed=4, duration=0.2, width=64, height=48)
    assert ev2.tobytes() == ev.tobytes()
    assert t2.tolist() == [d.t_start for d in depth]
    assert np.array_equal(d2, np.stack([d.data for d in depth]), equal_nan=True)


# ---------------------------------------------------------------- dataset files

def test_dataset_command_round_trip_digits(tmp_path: Path) -> None:
    out = tmp_path / "digits.h5"
    assert cli(["dataset", "digits_saccades", str(out), "--samples", "3", "--split", "test",
                "--seed", "2", "--quiet"]) == 0
    stored = StoredDataset(str(out))
    live = DigitsSaccades("test", seed=2)
    assert len(stored) == 3 and stored.scene == "digits_saccades"
    for i in range(3):
        ev, label = stored[i]
        ev_live, label_live = live[i]
        assert label == label_live and ev.tobytes() == ev_live.tobytes()
    assert stored.indices.tolist() == live.indices[:3].tolist()
    assert (tmp_path / "digits.h5.png").stat().st_size > 1000


def test_dataset_command_round_trip_depth(tmp_path: Path) -> None:
    out = tmp_path / "depth.h5"
    assert cli(["dataset", "depth_scene", str(out), "--samples", "2", "--duration", "0.1",
                "--width", "48", "--height", "36", "--quiet"]) == 0
    stored = StoredDataset(str(out))
    live = DepthScenes(2, duration=0.1, width=48, height=36)
    for i in range(2):
        ev, t, depth = stored[i]
        ev_live, t_live, depth_live = live[i]
        assert ev.tobytes() == ev_live.tobytes()
        assert t.tolist() == t_live.tolist() == [0, 50_000, 100_000]
        assert depth.shape == (3, 36, 48) and np.array_equal(depth, depth_live, equal_nan=True)
    assert (tmp_path / "depth.h5.png").stat().st_size > 1000


def test_stored_dataset_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(FormatError):
        StoredDataset(str(bad))


def test_sampling_step_bounds_image_motion_to_one_pixel() -> None:
    """Reproject every visible point to the next sample time: it moved at most max_px pixels."""
    s = make_scene(seed=2, scene=5, width=96, height=72, duration=1.0)
    v, u = np.mgrid[0:72, 0:96].astype(np.float64)
    for t in (0, 130_000, 470_000, 800_000):
        _, depth = s.render(t)
        dt = s.step_us(1.0)
        assert dt > 200  # and not absurdly small
        rot, o = s.trajectory.pose(t / 1e6)
        rot2, o2 = s.trajectory.pose((t + dt) / 1e6)
        ok = np.isfinite(depth)
        cam = s.rays.reshape(72, 96, 3)[ok] * depth[ok, None]
        world = cam @ rot.T + o
        cam2 = (world - o2) @ rot2
        u2 = s.focal * cam2[:, 0] / cam2[:, 2] + s.cx
        v2 = s.focal * cam2[:, 1] / cam2[:, 2] + s.cy
        moved = np.hypot(u2 - u[ok], v2 - v[ok])
        assert moved.max() <= 1.0 + 1e-6
        assert moved.max() > 0.1  # the bound is not wildly conservative

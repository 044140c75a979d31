"""The depth node in a graph: event windows -> depth maps on digital / crossbar, early stop, PNG sink."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evrt import Graph
from evrt.errors import ConfigError
from evrt.messages import TensorMsg
from evrt.models.depth import DepthNet, DepthNetConfig
from evrt.models.depth_infer import DepthPredictor, load_checkpoint, save_checkpoint
from evrt.sinks.basic import CallbackSink
from evrt.sinks.depth_png import DepthPngSink, colorize_depth

CFG = DepthNetConfig(base_channels=4, levels=2, res_blocks=1, timesteps=4)


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, DepthNet(CFG), train_config={
        "data": {"representation": "cumulative", "scale": 2, "window_us": 20_000}})
    return path


def _run(checkpoint, tmp_path, **node):
    got: list = []
    g = Graph("depth-test")
    g.add("source", "synthetic", pattern="moving_bar", width=48, height=32, duration=0.1,
          window_us=10_000, noise_rate=2000.0)
    g.add("depth", "depth", inputs=["source"], weights=str(checkpoint), threads=1, **node)
    g.add("png", "depth_png", inputs=["depth", "source"], directory=str(tmp_path / "png"),
          video=str(tmp_path / "depth.gif"))
    g.add("collect", CallbackSink(got.append), inputs=["depth"])
    g.run()
    return [m for m in got if isinstance(m, TensorMsg)]


def test_depth_node_writes_a_depth_map_per_window(checkpoint, tmp_path):
    maps = _run(checkpoint, tmp_path)
    assert len(maps) == 5  # 100 ms in complete 20 ms windows
    for m in maps:
        assert m.data.shape == (16, 24) and m.data.dtype == np.float32  # scale 2 from the checkpoint
        dmin = 80 * np.exp(-3.70378)
        assert np.all((m.data >= dmin - 1e-3) & (m.data <= 80.0))
        assert m.meta["timesteps"] == m.meta["timesteps_max"] == 4
    assert [m.t_start for m in maps] == [0, 20_000, 40_000, 60_000, 80_000]
    pngs = sorted((tmp_path / "png").glob("depth_*.png"))
    assert len(pngs) == 5 and (tmp_path / "depth.gif").stat().st_size > 0
    import imageio.v3 as iio

    assert iio.imread(pngs[0]).shape == (16, 48, 3)  # event panel beside the depth map


def test_depth_node_on_the_crossbar_with_early_stop(checkpoint, tmp_path):
    digital = _run(checkpoint, tmp_path / "a")
    crossbar = _run(checkpoint, tmp_path / "b", backend={"name": "crossbar"})
    # an ideal crossbar (no noise, no quantisation) computes what the digital backend does
    for d, c in zip(digital, crossbar, strict=True):
        assert np.allclose(d.data, c.data, rtol=1e-3, atol=1e-3)
    stopped = _run(checkpoint, tmp_path / "c", early_stop_tol=1.0)  # everything 'converges'
    assert all(m.meta["timesteps"] == 2 for m in stopped)  # min_steps = 2, then stop


def test_streaming_predictor_equals_the_full_run_and_weights_load(checkpoint):
    model, ckpt = load_checkpoint(checkpoint)
    assert ckpt["train_config"]["data"]["scale"] == 2 and model.cfg == CFG
    x = np.random.default_rng(0).random((4, 2, 16, 24)).astype(np.float32)
    from evrt.backends.early_stop import ConvergencePolicy

    full, steps = DepthPredictor(model).predict(x)
    never_met = ConvergencePolicy(tol=-1.0, k=1)  # a negative tolerance is never met
    never, steps2 = DepthPredictor(model, early_stop=never_met).predict(x)
    assert steps == steps2 == 4 and torch.allclose(full, never, atol=1e-6)
    with pytest.raises(ConfigError, match="does not exist"):
        load_checkpoint("/nonexistent.pt")


def test_colour_map_and_sink_config_errors():
    rgb = colorize_depth(np.array([[2.0, 80.0, np.nan]]))
    assert rgb.shape == (1, 3, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].sum() > rgb[0, 1].sum()  # near is brighter than far
    assert rgb[0, 2].tolist() == [0, 0, 0]  # unknown depth is black
    with pytest.raises(ConfigError, match="gif"):
        DepthPngSink("x", video="out.mp4")
    with pytest.raises(ConfigError, match="colour map"):
        DepthPngSink("x", cmap="nope")

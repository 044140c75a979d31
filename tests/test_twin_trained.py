"""The shipped twin weights: beat persistence on held-out signals, digital and crossbar; the
`twin` graph node follows a live stream; weight files and commands."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evrt.backends import make_backend, use_backend
from evrt.errors import ConfigError, FormatError
from evrt.graph.node import Sink
from evrt.models.twin import hp_memristor as hp
from evrt.models.twin import twins
from evrt.models.twin.metrics import nrmse

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def hp_twin():
    return twins.load(kind="hp")


@pytest.fixture(scope="module")
def lorenz_twin():
    return twins.load(kind="lorenz96")


def test_shipped_weights_are_small_and_documented():
    for kind in twins.KINDS:
        path = twins.default_weights(kind)
        assert path.stat().st_size < 1_000_000
        twin = twins.load(path)
        assert twin.kind == kind and twin.cfg.seed == 0
        assert "evrt train twin" in twin.info["command"]


def test_hp_twin_beats_persistence_on_unseen_drives(hp_twin):
    r = twins.evaluate_hp(hp_twin)  # drives with frequencies, amplitudes and shapes not trained on
    assert len(r.drives) >= 8
    assert np.all(r.nrmse_x < r.persistence_nrmse_x / 4)
    assert r.nrmse_x.mean() < 0.05


def test_hp_twin_on_a_noisy_crossbar_beats_persistence(hp_twin):
    drives = [hp.Sine(0.9, 0.6), hp.Triangle(1.1, 1.2), hp.PulseTrain(1.0, period=0.9, duty=0.35)]
    twin = twins.load(kind="hp")
    use_backend(twin.model, make_backend("crossbar", read_noise=0.02, prog_noise=0.005,
                                         dac_bits=8, adc_bits=8))
    r = twins.evaluate_hp(twin, drives)
    assert np.all(r.nrmse_x < r.persistence_nrmse_x / 2)


def test_lorenz_twin_forecasts_beyond_a_lyapunov_time(lorenz_twin):
    r = twins.evaluate_lorenz(lorenz_twin, n_initial=4, horizon=3.0)
    assert np.all(r.vpt_lyapunov > r.persistence_vpt_lyapunov)
    assert r.vpt_lyapunov.mean() >= 1.0


class Collect(Sink):
    """Keeps every message (an instance; the foundation's `callback` sink trips config validation)."""

    def __init__(self, into: list | None = None) -> None:
        self.into = into if into is not None else []

    def process(self, message):
        self.into.append(message)


def test_twin_node_follows_a_live_hp_stream():
    from evrt.graph.api import Graph

    inputs, outputs = [], []
    g = Graph("twin-test")
    g.add("device", "hp_device", drive="triangle", amplitude=1.0, freq=0.9, duration=3.0,
          chunk=37, x0=0.3)
    g.add("tap", Collect(inputs), inputs=["device"])
    g.add("twin", "twin", inputs=["device"], kind="hp", x0=0.3)
    g.add("out", Collect(outputs), inputs=["twin"])
    g.run()
    got = np.concatenate([m.data for m in outputs if hasattr(m, "data")])
    true = np.concatenate([m.data for m in inputs if hasattr(m, "data")])
    assert got.shape == (true.shape[0], 2) and true.shape[0] == 301
    assert outputs[0].meta["columns"] == ["x", "i"]
    # chunked streaming (37 samples a message) follows the device across message boundaries
    assert nrmse(got[:, 0], true[:, 2]) < 0.05
    assert nrmse(got[:, 1], true[:, 1]) < 0.1


def test_twin_node_lorenz96_chunks_equal_one_solve(lorenz_twin):
    from evrt.messages import TensorMsg
    from evrt.models.twin.node import Lorenz96Source, TwinNode

    msgs = list(Lorenz96Source(duration=1.0, chunk=30).messages())
    node = TwinNode(kind="lorenz96")
    node.open(None)
    out = np.concatenate([node.process(m)[0].data for m in msgs])
    true = np.concatenate([m.data for m in msgs])
    assert out.shape == true.shape == (101, 40)
    np.testing.assert_array_equal(out[0], true[0])
    # one uninterrupted solve gives the same forecast as the chunked stream
    from evrt.models.twin.node_ode import odeint_fixed

    with torch.no_grad():
        whole = odeint_fixed(lorenz_twin.model, torch.from_numpy(true[:1]),
                             torch.arange(101, dtype=torch.float32) * 0.01)[0].numpy()
    np.testing.assert_allclose(out, whole, atol=1e-4)
    with pytest.raises(ConfigError):
        node.process(TensorMsg(np.zeros((5, 7), np.float32), meta={"dt": 0.01}))


def test_projection_is_labelled_and_counts_real_work(hp_twin):
    proj = twins.projection(hp_twin, steps=50)
    d = proj.to_dict()
    assert d["label"] == "projected" and proj.field_evaluations == 200
    assert proj.crossbar_pj > 0 and proj.digital_pj > 0 and proj.speedup > 0
    assert "PROJECTED" in proj.text() and "166.5" in proj.text()


def test_bad_weight_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(FormatError):
        twins.load(bad)
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(FormatError):
        twins.load(tmp_path / "other.pt")
    with pytest.raises(ConfigError):
        twins.load(tmp_path / "missing.pt")
    with pytest.raises(ConfigError):
        twins.config_for("hp", hiden=(3,))


def test_train_and_eval_commands(tmp_path, capsys):
    from evrt.cli import main

    out = tmp_path / "tiny.pt"
    assert main(["train", "twin", "hp", "--out", str(out), "--pretrain-iters", "30", "--iters", "2",
                 "--set", "hidden=8,8", "--set", "n_random_train=2"]) == 0
    assert twins.load(out).cfg.hidden == (8, 8)
    assert main(["eval", "twin", "hp", "--weights", str(out), "--json",
                 str(tmp_path / "r.json")]) == 0
    assert "NRMSE" in capsys.readouterr().out
    assert main(["eval", "twin", "lorenz96", "--weights", str(out)]) == 2  # wrong kind: a ConfigError

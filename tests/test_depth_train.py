"""Depth training: MVSEC-format files round trip, loss goes down, the CLI trains, resumes, evaluates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from evrt.cli import main as evrt_main
from evrt.errors import ConfigError, FormatError
from evrt.events import EVENT_DTYPE, concat_events
from evrt.models.depth import DepthNet, DepthNetConfig
from evrt.models.depth_data import MvsecDepthFile, write_mvsec
from evrt.models.depth_train import _batch_loss, build_samples, load_config

W, H = 24, 16


def _tiny_sequence(tmp_path, frames=6, seed=0):
    """A near square (3 m, many events) in front of a far wall (12 m, few events), MVSEC layout."""
    rng = np.random.default_rng(seed)
    ts = np.arange(1, frames + 1) * 50_000
    depth = np.full((frames, H, W), 12.0, np.float32)
    evs = []
    for k, t1 in enumerate(ts):
        x0 = 2 + 2 * k
        depth[k, 4:12, x0:x0 + 8] = 3.0
        depth[k, 0, :] = np.nan  # unknown ground truth, as in MVSEC
        near = rng.integers(0, 8, (300, 2))
        far = np.stack([rng.integers(0, H, 40), rng.integers(0, W, 40)], 1)
        pts = np.concatenate([near + [4, x0], far])
        e = np.zeros(len(pts), EVENT_DTYPE)
        e["t"] = np.sort(rng.integers(t1 - 50_000, t1, len(pts)))
        e["y"], e["x"] = pts[:, 0], pts[:, 1]
        e["p"] = rng.integers(0, 2, len(pts))
        evs.append(e[np.argsort(e["t"], kind="stable")])
    events = concat_events(evs)
    data, gt = tmp_path / f"seq{seed}_data.hdf5", tmp_path / f"seq{seed}_gt.hdf5"
    write_mvsec(data, gt, events, depth, ts)
    return data, gt, events, depth


def test_mvsec_files_round_trip_by_time_range(tmp_path):
    data, gt, events, depth = _tiny_sequence(tmp_path)
    with MvsecDepthFile(data, gt) as f:
        got = f.events_between(0.1, 0.15)
        want = events[(events["t"] >= 100_000) & (events["t"] < 150_000)]
        assert np.array_equal(got["t"], want["t"]) and np.array_equal(got["x"], want["x"])
        samples = list(f.samples(window_us=50_000, steps=3))
    assert len(samples) == 6
    x, d, t = samples[2]
    assert x.shape == (3, 2, H, W) and d.shape == (H, W) and t == 150_000
    assert np.isnan(d[0]).all() and d[5, 7] == 3.0
    assert x[-1].sum() > x[0].sum()  # cumulative stacking grows with the steps


def test_bad_mvsec_files_get_evrt_errors(tmp_path):
    import h5py

    bad = tmp_path / "x_data.hdf5"
    with h5py.File(bad, "w") as f:
        f["davis/left/nothing"] = np.zeros(3)
    _, gt, _, _ = _tiny_sequence(tmp_path)
    with pytest.raises(FormatError, match="davis/left/events"):
        MvsecDepthFile(bad, gt)
    with pytest.raises(ConfigError, match="does not exist"):
        MvsecDepthFile(tmp_path / "missing.hdf5", gt)


def test_a_few_training_steps_lower_the_loss(tmp_path):
    data, gt, _, _ = _tiny_sequence(tmp_path)
    cfg = load_config({"model": {"base_channels": 4, "levels": 2, "res_blocks": 1, "timesteps": 3},
                       "data": {"kind": "mvsec", "train": [{"data": str(data), "gt": str(gt)}]}})
    samples = build_samples(cfg["data"], "train", 3)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = DepthNet(DepthNetConfig.from_dict(cfg["model"]))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    x, d = torch.from_numpy(samples.x), torch.from_numpy(samples.depth)
    losses = []
    for _ in range(25):
        loss = _batch_loss(model, x, d, 0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3])


def test_train_resume_and_eval_commands(tmp_path, capsys):
    data, gt, _, _ = _tiny_sequence(tmp_path, seed=0)
    vdata, vgt, _, _ = _tiny_sequence(tmp_path, seed=1)
    config = tmp_path / "train.toml"
    config.write_text(f"""
[model]
base_channels = 4
levels = 2
res_blocks = 1
timesteps = 3
[data]
kind = "mvsec"
train = [{{data = "{data}", gt = "{gt}"}}]
val = [{{data = "{vdata}", gt = "{vgt}"}}]
[train]
epochs = 1
batch_size = 3
crop = [16, 16]
out = "{tmp_path / 'run'}"
""")
    assert evrt_main(["train", "depth", "--config", str(config)]) == 0
    first = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert first["epoch"] == 1 and (tmp_path / "run" / "best.pt").is_file()
    assert evrt_main(["train", "depth", "--config", str(config), "--resume",
                      "--set", "train.epochs=2"]) == 0
    second = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert second["epoch"] == 2
    assert not torch.equal(first["model"]["head.0.weight"], second["model"]["head.0.weight"])
    err = capsys.readouterr().err
    assert "resumed from" in err and "epoch 2/2" in err
    out_json = tmp_path / "eval.json"
    assert evrt_main(["eval", "depth", "--config", str(config), "--checkpoint",
                      str(tmp_path / "run" / "last.pt"), "--early-stop", "0.02",
                      "--json", str(out_json), "--plots", str(tmp_path / "plots")]) == 0
    res = json.loads(out_json.read_text())[str(tmp_path / "run" / "last.pt")]
    assert set(res["metrics"]) == {"all", "10m", "20m", "30m"}
    assert 1 <= res["early_stop"]["mean_steps"] <= 3
    assert res["ops"]["ann_macs_per_window"] > 0 and len(res["ops"]["spike_rates"]) > 0
    assert (tmp_path / "plots" / "depth_000.png").is_file()
    assert "mean_abs" in capsys.readouterr().out
    assert evrt_main(["train", "depth", "--config", str(config), "--set", "train.bogus=1"]) == 2

"""The shipped depth weights: made by `evrt train depth --config configs/depth_train.toml`;
they must beat a constant-depth predictor on synthetic scenes never seen in training."""

from __future__ import annotations

import torch

from evrt.models.depth_eval import evaluate
from evrt.models.depth_infer import BUILTIN_WEIGHTS, load_checkpoint
from evrt.models.depth_scene_data import scene_samples


def test_shipped_weights_beat_a_constant_depth_on_held_out_scenes():
    assert BUILTIN_WEIGHTS.is_file(), "the package ships trained depth weights"
    torch.set_num_threads(1)
    model, ckpt = load_checkpoint("builtin")
    assert model.spiking and ckpt["seed"] == 0 and ckpt["train_config"]["data"]["kind"] == "depth_scene"
    data = {**ckpt["train_config"]["data"], "cache": "", "val_scenes": [2000, 2001]}
    samples = scene_samples(data, "val", model.cfg.timesteps)
    res = evaluate(model, samples, ops=False)
    ours, const = res["metrics"]["all"], res["constant_median_metrics"]["all"]
    # the constant is an oracle: the median of these very scenes' ground truth
    assert ours["abs_rel"] < const["abs_rel"]
    assert ours["mean_abs"] < const["mean_abs"]
    assert ours["delta1"] > const["delta1"]
    assert res["mean_abs_per_step"][-1] < res["mean_abs_per_step"][0]  # more steps, better depth

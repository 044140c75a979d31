"""`evrt train depth` / `evrt eval depth`: MSS-DepthNet (or its ANN twin) on depth scenes or MVSEC files.

Config (TOML):

    [model]   DepthNetConfig fields (base_channels, levels, res_blocks, timesteps, decay, ...)
    [data]    kind = "depth_scene" | "mvsec", representation, window_us, scale, and the
              source's own keys (see `build_samples`)
    [train]   spiking, epochs, batch_size, lr, crop, seed, out, threads, log_every,
              step_weight, init (a checkpoint to fine-tune from), device ("auto" = CUDA
              when torch sees a GPU, else the CPU; "cpu", "cuda", "cuda:N")

Checkpoints: OUT/last.pt after every epoch (model, optimizer, epoch, RNG states, configs),
OUT/best.pt for the lowest validation mean absolute depth error; `--resume` continues
from OUT/last.pt bit-for-bit in the order of batches. Checkpoints hold CPU tensors whatever
the training device, so they load anywhere.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evrt.devices import check_device, model_device, resolve_device, to_cpu
from evrt.errors import ConfigError
from evrt.models.depth import DepthNet, DepthNetConfig, count_parameters, depth_to_log
from evrt.models.depth_data import DepthSamples, MvsecDepthFile, stack_samples
from evrt.models.depth_infer import load_checkpoint, save_checkpoint
from evrt.models.training_config import apply_overrides, read_training_toml
from evrt.snn.functional import reset_net

__all__ = ["load_config", "build_samples", "depth_loss", "train", "train_main", "eval_main"]

TRAIN_DEFAULTS: dict[str, Any] = {
    "spiking": True, "epochs": 10, "batch_size": 4, "lr": 2e-3, "weight_decay": 0.0,
    "crop": [64, 64], "seed": 0, "out": "runs/depth", "threads": 1, "log_every": 20,
    "step_weight": 0.5, "init": "", "device": "auto",
}
DATA_DEFAULTS: dict[str, Any] = {
    "kind": "depth_scene", "representation": "cumulative", "window_us": 50_000, "scale": 1,
}


def load_config(path: str | Path | dict, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read the TOML, apply `section.key=value` overrides, fill defaults, check keys."""
    raw = dict(path) if isinstance(path, dict) else read_training_toml(path)
    cfg = {s: dict(raw.get(s, {})) for s in ("model", "data", "train")}
    unknown = set(raw) - set(cfg)
    if unknown:
        raise ConfigError(f"unknown tables {sorted(unknown)}; expected [model], [data], [train]")
    apply_overrides(cfg, overrides)
    for k in set(cfg["train"]) - set(TRAIN_DEFAULTS):
        raise ConfigError(f"unknown [train] key; known: {sorted(TRAIN_DEFAULTS)}", key=f"train.{k}")
    cfg["train"] = {**TRAIN_DEFAULTS, **cfg["train"]}
    cfg["data"] = {**DATA_DEFAULTS, **cfg["data"]}
    check_device(cfg["train"]["device"], "train.device")
    DepthNetConfig.from_dict(cfg["model"])  # validates keys
    return cfg


def _scene_samples(data: dict[str, Any], split: str, steps: int) -> DepthSamples:
    from evrt.models.depth_scene_data import scene_samples

    return scene_samples(data, split, steps)


def _mvsec_samples(data: dict[str, Any], split: str, steps: int) -> DepthSamples:
    files = data.get(split)
    if not files:
        raise ConfigError(f"[data] needs a '{split}' list of {{data=, gt=, start=, stop=, stride=}} "
                          "MVSEC file pairs", key=f"data.{split}")
    samples = []
    for entry in files:
        with MvsecDepthFile(entry["data"], entry["gt"], entry.get("side", "left"),
                            entry.get("depth_key", "depth_image_rect")) as f:
            samples.extend(f.samples(window_us=int(data["window_us"]), steps=steps,
                                     representation=data["representation"],
                                     scale=int(data["scale"]), start=int(entry.get("start", 0)),
                                     stop=entry.get("stop"), stride=int(entry.get("stride", 1))))
    return stack_samples(samples)


def build_samples(data: dict[str, Any], split: str, steps: int) -> DepthSamples:
    """Encoded samples of one split ('train' or 'val') of the configured source."""
    kind = data["kind"]
    if kind == "mvsec":
        return _mvsec_samples(data, split, steps)
    if kind == "depth_scene":
        return _scene_samples(data, split, steps)
    raise ConfigError(f"unknown data kind {kind!r}; expected 'depth_scene' or 'mvsec'", key="data.kind")


def depth_loss(pred_log: torch.Tensor, gt_depth: torch.Tensor, cfg: DepthNetConfig) -> torch.Tensor:
    """L1 + scale-invariant + gradient-matching loss on normalised log depth, valid pixels only.

    pred_log [B, 1, H, W] in [0, 1]; gt_depth [B, H, W] metres (NaN unknown).
    """
    valid = torch.isfinite(gt_depth) & (gt_depth > 0)
    gt_log = depth_to_log(torch.nan_to_num(gt_depth, nan=1.0), cfg.dmax, cfg.alpha)
    r = (pred_log[:, 0] - gt_log) * valid
    n = valid.sum().clamp(min=1)
    l1 = r.abs().sum() / n
    si = (r ** 2).sum() / n - (r.sum() / n) ** 2
    gx_valid = valid[..., 1:] & valid[..., :-1]
    gy_valid = valid[..., 1:, :] & valid[..., :-1, :]
    gx = ((r[..., 1:] - r[..., :-1]).abs() * gx_valid).sum() / gx_valid.sum().clamp(min=1)
    gy = ((r[..., 1:, :] - r[..., :-1, :]).abs() * gy_valid).sum() / gy_valid.sum().clamp(min=1)
    return l1 + si + 0.5 * (gx + gy)


def _batch_loss(model: DepthNet, x: torch.Tensor, d: torch.Tensor, step_weight: float) -> torch.Tensor:
    """Loss of the final prediction, plus `step_weight` x the mean loss of the earlier steps
    (so that early outputs are usable too, which is what early stop relies on)."""
    reset_net(model)
    out = model(x.transpose(0, 1))  # [T, B, 1, H, W]
    loss = depth_loss(out[-1], d, model.cfg)
    if model.spiking and step_weight > 0 and out.shape[0] > 1:
        loss = loss + step_weight * torch.stack([depth_loss(o, d, model.cfg) for o in out[:-1]]).mean()
    return loss


def _random_crop(x: np.ndarray, d: np.ndarray, crop: tuple[int, int], rng: np.random.Generator):
    h, w = d.shape[-2:]
    ch, cw = min(crop[0], h), min(crop[1], w)
    i, j = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    xs, ds = x[..., i:i + ch, j:j + cw], d[..., i:i + ch, j:j + cw]
    if rng.random() < 0.5:
        xs, ds = xs[..., ::-1], ds[..., ::-1]
    return np.ascontiguousarray(xs), np.ascontiguousarray(ds)


@torch.no_grad()
def validate(model: DepthNet, samples: DepthSamples, batch_size: int = 4) -> dict[str, Any]:
    """MVSEC metrics of the final-step prediction over every sample (full frames), computed
    on the model's device."""
    from evrt.models.depth_metrics import MetricAccumulator

    model.eval()
    device = model_device(model)
    acc = MetricAccumulator(max_depth=model.cfg.dmax)
    for i in range(0, len(samples), batch_size):
        x = torch.from_numpy(samples.x[i:i + batch_size]).transpose(0, 1).to(device)
        reset_net(model)
        depth = model.depth(model(x)[-1][:, 0]).cpu().numpy()
        for p, g in zip(depth, samples.depth[i:i + batch_size], strict=True):
            acc.add(p, g)
    return acc.result()


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def train(cfg: dict[str, Any], out: str | Path, resume: bool = False) -> Path:
    """Train per `cfg` (from `load_config`); returns the best checkpoint's path."""
    tr, data = cfg["train"], cfg["data"]
    torch.set_num_threads(int(tr["threads"]))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mcfg = DepthNetConfig.from_dict(cfg["model"])
    seed = int(tr["seed"])
    torch.manual_seed(seed)
    random.seed(seed)
    rng = np.random.default_rng(seed)
    device = resolve_device(tr["device"], "train.device")
    model = DepthNet(mcfg, spiking=bool(tr["spiking"]))  # drawn on the CPU: same init anywhere
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(tr["lr"]), weight_decay=float(tr["weight_decay"]))
    epochs = int(tr["epochs"])
    t0 = time.time()
    _log(f"depth: building samples ({data['kind']}, {data['representation']}, T={mcfg.timesteps})")
    train_set = build_samples(data, "train", mcfg.timesteps)
    val_set = build_samples(data, "val", mcfg.timesteps)
    _log(f"depth: {len(train_set)} train / {len(val_set)} val samples of "
         f"{train_set.x.shape[-1]}x{train_set.x.shape[-2]} in {time.time() - t0:.1f} s; "
         f"{'SNN' if model.spiking else 'ANN'} with {count_parameters(model)} parameters on {device}")
    start_epoch, best = 0, float("inf")
    if tr["init"]:  # fine-tune: start from another run's weights (same model config)
        init = torch.load(tr["init"], map_location="cpu", weights_only=False)
        if init["config"] != mcfg.to_dict():
            raise ConfigError(f"{tr['init']} holds a different model config", key="train.init")
        model.load_state_dict(init["model"])
        _log(f"depth: initialised from {tr['init']} (epoch {init.get('epoch')})")
    if resume and (out / "last.pt").is_file():
        ckpt = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])  # moves the moments to the parameters' device
        start_epoch, best = ckpt["epoch"], ckpt["best"]
        rng.bit_generator.state = ckpt["numpy_rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        if device.type == "cuda" and ckpt.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ckpt["cuda_rng"], device)
        _log(f"depth: resumed from {out / 'last.pt'} at epoch {start_epoch}")
    crop = tuple(int(c) for c in tr["crop"])
    bs = int(tr["batch_size"])
    for epoch in range(start_epoch, epochs):
        model.train()
        lr = float(tr["lr"]) * 0.5 * (1 + math.cos(math.pi * epoch / epochs))  # cosine over epochs
        for group in opt.param_groups:
            group["lr"] = lr
        order = rng.permutation(len(train_set))
        losses = []
        te = time.time()
        for b, i in enumerate(range(0, len(order), bs)):
            pairs = [_random_crop(train_set.x[k], train_set.depth[k], crop, rng) for k in order[i:i + bs]]
            x = torch.from_numpy(np.stack([p[0] for p in pairs])).to(device)
            d = torch.from_numpy(np.stack([p[1] for p in pairs])).to(device)
            loss = _batch_loss(model, x, d, float(tr["step_weight"]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if (b + 1) % int(tr["log_every"]) == 0:
                _log(f"  epoch {epoch + 1}/{epochs} batch {b + 1}/{(len(order) + bs - 1) // bs} "
                     f"loss {np.mean(losses[-int(tr['log_every']):]):.4f}")
        metrics = validate(model, val_set)
        score = metrics["all"]["mean_abs"]
        is_best = score < best
        best = min(best, score)
        extra = {"train_config": cfg, "epoch": epoch + 1, "best": best,
                 "val_metrics": metrics, "seed": seed}
        cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        save_checkpoint(out / "last.pt", model, optimizer=to_cpu(opt.state_dict()),
                        numpy_rng=rng.bit_generator.state,
                        torch_rng=torch.get_rng_state(), cuda_rng=cuda_rng, **extra)
        if is_best:
            save_checkpoint(out / "best.pt", model, **extra)
        _log(f"epoch {epoch + 1}/{epochs}: train loss {np.mean(losses):.4f}, val mean abs "
             f"{score:.3f} m, abs_rel {metrics['all']['abs_rel']:.3f}, delta1 "
             f"{metrics['all']['delta1']:.3f}{' (best)' if is_best else ''} "
             f"[{time.time() - te:.1f} s]")
    _log(f"depth: done in {time.time() - t0:.1f} s; best val mean abs {best:.3f} m -> {out / 'best.pt'}")
    return out / "best.pt"


def train_main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.set)
    train(cfg, args.out or cfg["train"]["out"], resume=args.resume)
    return 0


def eval_main(args: argparse.Namespace) -> int:
    from evrt.models.depth_eval import evaluate, format_results

    cfg = load_config(args.config, args.set)
    torch.set_num_threads(int(cfg["train"]["threads"]))
    results = {}
    for ck in args.checkpoint or ["builtin"]:
        model, _ = load_checkpoint(ck)
        samples = build_samples(cfg["data"], "val", model.cfg.timesteps)
        results[ck] = evaluate(model, samples, early_stop_tol=args.early_stop, plots=args.plots)
    print(format_results(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0

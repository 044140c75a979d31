"""`evrt train prime` / `evrt eval prime`: PRIME (scores only) or the weight-trained baseline.

Config (TOML, see configs/prime_train.toml):

    [model]  kind = "prime" | "baseline", classes, seed (device-weight draw), keep, std, scale,
             decay, threshold, surrogate_width
    [data]   kind = "digits_saccades" | "nmnist" (root = extracted N-MNIST folder with
             Train/ and Test/), steps (T), seed (simulation seed / subset draw),
             train_limit / test_limit (0 = whole split), cache (digits spike-tensor cache,
             built on first use; see data.py)
    [train]  epochs, batch_size, lr, seed (batch order), threads, out, ship, log_every, loss,
             temperature, step_weight_power, lr_schedule (see below), device ("auto" = CUDA
             when torch sees a GPU, else the CPU; "cpu", "cuda", "cuda:N"; the model is drawn
             on the CPU, so the device weights are the same anywhere; checkpoints hold CPU
             tensors)

Loss (`train.loss`): `per_step` (default) averages over t the cross-entropy of the running
mean of the read-out up to step t (what the early stop reads), `final` uses only the full-T
logits (time-mean of the read-out membrane). `train.step_weight_power` p weights the per-step
terms by 1/t^p (normalised; 0 = uniform): p > 0 stresses the early steps, so the network is
sure sooner and the confidence early stop saves more. `train.lr_schedule`: `constant` or
`cosine` (annealed per batch to 3% of `lr` at the last batch, which steadies the kept last
epoch). Adam over the trainable
parameters only (for PRIME: the scores; the weights have requires_grad=False and are never
handed to the optimiser). Checkpoints: OUT/last.pt after every epoch (`--resume` continues);
the test split is only reported, never used to pick an epoch (the last epoch is kept).
For PRIME, `ship = "path.npz"` also writes the seed + packed masks file (see infer.py) with the
test accuracy and each test sample's predicted class (digit index -> class), which the tests
check against a fresh simulation. `--resume` on a finished run only re-ships.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from evrt.devices import check_device, resolve_device, to_cpu
from evrt.errors import ConfigError
from evrt.models.prime.classifier import build_classifier
from evrt.models.prime.data import build_cache, cache_path, load_cache
from evrt.models.prime.infer import batches, evaluate_full, load_prime, predict_full, save_masks
from evrt.models.training_config import apply_overrides, read_training_toml

__all__ = ["load_config", "train", "train_main", "eval_main", "load_model"]

DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {"kind": "prime", "classes": 10, "seed": 0, "keep": 0.5, "std": 6.35, "scale": 0.01,
              "decay": 0.8, "threshold": 0.2, "surrogate_width": 0.5},
    "data": {"kind": "digits_saccades", "root": "", "steps": 10, "seed": 0, "train_limit": 0,
             "test_limit": 0, "cache": "artifacts/prime"},
    "train": {"epochs": 6, "batch_size": 32, "lr": 1e-3, "seed": 0, "threads": 1,
              "out": "runs/prime", "ship": "", "log_every": 10, "loss": "per_step",
              "temperature": 2.0, "step_weight_power": 0.0, "lr_schedule": "constant",
              "device": "auto"},
}


def load_config(path: str | Path | dict | None, overrides: list[str] | None = None) -> dict:
    """TOML (or dict) + `section.key=value` overrides, filled with defaults; unknown keys are errors."""
    if path is None:
        raw: dict = {}
    elif isinstance(path, dict):
        raw = path
    else:
        raw = read_training_toml(path)
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown tables {sorted(unknown)}; expected [model], [data], [train]")
    cfg = {s: {**DEFAULTS[s], **raw.get(s, {})} for s in DEFAULTS}
    apply_overrides(cfg, overrides)
    for s in DEFAULTS:
        for k in set(cfg[s]) - set(DEFAULTS[s]):
            raise ConfigError(f"unknown [{s}] key; known: {sorted(DEFAULTS[s])}", key=f"{s}.{k}")
    check_device(cfg["train"]["device"], "train.device")
    if cfg["model"]["kind"] not in ("prime", "baseline"):
        raise ConfigError("model.kind must be 'prime' or 'baseline'", key="model.kind")
    return cfg


def model_kwargs(m: dict) -> dict:
    kw = {k: m[k] for k in ("classes", "seed", "decay", "threshold", "surrogate_width")}
    if m["kind"] == "prime":
        kw.update(keep=m["keep"], std=m["std"], scale=m["scale"])
    return kw


def data(cfg: dict, split: str, with_index: bool = False) -> tuple[np.ndarray, ...]:
    """Cached spike tensors (uint8, N x T x 2 x 34 x 34) and labels; builds the cache if missing."""
    d = cfg["data"]
    limit = d[f"{split}_limit"]
    if d["kind"] == "nmnist":
        from evrt.models.prime.nmnist import load_nmnist_tensors

        x, y, idx = load_nmnist_tensors(d["root"], split, d["steps"], limit, d["seed"])
        return (x, y, idx) if with_index else (x, y)
    if d["kind"] != "digits_saccades":
        raise ConfigError("data.kind must be 'digits_saccades' or 'nmnist'", key="data.kind")
    if not cache_path(split, d["steps"], d["seed"], d["cache"]).exists():
        build_cache(split, d["steps"], seed=d["seed"], limit=limit, cache=d["cache"])
    x, y, idx = load_cache(split, d["steps"], seed=d["seed"], limit=limit, cache=d["cache"])
    if limit and len(y) < limit:
        print(f"warning: the {split} cache holds {len(y)} < {limit} samples", file=sys.stderr)
    return (x.astype(np.uint8), y, idx) if with_index else (x.astype(np.uint8), y)


def classification_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                        kind: str = "per_step", temperature: float = 1.0,
                        step_weight_power: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(full-T logits, loss). `final`: cross-entropy of the time-mean logits. `per_step`: mean over
    t of the cross-entropy of the running mean up to t -- exactly what the confidence early stop
    looks at after t steps, so the network learns to be right (and sure) early. Logits are
    divided by `temperature` inside the loss (2 = the early-stop policy's softmax). With
    `step_weight_power` p > 0 the per-step terms are weighted by 1/t^p (weights sum to 1)."""
    from evrt.snn.functional import reset_net, set_step_mode

    set_step_mode(model, "m")
    reset_net(model)
    v = model(x)                                             # [T, B, C] read-out membrane
    steps = torch.arange(1, v.shape[0] + 1, dtype=v.dtype, device=v.device)[:, None, None]
    running = v.cumsum(0) / steps                            # the policy's output after t steps
    if kind == "final":
        return running[-1], F.cross_entropy(running[-1] / temperature, y)
    if kind == "per_step":
        t, b, c = running.shape
        per = F.cross_entropy(running.reshape(t * b, c) / temperature, y.repeat(t),
                              reduction="none").reshape(t, b).mean(1)
        w = steps.reshape(t) ** -float(step_weight_power)
        return running[-1], (per * (w / w.sum())).sum()
    raise ConfigError(f"train.loss must be 'final' or 'per_step', got {kind!r}", key="train.loss")


def train(cfg: dict, out: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train; returns {'test_acc', 'train_acc', 'epochs', 'seconds', 'checkpoint'}."""
    t_cfg = cfg["train"]
    torch.set_num_threads(int(t_cfg["threads"]))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    x_tr, y_tr = data(cfg, "train")
    x_te, y_te, idx_te = data(cfg, "test", with_index=True)
    device = resolve_device(t_cfg["device"], "train.device")
    model = build_classifier(cfg["model"]["kind"], **model_kwargs(cfg["model"])).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=t_cfg["lr"])
    n_batches = -(-len(y_tr) // t_cfg["batch_size"])
    if t_cfg["lr_schedule"] == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, max(1, t_cfg["epochs"] * n_batches - 1), eta_min=t_cfg["lr"] * 0.03)
    elif t_cfg["lr_schedule"] == "constant":
        sched = None
    else:
        raise ConfigError("train.lr_schedule must be 'constant' or 'cosine'", key="train.lr_schedule")
    rng = np.random.default_rng(t_cfg["seed"])
    start, history = 0, []
    last = out / "last.pt"
    if resume and last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if sched is not None and "scheduler" in ck:
            sched.load_state_dict(ck["scheduler"])
        rng.bit_generator.state = ck["rng"]
        start, history = ck["epoch"], ck["history"]
    t0 = time.monotonic()
    for epoch in range(start, t_cfg["epochs"]):
        model.train()
        order = rng.permutation(len(y_tr))
        loss_sum, correct, seen = 0.0, 0, 0
        for b, s in enumerate(batches(len(order), t_cfg["batch_size"])):
            idx = np.sort(order[s])
            xb = torch.from_numpy(x_tr[idx]).to(device).float().transpose(0, 1)
            yb = torch.from_numpy(y_tr[idx]).to(device)
            logits, loss = classification_loss(model, xb, yb, t_cfg["loss"],
                                               t_cfg["temperature"], t_cfg["step_weight_power"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(idx)
            if progress and (b % t_cfg["log_every"] == 0 or b + 1 == n_batches):
                print(f"\r  epoch {epoch + 1}/{t_cfg['epochs']} batch {b + 1}/{n_batches} "
                      f"loss {loss_sum / seen:.3f} acc {correct / seen:.3f} "
                      f"({time.monotonic() - t0:.0f} s)", end="", file=sys.stderr, flush=True)
        test_acc = evaluate_full(model, x_te, y_te)
        history.append({"epoch": epoch + 1, "loss": loss_sum / seen, "train_acc": correct / seen,
                        "test_acc": test_acc, "seconds": time.monotonic() - t0})
        if progress:
            print(f"  test acc {test_acc:.4f}", file=sys.stderr)
        torch.save({"model": to_cpu(model.state_dict()), "optimizer": to_cpu(opt.state_dict()),
                    "rng": rng.bit_generator.state, "epoch": epoch + 1, "history": history,
                    "config": cfg, "scheduler": None if sched is None else sched.state_dict()},
                   last)
    final = history[-1] if history else {}
    result = {"kind": cfg["model"]["kind"], "test_acc": final.get("test_acc"),
              "train_acc": final.get("train_acc"), "epochs": len(history),
              "seconds": final.get("seconds"), "checkpoint": str(last),
              "test_samples": int(len(y_te)), "train_samples": int(len(y_tr))}
    if cfg["model"]["kind"] == "prime" and t_cfg["ship"]:
        pred = predict_full(model, x_te)
        save_masks(model, t_cfg["ship"], {"test_acc": final.get("test_acc"),
                                          "test_index": [int(i) for i in idx_te],
                                          "test_pred": [int(p) for p in pred],
                                          "test_samples": int(len(y_te)),
                                          "data": cfg["data"], "train": t_cfg,
                                          "history": history})
        result["shipped"] = t_cfg["ship"]
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


def load_model(spec: str) -> tuple[torch.nn.Module, str]:
    """'builtin', a shipped masks .npz, or a training checkpoint .pt -> (model in eval mode, kind)."""
    if spec == "builtin" or spec.endswith(".npz"):
        return load_prime(spec)[0], "prime"
    p = Path(spec)
    if not p.is_file():
        raise ConfigError(f"checkpoint {p} does not exist", key="--checkpoint")
    ck = torch.load(p, map_location="cpu", weights_only=False)
    m = ck["config"]["model"]
    model = build_classifier(m["kind"], **model_kwargs(m))
    model.load_state_dict(ck["model"])
    model.eval()
    return model, m["kind"]


def train_main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.set)
    out = args.out or cfg["train"]["out"]
    result = train(cfg, out, resume=args.resume)
    print(json.dumps(result, indent=2))
    return 0


def eval_main(args: argparse.Namespace) -> int:
    """Accuracy (digital, ideal crossbar) and confidence early stop; `--early-stop X` sets the
    confidence threshold (default 0.8). Checkpoints: builtin, a masks .npz or a training .pt."""
    from evrt.backends.factory import make_backend
    from evrt.models.prime.infer import classify

    cfg = load_config(args.config, args.set)
    torch.set_num_threads(int(cfg["train"]["threads"]))
    device = resolve_device(cfg["train"]["device"], "train.device")
    x, y = data(cfg, "test")
    xt = torch.from_numpy(x).float().transpose(0, 1).to(device)
    rows = []
    threshold = 0.8 if args.early_stop is None else args.early_stop
    for spec in args.checkpoint or ["builtin"]:
        model, kind = load_model(spec)
        model.to(device)
        row: dict[str, Any] = {"checkpoint": spec, "kind": kind, "samples": int(len(y))}
        row["acc_digital"] = evaluate_full(model, x, y, backend=make_backend("digital"))
        row["acc_crossbar"] = evaluate_full(model, x, y, backend=make_backend("crossbar"))
        res = classify(model, xt, backend=make_backend("digital"), threshold=threshold)
        row.update(threshold=threshold, acc_early_stop=float((res.prediction.numpy() == y).mean()),
                   mean_steps=float(res.steps.double().mean()),
                   compute_saved=float(res.compute_saved.mean()))
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0

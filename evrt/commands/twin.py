"""`evrt train twin KIND` and `evrt eval twin KIND`: the neural-ODE digital twins (HP, Lorenz96)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from evrt.errors import ConfigError

KINDS = ("hp", "lorenz96")


def _parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if "," in text:
        return tuple(_parse_value(p) for p in text.split(",") if p)
    return text


def _pairs(items: list[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"expected KEY=VALUE, got {item!r}", key=what)
        out[key.strip()] = _parse_value(value.strip())
    return out


def register_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("twin", help="train a neural-ODE digital twin (hp | lorenz96)")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--out", help="weights file to write (default: ./<kind>-twin.pt)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iters", type=int, help="solver (backprop-through-RK4) iterations")
    p.add_argument("--pretrain-iters", type=int, help="derivative-matching iterations")
    p.add_argument("--weight-noise", type=float, help="noise-aware training sigma (x max|W|)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any other setting of the twin config (e.g. hidden=32,32)")
    p.add_argument("--checkpoint-every", type=int, default=500,
                   help="write the weights file every N iterations (default 500)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--device", default="auto",
                   help='"auto" (CUDA when torch sees a GPU, else the CPU; the default), "cpu", '
                        '"cuda" or "cuda:N"')
    p.set_defaults(func=train_main)


def register_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("twin", help="evaluate a twin (digital or crossbar), plots, projection")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--weights", help="weights file (default: the weights shipped in the package)")
    p.add_argument("--backend", choices=("digital", "crossbar"), default="digital")
    p.add_argument("--xb", action="append", metavar="KEY=VALUE",
                   help="crossbar parameter (CrossbarConfig field), e.g. --xb read_noise=0.02")
    p.add_argument("--solver", choices=("rk4", "euler", "adaptive"), default="rk4")
    p.add_argument("--drives", choices=("unseen", "outside", "train"), default="unseen",
                   help="hp: which drives (unseen shapes/frequencies/amplitudes, amplitudes "
                        "beyond training, or the training drives)")
    p.add_argument("--initial", type=int, default=10, help="lorenz96: held-out initial states")
    p.add_argument("--horizon", type=float, default=4.0, help="lorenz96: forecast time units")
    p.add_argument("--plots", help="folder for PNG plots")
    p.add_argument("--json", help="write the results as JSON to this file")
    p.add_argument("--project", action="store_true",
                   help="also print the projected crossbar vs digital energy and speed")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu",
                   help='where the solves run: "cpu" (default), "auto", "cuda" or "cuda:N"')
    p.set_defaults(func=eval_main)


def train_main(args: argparse.Namespace) -> int:
    import torch

    from evrt.devices import resolve_device
    from evrt.models.twin import twins

    torch.set_num_threads(max(1, args.threads))
    device = resolve_device(args.device, "--device")
    overrides = _pairs(args.set, "--set")
    for key, value in (("iters", args.iters), ("pretrain_iters", args.pretrain_iters),
                       ("weight_noise", args.weight_noise)):
        if value is not None:
            overrides[key] = value
    overrides["seed"] = args.seed
    cfg = twins.config_for(args.kind, **overrides)
    out = Path(args.out or f"{args.kind}-twin.pt")
    started = time.perf_counter()
    last = [0.0]

    def progress(stage: str, it: int, n: int, loss: float) -> None:
        now = time.perf_counter()
        if it == n or now - last[0] > 0.5:
            last[0] = now
            print(f"\r{stage:8s} {it:5d}/{n}  loss {loss:.3e}  {now - started:6.1f}s",
                  end="\n" if it == n else "", file=sys.stderr, flush=True)

    twin = twins.train(args.kind, cfg, progress, checkpoint=lambda t: t.save(out),
                       checkpoint_every=args.checkpoint_every, device=device)
    twin.info["command"] = "evrt train twin " + " ".join(sys.argv[3:])
    twin.save(out)
    print(f"wrote {out} ({out.stat().st_size / 1024:.1f} KiB) in {time.perf_counter() - started:.1f}s")
    return 0


def eval_main(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from evrt.backends import make_backend, use_backend
    from evrt.devices import resolve_device
    from evrt.models.twin import twins

    torch.set_num_threads(max(1, args.threads))
    device = resolve_device(args.device, "--device")
    twin = twins.load(args.weights, kind=args.kind)
    twin.model.to(device)
    if twin.kind != args.kind:
        raise ConfigError(f"{args.weights} holds a {twin.kind} twin, not {args.kind}", key="--weights")
    xb = _pairs(args.xb, "--xb")
    if xb and args.backend != "crossbar":
        raise ConfigError("--xb parameters need --backend crossbar", key="--xb")
    backend = make_backend(args.backend, **xb)
    use_backend(twin.model, backend)
    solver = args.solver
    if solver == "adaptive" and args.backend == "crossbar":
        raise ConfigError("the crossbar runs fixed-step solvers (rk4, euler)", key="--solver")
    label = args.backend + (f" {xb}" if xb else "")
    result: dict[str, Any] = {"kind": args.kind, "backend": args.backend, "crossbar": xb,
                              "solver": solver}
    if args.kind == "hp":
        drives = {"unseen": twins.hp_test_drives, "outside": twins.hp_outside_drives,
                  "train": twins.hp_train_drives}[args.drives](twin.cfg)
        r = twins.evaluate_hp(twin, drives, solver=solver)
        print(f"HP twin on {len(drives)} {args.drives} drives, {label}, {solver}")
        print(f"{'drive':58s} {'NRMSE x':>8s} {'NRMSE i':>8s} {'persist.':>8s}")
        for name, ex, ei, ep in zip(r.drives, r.nrmse_x, r.nrmse_i, r.persistence_nrmse_x,
                                    strict=True):
            print(f"{name[:58]:58s} {ex:8.4f} {ei:8.4f} {ep:8.4f}")
        print(f"{'mean':58s} {r.nrmse_x.mean():8.4f} {r.nrmse_i.mean():8.4f} "
              f"{r.persistence_nrmse_x.mean():8.4f}")
        result.update(drives=r.drives, nrmse_x=r.nrmse_x.tolist(), nrmse_i=r.nrmse_i.tolist(),
                      persistence_nrmse_x=r.persistence_nrmse_x.tolist(),
                      mean_nrmse_x=float(r.nrmse_x.mean()), mean_nrmse_i=float(r.nrmse_i.mean()))
        if args.plots:
            from evrt.models.twin import plots

            for path in plots.hp_plots(r, Path(args.plots), label):
                print(f"wrote {path}")
    else:
        r = twins.evaluate_lorenz(twin, n_initial=args.initial, horizon=args.horizon, solver=solver)
        print(f"Lorenz96 twin (N={twin.cfg.n}, F={twin.cfg.forcing}) from {args.initial} held-out "
              f"states, {label}, {solver}; lambda_max = {r.lyapunov:.3f}")
        print("valid prediction time (Lyapunov times): "
              + " ".join(f"{v:.2f}" for v in r.vpt_lyapunov))
        print(f"mean {r.vpt_lyapunov.mean():.3f}  median {np.median(r.vpt_lyapunov):.3f}  "
              f"persistence mean {r.persistence_vpt_lyapunov.mean():.3f}")
        result.update(lyapunov=r.lyapunov, vpt_lyapunov=r.vpt_lyapunov.tolist(),
                      mean_vpt_lyapunov=float(r.vpt_lyapunov.mean()),
                      persistence_vpt_lyapunov=float(r.persistence_vpt_lyapunov.mean()))
        if args.plots:
            from evrt.models.twin import plots

            for path in plots.lorenz_plots(r, Path(args.plots), label):
                print(f"wrote {path}")
    if args.project:
        proj = twins.projection(twin, crossbar=xb)
        print(proj.text())
        result["projection"] = proj.to_dict()
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0

"""PRIME measurements: accuracy (digital / crossbar / baseline), early stop, projected energy,
robustness, inpainting. Writes PNG plots and a JSON of every number.

    .venv/bin/python benchmarks/prime_bench.py [--baseline runs/prime_baseline/last.pt]
        [--samples 0] [--robust-samples 200] [--inpaint-epochs 2] [--out reports/prime]

Data: the held-out `digits_saccades` test split (355 samples, T = 10) from the spike-tensor
cache (artifacts/prime, built on first use). PRIME = the shipped masks (evrt/models/prime/
weights/digits_saccades.npz). Every energy figure is PROJECTED from evrt/backends/costs.toml.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from evrt.backends import energy_report, make_backend
from evrt.models.prime.data import load_cache
from evrt.models.prime.infer import classify, evaluate_full
from evrt.models.prime.train import load_model

THRESHOLDS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0]
READ_NOISE = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2]
STUCK = [0.0, 0.005, 0.01, 0.02, 0.05, 0.1]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sweep(model, xt: torch.Tensor, y: np.ndarray) -> list[dict]:
    rows = []
    for thr in THRESHOLDS:
        r = classify(model, xt, threshold=thr, backend=make_backend("digital"))
        rows.append({"threshold": thr, "acc": float((r.prediction.numpy() == y).mean()),
                     "mean_steps": float(r.steps.double().mean())})
    return rows


def energy(model, xt: torch.Tensor, threshold: float, xbar: dict) -> dict:
    """Projected energy per inference: the same run on a crossbar and on the digital backend."""
    out = {}
    for name, params in (("crossbar", xbar), ("digital", {})):
        b = make_backend(name, **params)
        r = classify(model, xt, backend=b, threshold=threshold)
        rep = energy_report(b, inferences=xt.shape[1], adc_bits=xbar.get("adc_bits", 0),
                            dac_bits=xbar.get("dac_bits", 0))
        out[name] = {"report": rep.to_dict(), "text": rep.text(),
                     "mean_steps": float(r.steps.double().mean())}
    xb = out["crossbar"]["report"]
    out["summary"] = {"crossbar_nj": (xb["crossbar_pj_per_inference"] or 0) / 1e3,
                      "digital_event_nj": out["digital"]["report"]["digital_pj_per_inference"] / 1e3,
                      "digital_dense_nj": out["digital"]["report"]["digital_dense_pj_per_inference"] / 1e3}
    return out


def robustness(models: dict, x: np.ndarray, y: np.ndarray) -> dict:
    res: dict = {"read_noise": {}, "stuck": {}}
    for name, model in models.items():
        res["read_noise"][name] = []
        for s in READ_NOISE:
            accs = [evaluate_full(model, x, y, backend=make_backend("crossbar", read_noise=s,
                                                                    seed=seed))
                    for seed in (0, 1)]
            res["read_noise"][name].append({"sigma": s, "acc": float(np.mean(accs)), "accs": accs})
            log(f"  {name} read_noise {s}: {np.mean(accs):.4f}")
        res["stuck"][name] = []
        for rate in STUCK:
            accs = [evaluate_full(model, x, y, backend=make_backend(
                "crossbar", stuck_on_rate=rate / 2, stuck_off_rate=rate / 2, seed=seed))
                for seed in (0, 1)]
            res["stuck"][name].append({"rate": rate, "acc": float(np.mean(accs)), "accs": accs})
            log(f"  {name} stuck {rate}: {np.mean(accs):.4f}")
    return res


def inpainting_baseline(epochs: int, samples: int) -> dict:
    """The same autoencoder with trained weights (software baseline), full 16 steps."""
    from evrt.models.prime.inpainting import (
        SpikingInpainter,
        composite,
        digit_images,
        digits_judge,
        hole_metrics,
        inception_score,
        inpaint,
        mask_centre,
        train_inpainter,
    )

    x_tr, _ = digit_images("train")
    x_te, _ = digit_images("test")
    x_te = x_te[:samples] if samples else x_te
    model = SpikingInpainter(seed=0, pruned=False)
    t0 = time.monotonic()
    hist = train_inpainter(model, x_tr, epochs=epochs)
    t = torch.from_numpy(x_te)[:, None]
    masked = mask_centre(t)
    res: dict = {"train_seconds": time.monotonic() - t0, "history": hist}
    for label, tol in (("full", 0.0), ("early_stop", 0.02)):
        r = inpaint(model, masked, steps=16, tol=tol, k=3)
        img = composite(masked, r.outputs)
        res[label] = {**hole_metrics(img, t), "is": inception_score(digits_judge(), img[:, 0].numpy()),
                      "mean_steps": float(r.steps.double().mean()), "tol": tol}
        log(f"  inpainting baseline {label}: {res[label]}")
    return res


def inpainting(epochs: int, out: Path, samples: int) -> dict:
    from evrt.models.prime.inpainting import (
        SpikingInpainter,
        composite,
        digit_images,
        digits_judge,
        hole_metrics,
        inception_score,
        inpaint,
        mask_centre,
        train_inpainter,
    )

    x_tr, _ = digit_images("train")
    x_te, _ = digit_images("test")
    x_te = x_te[:samples] if samples else x_te
    model = SpikingInpainter(seed=0)
    t0 = time.monotonic()
    hist = train_inpainter(model, x_tr, epochs=epochs)
    train_s = time.monotonic() - t0
    judge = digits_judge()
    t = torch.from_numpy(x_te)[:, None]
    masked = mask_centre(t)
    res: dict = {"train_seconds": train_s, "history": hist, "samples": int(len(x_te)),
                 "is_clean": inception_score(judge, x_te),
                 "is_masked": inception_score(judge, masked[:, 0].numpy()),
                 "hole_masked_input": hole_metrics(masked, t)}
    runs = {}
    for label, tol in (("full", 0.0), ("early_stop", 0.02)):
        r = inpaint(model, masked, steps=16, tol=tol, k=3)
        img = composite(masked, r.outputs)
        runs[label] = img
        res[label] = {**hole_metrics(img, t), "is": inception_score(judge, img[:, 0].numpy()),
                      "mean_steps": float(r.steps.double().mean()), "tol": tol}
        log(f"  inpainting {label}: {res[label]}")
    res["energy"] = {}
    for name, params in (("crossbar", {"adc_bits": 8, "dac_bits": 8}), ("digital", {})):
        b = make_backend(name, **params)
        inpaint(model, masked, steps=16, backend=b, tol=0.02, k=3)
        rep = energy_report(b, inferences=len(x_te), adc_bits=params.get("adc_bits", 0),
                            dac_bits=params.get("dac_bits", 0))
        res["energy"][name] = {"report": rep.to_dict(), "text": rep.text()}
    _plot_inpainting(t, masked, runs, out / "inpainting_examples.png")
    return res


def _plot_inpainting(t, masked, runs, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = 8
    rows = [("original", t), ("masked input", masked), ("inpainted (16 steps)", runs["full"]),
            ("inpainted (early stop)", runs["early_stop"])]
    fig, ax = plt.subplots(len(rows), n, figsize=(n * 1.2, len(rows) * 1.35))
    for r, (label, imgs) in enumerate(rows):
        for c in range(n):
            ax[r, c].imshow(imgs[c, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax[r, c].axis("off")
        ax[r, 0].set_title(label, fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plots(results: dict, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, rows in results["sweep"].items():
        ax.plot([r["mean_steps"] for r in rows], [100 * r["acc"] for r in rows], "o-", label=name)
        for r in rows:
            if r["threshold"] == 0.8:
                ax.annotate("0.8", (r["mean_steps"], 100 * r["acc"]), textcoords="offset points",
                            xytext=(4, -10), fontsize=8)
    ax.set_xlabel("average timesteps used (of 10)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Confidence early stop: threshold 0.3 ... 1.0 (temperature 2)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_timesteps.png", dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    rob = results["robustness"]
    for name, rows in rob["read_noise"].items():
        axes[0].plot([100 * r["sigma"] for r in rows], [100 * r["acc"] for r in rows], "o-", label=name)
    axes[0].set_xlabel("read noise sigma (% of each cell's conductance, every read)")
    axes[0].set_ylabel("test accuracy (%)")
    for name, rows in rob["stuck"].items():
        axes[1].plot([100 * r["rate"] for r in rows], [100 * r["acc"] for r in rows], "o-", label=name)
    axes[1].set_xlabel("stuck-at cells (%; half stuck on, half stuck off)")
    for a in axes:
        a.grid(alpha=0.3)
        a.legend()
    fig.suptitle(f"Crossbar robustness (full T, mean of 2 device seeds, {rob['samples']} test samples)")
    fig.tight_layout()
    fig.savefig(out / "robustness.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    cases = []
    for task, e in (("classification", results["energy"]), ("inpainting", results.get("inpainting", {}).get("energy"))):
        if not e:
            continue
        xb = e["crossbar"]["report"]["crossbar_pj_per_inference"] / 1e3
        de = e["digital"]["report"]["digital_pj_per_inference"] / 1e3
        dd = e["digital"]["report"]["digital_dense_pj_per_inference"] / 1e3
        cases.append((task, xb, de, dd))
    w = 0.25
    for i, (_task, xb, de, dd) in enumerate(cases):
        ax.bar(i - w, xb, w, color="C0", label="crossbar" if i == 0 else None)
        ax.bar(i, de, w, color="C1", label="digital event-driven" if i == 0 else None)
        ax.bar(i + w, dd, w, color="C2", label="digital dense" if i == 0 else None)
    ax.set_xticks(range(len(cases)), [c[0] for c in cases])
    ax.set_yscale("log")
    ax.set_ylabel("PROJECTED nJ per inference (costs.toml)")
    ax.set_title("Projected energy per inference, early stop on")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "energy.png", dpi=100)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prime", default="builtin")
    ap.add_argument("--baseline", default="runs/prime_baseline/last.pt")
    ap.add_argument("--samples", type=int, default=0, help="test samples (0 = all 355)")
    ap.add_argument("--robust-samples", type=int, default=200)
    ap.add_argument("--inpaint-epochs", type=int, default=2)
    ap.add_argument("--inpaint-samples", type=int, default=0)
    ap.add_argument("--out", default="reports/prime")
    ap.add_argument("--skip", action="append", default=[], choices=["robustness", "inpainting"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    x, y, _ = load_cache("test", 10, limit=args.samples)
    xt = torch.from_numpy(x).transpose(0, 1)
    models = {"PRIME": load_model(args.prime)[0], "baseline": load_model(args.baseline)[0]}
    path = out / "results.json"
    results: dict = {"samples": int(len(y)), "accuracy": {}, "sweep": {}}
    if path.exists():          # resume: stages already measured (same samples) are kept
        old = json.loads(path.read_text())
        if old.get("samples") == len(y):
            results = old
            log(f"resuming from {path}: {sorted(old)}")

    def save() -> None:
        path.write_text(json.dumps(results, indent=2, default=str))

    realistic = {"adc_bits": 8, "dac_bits": 8, "read_noise": 0.02, "prog_noise": 0.02}
    for name, m in models.items():
        if name in results["sweep"]:
            continue
        acc = {"digital": evaluate_full(m, x, y, backend=make_backend("digital")),
               "crossbar ideal": evaluate_full(m, x, y, backend=make_backend("crossbar")),
               "crossbar 8b ADC, 2% read + 2% prog noise": evaluate_full(
                   m, x, y, backend=make_backend("crossbar", **realistic))}
        results["accuracy"][name] = acc
        log(f"{name}: {acc}")
        results["sweep"][name] = sweep(m, xt, y)
        log(f"{name} sweep: {results['sweep'][name]}")
        save()
    full = next(r for r in results["sweep"]["PRIME"] if r["threshold"] == 1.0)
    dflt = next(r for r in results["sweep"]["PRIME"] if r["threshold"] == 0.8)
    results["early_stop_default"] = {"threshold": 0.8, "acc": dflt["acc"], "acc_full": full["acc"],
                                     "mean_steps": dflt["mean_steps"],
                                     "compute_saved": 1 - dflt["mean_steps"] / 10,
                                     "points_lost": 100 * (full["acc"] - dflt["acc"])}
    log(f"early stop at 0.8: {results['early_stop_default']}")
    if "energy" not in results:
        results["energy"] = energy(models["PRIME"], xt, 0.8, {"adc_bits": 8, "dac_bits": 8})
        results["energy_full_T"] = energy(models["PRIME"], xt, 1.0, {"adc_bits": 8, "dac_bits": 8})
        save()
    log(results["energy"]["crossbar"]["text"])
    if "inpainting" not in args.skip and "inpainting" not in results:
        results["inpainting"] = inpainting(args.inpaint_epochs, out, args.inpaint_samples)
        save()
    if "inpainting" not in args.skip and "inpainting_baseline" not in results:
        results["inpainting_baseline"] = inpainting_baseline(args.inpaint_epochs,
                                                             args.inpaint_samples)
        save()
    if "robustness" not in args.skip and "robustness" not in results:
        n = args.robust_samples or len(y)
        results["robustness"] = {"samples": int(min(n, len(y))),
                                 **robustness(models, x[:n], y[:n])}
    results["seconds"] = results.get("seconds", 0) + time.monotonic() - t_start
    save()
    if "robustness" in results:
        plots(results, out)
    log(f"done in {results['seconds']:.0f} s; results in {out}/results.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Twin measurements for reports/twin.md: HP extrapolation NRMSE and Lorenz96 valid prediction
time, digital vs crossbar (with noise), plus the projected energy / speed of one solve.

    .venv/bin/python benchmarks/twin.py [--out reports] [--quick]

Uses the shipped weights (evrt/models/twin/weights, made by `evrt train twin KIND --seed 0`).
One CPU thread. Writes reports/twin_results.json and PNG plots; prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from evrt.backends import make_backend, use_backend
from evrt.models.twin import lorenz96 as l96
from evrt.models.twin import plots, twins

CROSSBARS = {
    "crossbar ideal": {},
    "crossbar A (read 2%, prog 0.5%, 8b DAC/ADC)": dict(read_noise=0.02, prog_noise=0.005,
                                                         dac_bits=8, adc_bits=8),
    "crossbar B (read 2%, prog 2%, 8b DAC/ADC)": dict(read_noise=0.02, prog_noise=0.02,
                                                       dac_bits=8, adc_bits=8),
}
SEEDS = (0, 1, 2, 3, 4)  # device seeds (programming + read noise draws) for the noisy crossbars


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="reports")
    ap.add_argument("--quick", action="store_true", help="fewer initial states, one seed")
    ap.add_argument("--tables", action="store_true",
                    help="only print the Markdown tables of an existing twin_results.json")
    ap.add_argument("--projection-only", action="store_true",
                    help="recompute only the projections into an existing twin_results.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    seeds = SEEDS[:1] if args.quick else SEEDS
    results: dict = {"hp": {}, "hp_outside": {}, "lorenz96": {}, "projection": {}}
    started = time.perf_counter()

    if args.tables:
        tables(json.loads((out / "twin_results.json").read_text()))
        return
    hp_twin = twins.load(kind="hp")
    l_twin = twins.load(kind="lorenz96")
    if args.projection_only:
        results = json.loads((out / "twin_results.json").read_text())
        _projections(results, hp_twin, l_twin)
        (out / "twin_results.json").write_text(json.dumps(results, indent=1))
        return
    lam = l96.largest_lyapunov(40, 8.0, time=100.0)
    results["lyapunov_n40_f8_computed"] = lam
    print(f"largest Lyapunov exponent N=40 F=8 (tangent linear, 100 time units): {lam:.3f}")

    runs = [("digital rk4", "digital", {}, "rk4", 0), ("digital dopri5", "digital", {}, "adaptive", 0)]
    for name, cfg in CROSSBARS.items():
        for seed in (seeds if cfg else (0,)):
            runs.append((name, "crossbar", {**cfg, "seed": seed} if cfg else {}, "rk4", seed))

    for name, backend, cfg, solver, seed in runs:
        key = name if not cfg or "seed" not in cfg else f"{name} seed {seed}"
        use_backend(hp_twin.model, make_backend(backend, **cfg))
        r = twins.evaluate_hp(hp_twin, solver=solver)
        ro = twins.evaluate_hp(hp_twin, twins.hp_outside_drives(hp_twin.cfg), solver=solver)
        results["hp"][key] = {"nrmse_x": r.nrmse_x.tolist(), "nrmse_i": r.nrmse_i.tolist(),
                              "persistence_x": r.persistence_nrmse_x.tolist(), "drives": r.drives,
                              "evaluations": r.evaluations}
        results["hp_outside"][key] = {"nrmse_x": ro.nrmse_x.tolist(), "nrmse_i": ro.nrmse_i.tolist(),
                                      "drives": ro.drives}
        if seed == 0 and solver == "rk4" and name in ("digital rk4", list(CROSSBARS)[1]):
            plots.hp_plots(r, out, f"{name} unseen drives")
        use_backend(l_twin.model, make_backend(backend, **cfg))
        n0 = 4 if args.quick else 10
        lr = twins.evaluate_lorenz(l_twin, n_initial=n0, horizon=4.0, solver=solver, lyapunov=lam)
        results["lorenz96"][key] = {"vpt_lyapunov": lr.vpt_lyapunov.tolist(),
                                    "persistence": lr.persistence_vpt_lyapunov.tolist(),
                                    "evaluations": lr.evaluations}
        if seed == 0 and solver == "rk4" and name in ("digital rk4", list(CROSSBARS)[1]):
            plots.lorenz_plots(lr, out, name)
        print(f"{key:48s} HP x {r.nrmse_x.mean():.4f} (max {r.nrmse_x.max():.4f}) i "
              f"{r.nrmse_i.mean():.4f} | outside x {ro.nrmse_x.mean():.4f} | L96 VPT "
              f"{lr.vpt_lyapunov.mean():.2f} LT  [{time.perf_counter() - started:.0f}s]", flush=True)

    _projections(results, hp_twin, l_twin)
    (out / "twin_results.json").write_text(json.dumps(results, indent=1))
    print(f"total {time.perf_counter() - started:.0f}s")
    tables(results)


def tables(results: dict) -> None:
    """Markdown: accuracy per backend run, then the projections."""
    import numpy as np

    print(f"lambda_max computed: {results['lyapunov_n40_f8_computed']:.3f}")
    print("| run | HP x NRMSE mean % | worst % | HP i NRMSE % | beyond-range x % | beyond-range i % "
          "| L96 VPT mean (LT) | min | below 1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, hp_r in results["hp"].items():
        out_r, l_r = results["hp_outside"][key], results["lorenz96"][key]
        vpt = np.array(l_r["vpt_lyapunov"])
        print(f"| {key} | {np.mean(hp_r['nrmse_x']) * 100:.2f} | {np.max(hp_r['nrmse_x']) * 100:.2f} "
              f"| {np.mean(hp_r['nrmse_i']) * 100:.2f} | {np.mean(out_r['nrmse_x']) * 100:.2f} "
              f"| {np.mean(out_r['nrmse_i']) * 100:.2f} | {vpt.mean():.2f} | {vpt.min():.2f} "
              f"| {int((vpt < 1).sum())}/{len(vpt)} |")
    groups: dict[str, list[str]] = {}
    for key in results["hp"]:
        groups.setdefault(key.split(" seed ")[0], []).append(key)
    print("| backend (over device seeds) | seeds | HP x NRMSE % mean (min-max of seed means) "
          "| HP drives < 5 % | L96 VPT LT mean (min-max of seed means) | forecasts >= 1 LT |")
    print("|---|---|---|---|---|---|")
    for name, keys in groups.items():
        hx = [np.mean(results["hp"][k]["nrmse_x"]) * 100 for k in keys]
        ok = sum(int((np.array(results["hp"][k]["nrmse_x"]) < 0.05).sum()) for k in keys)
        tot = sum(len(results["hp"][k]["nrmse_x"]) for k in keys)
        lv = [np.mean(results["lorenz96"][k]["vpt_lyapunov"]) for k in keys]
        lok = sum(int((np.array(results["lorenz96"][k]["vpt_lyapunov"]) >= 1).sum()) for k in keys)
        ltot = sum(len(results["lorenz96"][k]["vpt_lyapunov"]) for k in keys)
        print(f"| {name} | {len(keys)} | {np.mean(hx):.2f} ({min(hx):.2f}-{max(hx):.2f}) "
              f"| {ok}/{tot} | {np.mean(lv):.2f} ({min(lv):.2f}-{max(lv):.2f}) | {lok}/{ltot} |")
    first = next(iter(results["hp"].values()))
    print(f"persistence: HP x {np.mean(first['persistence_x']) * 100:.1f} %, L96 VPT "
          f"{np.mean(next(iter(results['lorenz96'].values()))['persistence']):.2f} LT")
    print("| projection | crossbar uJ | digital uJ | shared uJ | ratio (with shared / layers) "
          "| crossbar ms | torch CPU ms | speed-up vs CPU | vs compute-bound |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, p in results["projection"].items():
        print(f"| {key} | {p['crossbar_pj'] / 1e6:.3f} | {p['digital_pj'] / 1e6:.3f} "
              f"| {p['shared_pj'] / 1e6:.3f} | {p['energy_ratio']:.2f} / "
              f"{p['energy_ratio_layers_only']:.2f} | {p['crossbar_latency_s'] * 1e3:.3f} "
              f"| {p['cpu_seconds'] * 1e3:.1f} | {p['speedup']:.0f} "
              f"| {p.get('speedup_vs_compute_bound', float('nan')):.3f} |")
        print("    crossbar breakdown pJ: " + ", ".join(
            f"{k} {v:.0f}" for k, v in p["crossbar_breakdown_pj"].items()))


def _projections(results: dict, hp_twin: twins.Twin, l_twin: twins.Twin) -> None:
    results["projection"] = {}
    for kind, twin in (("hp", hp_twin), ("lorenz96", l_twin)):
        use_backend(twin.model, make_backend("digital"))
        for name in list(CROSSBARS)[:2]:
            proj = twins.projection(twin, crossbar=CROSSBARS[name])
            results["projection"][f"{kind} / {name}"] = proj.to_dict()
            print(proj.text(), flush=True)


if __name__ == "__main__":
    main()

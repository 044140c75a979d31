"""Evaluation of a depth model: MVSEC metrics, per-step accuracy, early stop, spike rates, ops, energy.

Operation counts come from what the backend actually ran: a convolution whose input is
spikes costs one accumulate per (input spike x fan-out) — a synaptic operation — while a
convolution on real values (the input layer, the attention gates) costs a MAC per output x
kernel element. The ANN twin costs a MAC everywhere. Energies are projections from the
backends' cost table (`evrt.backends.energy`), never measurements.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from evrt.backends.base import use_backend
from evrt.models.depth import DepthNet
from evrt.models.depth_data import DepthSamples
from evrt.models.depth_infer import DepthPredictor
from evrt.models.depth_metrics import MetricAccumulator
from evrt.snn.functional import reset_counters, reset_net, spike_rates
from evrt.snn.neuron import LIF

__all__ = ["evaluate", "format_results", "ops_report"]

def _run(model: DepthNet, backend: Any, samples: DepthSamples, n: int) -> None:
    use_backend(model, backend)
    with torch.no_grad():
        for i in range(n):
            reset_net(model)
            model(torch.from_numpy(samples.x[i:i + 1]).transpose(0, 1))


def ops_report(model: DepthNet, samples: DepthSamples, n: int = 2,
               crossbar: bool = True) -> dict[str, Any]:
    """Spike rates per LIF layer; SNN synaptic ops + MACs vs the ANN twin's MACs; projected
    energy per window on the digital and the (ideal) crossbar backend, SNN and ANN twin.

    Energies are projections from `evrt/backends/costs.toml` (45 nm digital, ISAAC-derived
    crossbar figures), computed from the counters of what actually ran on `n` windows.
    """
    from evrt.backends.energy import energy_report, track_neurons
    from evrt.backends.factory import make_backend

    n = min(n, len(samples))
    snn = DepthNet(model.cfg, spiking=True).eval()
    snn.load_state_dict(model.state_dict())
    ann = DepthNet(model.cfg, spiking=False).eval()
    ann.load_state_dict(model.state_dict())  # same module tree: the twin takes the same tensors
    digital = make_backend("digital")
    handles = track_neurons(snn, digital, kinds=(LIF,))
    reset_counters(snn)
    _run(snn, digital, samples, n)
    for h in handles:
        h.remove()
    rates = spike_rates(snn)
    c = digital.counters
    ann_digital = make_backend("digital")
    _run(ann, ann_digital, samples, n)
    out: dict[str, Any] = {
        "windows": n,
        "spike_rates": rates,
        "mean_spike_rate": float(np.mean(list(rates.values()))) if rates else 0.0,
        "snn_synops_per_window": c["synops"] / n,
        "snn_macs_per_window": (c["macs"] - c["macs_spiking"]) / n,
        "snn_dense_macs_per_window": c["macs"] / n,
        "ann_macs_per_window": ann_digital.counters["macs"] / n,
        "energy_uj_per_window": {
            "snn_digital": energy_report(digital, inferences=n).digital_per_inference_pj * 1e-6,
            "ann_digital": energy_report(ann_digital, inferences=n).digital_dense_per_inference_pj * 1e-6,
        },
    }
    if not model.spiking:  # an ANN checkpoint: spike figures from its weights would mean nothing
        for k in ("spike_rates", "snn_synops_per_window", "snn_macs_per_window",
                  "snn_dense_macs_per_window"):
            out.pop(k)
        out["mean_spike_rate"] = None
        out["energy_uj_per_window"].pop("snn_digital")
    if crossbar:
        for name, net in (("snn", snn), ("ann", ann)) if model.spiking else (("ann", ann),):
            xb = make_backend("crossbar")
            hs = track_neurons(net, xb, kinds=(LIF,)) if name == "snn" else []
            _run(net, xb, samples, 1)
            for h in hs:
                h.remove()
            out["energy_uj_per_window"][f"{name}_crossbar"] = (
                energy_report(xb, inferences=1).crossbar_per_inference_pj * 1e-6)
    return out


def _plot(path: Path, pred: np.ndarray, gt: np.ndarray, events: np.ndarray, dmax: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(10, 2.8))
    ax[0].imshow(events, cmap="gray")
    ax[0].set_title("events (last step)")
    vmax = float(np.nanmax(gt)) if np.isfinite(gt).any() else dmax
    for a, img, title in ((ax[1], pred, "prediction (m)"), (ax[2], gt, "ground truth (m)")):
        im = a.imshow(img, cmap="magma_r", vmin=0, vmax=vmax)
        a.set_title(title)
        fig.colorbar(im, ax=a, fraction=0.046)
    for a in ax:
        a.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def evaluate(model: DepthNet, samples: DepthSamples, *, early_stop_tol: float | None = None,
             plots: str | None = None, max_plots: int = 4, crossbar: bool = True,
             ops: bool = True) -> dict[str, Any]:
    """Metrics of the final prediction (and per step, and with early stop) over `samples`."""
    model.eval()
    dmax = model.cfg.dmax
    final = MetricAccumulator(max_depth=dmax)
    t_steps = samples.x.shape[1]
    per_step = [MetricAccumulator(max_depth=dmax, cutoffs=(None,)) for _ in range(t_steps)]
    stopped = MetricAccumulator(max_depth=dmax)
    steps_used = []
    from evrt.backends.early_stop import ConvergencePolicy

    policy = ConvergencePolicy(tol=early_stop_tol, k=1) if early_stop_tol else None
    predictor = DepthPredictor(model, early_stop=policy)
    const = MetricAccumulator(max_depth=dmax)
    gt_median = float(np.nanmedian(samples.depth))  # an oracle constant: the median of the evaluated ground truth
    if plots:
        Path(plots).mkdir(parents=True, exist_ok=True)
    for i in range(len(samples)):
        x = torch.from_numpy(samples.x[i:i + 1]).transpose(0, 1).to(predictor.device)
        gt = samples.depth[i]
        with torch.no_grad():
            reset_net(model)
            out = model(x)[:, 0, 0]  # [T, H, W]
        depth = model.depth(out).cpu().numpy()
        final.add(depth[-1], gt)
        const.add(np.full_like(gt, gt_median), gt)
        if model.spiking:
            for t in range(t_steps):
                per_step[t].add(depth[t], gt)
        if early_stop_tol and model.spiking:
            log_d, used = predictor.predict(samples.x[i])
            stopped.add(model.depth(log_d).cpu().numpy(), gt)
            steps_used.append(used)
        if plots and i < max_plots:
            _plot(Path(plots) / f"depth_{i:03d}.png", depth[-1], gt, samples.x[i, -1].sum(0), dmax)
    result: dict[str, Any] = {
        "model": "snn" if model.spiking else "ann", "samples": len(samples),
        "metrics": final.result(),
        "constant_median_metrics": const.result(),
    }
    if model.spiking:
        result["mean_abs_per_step"] = [a.result()["all"]["mean_abs"] for a in per_step]
    if steps_used:
        result["early_stop"] = {"tolerance": early_stop_tol, "mean_steps": float(np.mean(steps_used)),
                                "max_steps": t_steps,
                                "timesteps_saved": 1 - float(np.mean(steps_used)) / t_steps,
                                "metrics": stopped.result()}
    if ops:
        result["ops"] = ops_report(model, samples, crossbar=crossbar)
    return result


def format_results(results: dict[str, dict[str, Any]]) -> str:
    """A plain-text table: one row per checkpoint and cut-off."""
    cols = ("mean_abs", "abs_rel", "sq_rel", "rms", "rms_log", "silog", "delta1", "delta2", "delta3")
    lines = [f"{'model':<28} {'cut':>4} " + " ".join(f"{c:>8}" for c in cols)]

    def rows(label: str, metrics: dict[str, dict[str, float]]) -> None:
        for cut, m in metrics.items():
            lines.append(f"{label[-28:]:<28} {cut:>4} " + " ".join(f"{m[c]:8.3f}" for c in cols))

    for name, r in results.items():
        rows(f"{name} [{r['model']}]", r["metrics"])
        if "early_stop" in r:
            es = r["early_stop"]
            rows(f"{name} early-stop", es["metrics"])
            lines.append(f"  early stop (tol {es['tolerance']}): {es['mean_steps']:.2f} of "
                         f"{es['max_steps']} steps, {100 * es['timesteps_saved']:.1f}% saved")
        ops = r.get("ops", {})
        if not ops:
            continue
        if "snn_synops_per_window" in ops:
            lines.append(f"  ops/window: SNN {ops['snn_synops_per_window']:.3g} synops + "
                         f"{ops['snn_macs_per_window']:.3g} MACs; ANN twin "
                         f"{ops['ann_macs_per_window']:.3g} MACs")
        else:
            lines.append(f"  ops/window: ANN {ops['ann_macs_per_window']:.3g} MACs")
        lines.append("  projected energy/window (uJ): " + ", ".join(
            f"{k} {v:.3f}" for k, v in ops["energy_uj_per_window"].items()))
        if ops.get("spike_rates"):
            rates = ", ".join(f"{k}={v:.3f}" for k, v in ops["spike_rates"].items())
            lines.append(f"  spike rates: {rates}")
        if "mean_abs_per_step" in r:
            lines.append("  mean abs per step: " + " ".join(f"{v:.3f}" for v in r["mean_abs_per_step"]))
    first = next(iter(results.values()))
    rows("constant (gt median)", first["constant_median_metrics"])
    return "\n".join(lines)

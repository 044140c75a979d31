"""Evaluation of a depth model: MVSEC metrics, per-step accuracy, early stop, spike rates, ops, energy.

Operation counts come from what the backend actually ran (`OpCounter`): a convolution whose
input is spikes costs one accumulate per (input spike x fan-out) — a synaptic operation —
while a convolution on real values (the input layer, the attention gates) costs a MAC per
output x kernel element. The ANN twin costs a MAC everywhere. Projected digital energy uses
45 nm figures (Horowitz, ISSCC 2014): 4.6 pJ per FP32 MAC, 0.9 pJ per FP32 add.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evrt.backends.base import DigitalBackend, use_backend
from evrt.models.depth import DepthNet
from evrt.models.depth_data import DepthSamples
from evrt.models.depth_infer import Convergence, DepthPredictor
from evrt.models.depth_metrics import MetricAccumulator
from evrt.snn.functional import reset_counters, reset_net, spike_rates

__all__ = ["OpCounter", "evaluate", "format_results", "ops_report", "E_MAC_PJ", "E_ADD_PJ"]

E_MAC_PJ = 4.6  # FP32 multiply-accumulate, 45 nm (Horowitz, ISSCC 2014)
E_ADD_PJ = 0.9  # FP32 add, 45 nm (same source)


class OpCounter(DigitalBackend):
    """Digital backend that also keeps per-layer dense MACs and spike-driven synaptic ops."""

    name = "digital-counting"

    def __init__(self) -> None:
        super().__init__()
        self.layer_macs: dict[str, int] = defaultdict(int)
        self.layer_synops: dict[str, int] = defaultdict(int)
        self.layer_spiking: dict[str, bool] = {}

    def _record(self, layer: str, spikes: bool, before: tuple[int, int]) -> None:
        self.layer_macs[layer] += self.counters["macs"] - before[0]
        self.layer_synops[layer] += self.counters["synops"] - before[1]
        self.layer_spiking[layer] = spikes

    def linear(self, x, weight, bias, *, layer, spikes=False):
        before = (self.counters["macs"], self.counters["synops"])
        out = super().linear(x, weight, bias, layer=layer, spikes=spikes)
        self._record(layer, spikes, before)
        return out

    def conv2d(self, x, weight, bias, *, layer, spikes=False, **kw):
        before = (self.counters["macs"], self.counters["synops"])
        out = super().conv2d(x, weight, bias, layer=layer, spikes=spikes, **kw)
        self._record(layer, spikes, before)
        return out

    def snn_ops(self) -> dict[str, int]:
        """Accumulates driven by spikes, and MACs of the layers that take real values."""
        acs = sum(v for k, v in self.layer_synops.items() if self.layer_spiking[k])
        macs = sum(v for k, v in self.layer_macs.items() if not self.layer_spiking[k])
        return {"synops": int(acs), "macs": int(macs)}


def ops_report(model: DepthNet, samples: DepthSamples, n: int = 4) -> dict[str, Any]:
    """Spike rates per LIF layer, SNN synaptic ops + MACs vs the ANN twin's MACs, per window."""
    n = min(n, len(samples))
    counter = OpCounter()
    use_backend(model, counter)
    reset_counters(model)
    with torch.no_grad():
        for i in range(n):
            reset_net(model)
            model(torch.from_numpy(samples.x[i:i + 1]).transpose(0, 1))
    snn = {k: v / n for k, v in counter.snn_ops().items()}
    ann = DepthNet(model.cfg, spiking=False).eval()
    ann_counter = OpCounter()
    use_backend(ann, ann_counter)
    with torch.no_grad():
        ann(torch.from_numpy(samples.x[:1]).transpose(0, 1))
    ann_macs = ann_counter.counters["macs"]
    snn_pj = snn["synops"] * E_ADD_PJ + snn["macs"] * E_MAC_PJ
    ann_pj = ann_macs * E_MAC_PJ
    use_backend(model, DigitalBackend())
    return {
        "spike_rates": spike_rates(model) if model.spiking else {},
        "snn_synops_per_window": snn["synops"], "snn_macs_per_window": snn["macs"],
        "ann_macs_per_window": int(ann_macs),
        "digital_energy_uj": {"snn": snn_pj * 1e-6, "ann": ann_pj * 1e-6,
                              "ann_over_snn": ann_pj / snn_pj if snn_pj else None},
    }


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
             plots: str | None = None, max_plots: int = 4) -> dict[str, Any]:
    """Metrics of the final prediction (and per step, and with early stop) over `samples`."""
    model.eval()
    dmax = model.cfg.dmax
    final = MetricAccumulator(max_depth=dmax)
    t_steps = samples.x.shape[1]
    per_step = [MetricAccumulator(max_depth=dmax, cutoffs=(None,)) for _ in range(t_steps)]
    stopped = MetricAccumulator(max_depth=dmax)
    steps_used = []
    predictor = DepthPredictor(model, early_stop=Convergence(early_stop_tol) if early_stop_tol else None)
    const = MetricAccumulator(max_depth=dmax)
    train_median = float(np.nanmedian(samples.depth))
    if plots:
        Path(plots).mkdir(parents=True, exist_ok=True)
    for i in range(len(samples)):
        x = torch.from_numpy(samples.x[i:i + 1]).transpose(0, 1)
        gt = samples.depth[i]
        with torch.no_grad():
            reset_net(model)
            out = model(x)[:, 0, 0]  # [T, H, W]
        depth = model.depth(out).numpy()
        final.add(depth[-1], gt)
        const.add(np.full_like(gt, train_median), gt)
        if model.spiking:
            for t in range(t_steps):
                per_step[t].add(depth[t], gt)
        if early_stop_tol and model.spiking:
            log_d, used = predictor.predict(samples.x[i])
            stopped.add(model.depth(log_d).numpy(), gt)
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
    result["ops"] = ops_report(model, samples)
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
        ops = r["ops"]
        lines.append(f"  ops/window: SNN {ops['snn_synops_per_window']:.3g} synops + "
                     f"{ops['snn_macs_per_window']:.3g} MACs; ANN {ops['ann_macs_per_window']:.3g} MACs; "
                     f"45 nm energy SNN {ops['digital_energy_uj']['snn']:.2f} uJ vs ANN "
                     f"{ops['digital_energy_uj']['ann']:.2f} uJ")
        if ops["spike_rates"]:
            rates = ", ".join(f"{k}={v:.3f}" for k, v in ops["spike_rates"].items())
            lines.append(f"  spike rates: {rates}")
        if "mean_abs_per_step" in r:
            lines.append("  mean abs per step: " + " ".join(f"{v:.3f}" for v in r["mean_abs_per_step"]))
    first = next(iter(results.values()))
    rows("constant (median depth)", first["constant_median_metrics"])
    return "\n".join(lines)

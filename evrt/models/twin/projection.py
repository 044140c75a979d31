"""Projected energy and speed of one twin solve on the crossbar vs a digital processor.

Work is counted, not estimated from the topology: the solve runs once on a fresh
`CrossbarBackend` and once on a counting `DigitalBackend`; `evrt.backends.energy.energy_report`
prices the layer work with the cost table `evrt/backends/costs.toml` (every number cited
there). What the backends do not see is charged here, equally to both designs:

- tanh of every hidden unit of every field evaluation (ASSUMPTION: 4 FP32 MACs each,
  a short polynomial / table approximation; 4.6 pJ per MAC, Horowitz ISSCC 2014);
- the solver's own arithmetic: RK4 = 4 stage updates + a weighted sum, 14 FP32 operations per
  state variable per step, Euler 2 (charged at the FP32 add energy, 0.9 pJ, Horowitz).

Speed: the crossbar latency is the cost table's read cycle (100 ns, ISAAC ISCA 2016) times
the read vectors run one after another (no parallel copies of a layer; periphery assumed
pipelined behind the reads). The digital time is the wall time of the same solve measured
here with torch on one CPU thread (a real measurement, but of a general-purpose CPU, not an
accelerator). Everything labelled "projected" comes from the cost table, not from hardware.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from evrt.backends import make_backend, use_backend
from evrt.backends.base import BackendLinear
from evrt.backends.energy import CostTable, energy_report
from evrt.models.twin.node_ode import odeint_fixed

DIGITAL_GMACS = 96.0  # ASSUMPTION: one 3 GHz core, 2 FMA units x 16 FP32 lanes (AVX-512), peak
TANH_MACS = 4
RK4_OPS_PER_STATE = 14
EULER_OPS_PER_STATE = 2

# Seed 2 (arXiv 2406.08343 / Sci. Adv. 2025 adr7571), as listed in shared/PAPERS.md
SEED_FIGURES = {
    "hp": {"arxiv_v1": (4.2, 41.4), "journal": (166.5, 499.0)},
    "lorenz96": {"arxiv_v1": (12.6, 189.7), "journal": (369.3, 673.9)},
}


@dataclass
class Projection:
    kind: str
    steps: int
    field_evaluations: int
    crossbar_pj: float
    digital_pj: float
    shared_pj: float
    crossbar_latency_s: float
    cpu_seconds: float
    digital_macs: int
    crossbar_breakdown_pj: dict[str, float] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)

    @property
    def energy_ratio(self) -> float:
        return (self.digital_pj + self.shared_pj) / (self.crossbar_pj + self.shared_pj)

    @property
    def energy_ratio_layers_only(self) -> float:
        return self.digital_pj / self.crossbar_pj

    @property
    def speedup(self) -> float:
        """Measured torch CPU time over projected crossbar time (framework overhead included)."""
        return self.cpu_seconds / self.crossbar_latency_s

    @property
    def digital_bound_seconds(self) -> float:
        """Compute-bound digital time: the layer MACs at DIGITAL_GMACS (an assumption)."""
        return self.digital_macs / (DIGITAL_GMACS * 1e9)

    @property
    def speedup_vs_compute_bound(self) -> float:
        return self.digital_bound_seconds / self.crossbar_latency_s

    def text(self) -> str:
        seed = SEED_FIGURES[self.kind]
        lines = [
            f"PROJECTED ({self.kind} twin, one solve: {self.steps} RK4 steps, "
            f"{self.field_evaluations} field evaluations; cost table, not hardware)",
            f"  crossbar layers {self.crossbar_pj / 1e6:.3f} uJ, digital FP32 layers "
            f"{self.digital_pj / 1e6:.3f} uJ, shared periphery (tanh, solver) {self.shared_pj / 1e6:.3f} uJ",
            f"  energy ratio digital/crossbar: {self.energy_ratio:.2f}x with periphery, "
            f"{self.energy_ratio_layers_only:.2f}x layers only",
            f"  crossbar latency {self.crossbar_latency_s * 1e3:.3f} ms vs measured CPU "
            f"{self.cpu_seconds * 1e3:.3f} ms -> speed-up {self.speedup:.1f}x; vs compute-bound "
            f"digital ({self.digital_macs} MACs at {DIGITAL_GMACS:g} GMAC/s = "
            f"{self.digital_bound_seconds * 1e3:.3f} ms) {self.speedup_vs_compute_bound:.2f}x",
            f"  seed's reported: arXiv v1 {seed['arxiv_v1'][0]}x speed / {seed['arxiv_v1'][1]}x energy;"
            f" journal {seed['journal'][0]}x / {seed['journal'][1]}x (continuous-time analogue solver)",
        ]
        lines += [f"  assumption: {a}" for a in self.assumptions]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"label": "projected", "kind": self.kind, "steps": self.steps,
                "field_evaluations": self.field_evaluations, "crossbar_pj": self.crossbar_pj,
                "digital_pj": self.digital_pj, "shared_pj": self.shared_pj,
                "energy_ratio": self.energy_ratio,
                "energy_ratio_layers_only": self.energy_ratio_layers_only,
                "crossbar_latency_s": self.crossbar_latency_s, "cpu_seconds": self.cpu_seconds,
                "speedup": self.speedup, "digital_macs": self.digital_macs,
                "digital_bound_seconds": self.digital_bound_seconds,
                "speedup_vs_compute_bound": self.speedup_vs_compute_bound,
                "crossbar_breakdown_pj": self.crossbar_breakdown_pj,
                "seed_figures": SEED_FIGURES[self.kind], "assumptions": self.assumptions}


def _hidden_units(model: torch.nn.Module) -> int:
    layers = [m for m in model.modules() if isinstance(m, BackendLinear)]
    return sum(m.out_features for m in layers[:-1])


def project(kind: str, model: torch.nn.Module, h0: torch.Tensor, t: torch.Tensor,
            u: torch.Tensor | None = None, *, crossbar: dict | None = None,
            method: str = "rk4", cpu_repeats: int = 3) -> Projection:
    """Run the solve (batch of one) on both backends and price it. `crossbar` = CrossbarConfig fields."""
    crossbar = dict(crossbar or {})
    costs = CostTable.load()
    steps = t.numel() - 1
    evals = steps * (4 if method == "rk4" else 1)
    sites = h0.shape[-1] if getattr(model, "offsets", None) else 1  # stencil: one MLP per site

    digital = make_backend("digital")
    use_backend(model, digital)
    best = float("inf")
    with torch.no_grad():
        for _ in range(cpu_repeats):
            digital.reset_counters()
            start = time.perf_counter()
            odeint_fixed(model, h0, t, u, method=method)
            best = min(best, time.perf_counter() - start)
    d_report = energy_report(digital, inferences=1, costs=costs)

    xbar = make_backend("crossbar", **crossbar)
    use_backend(model, xbar)
    with torch.no_grad():
        odeint_fixed(model, h0, t, u, method=method)
    x_report = energy_report(xbar, inferences=1, costs=costs)
    use_backend(model, make_backend("digital"))

    mac, add = costs["digital.fp32_mac_pj"], costs["digital.fp32_add_pj"]
    tanh_pj = evals * sites * _hidden_units(model) * TANH_MACS * mac
    ops = RK4_OPS_PER_STATE if method == "rk4" else EULER_OPS_PER_STATE
    solver_pj = steps * h0.shape[-1] * ops * add
    assumptions = [
        f"crossbar {crossbar or 'ideal'}; ideal converters are charged as 8-bit (costs.toml)",
        f"tanh = {TANH_MACS} FP32 MACs and the solver = {ops} FP32 ops per state per step, charged"
        " to both designs (digital periphery; a continuous-time analogue solver would not pay them)",
        "crossbar latency = read vectors x 100 ns read cycle, one after another (no layer copies)",
        "digital time = measured torch wall time on this machine's CPU, 1 thread, batch 1 (a shared"
        " machine: overhead- and load-dominated), and a compute-bound figure at"
        f" {DIGITAL_GMACS:g} GMAC/s peak (ASSUMPTION: 3 GHz x 2 FMA units x 16 FP32 lanes)",
        "weight memory traffic not charged to the digital design (flatters the digital side)",
    ]
    return Projection(kind, steps, evals, x_report.crossbar_per_inference_pj,
                      d_report.digital_per_inference_pj, tanh_pj + solver_pj,
                      x_report.crossbar_latency_ns * 1e-9, best, int(d_report.counters.get("macs", 0)),
                      {k: v for k, v in (x_report.crossbar_pj or {}).items()}, assumptions)

"""Projected energy per inference of a PRIME-shaped spiking classifier, crossbar vs digital.

    .venv/bin/python benchmarks/energy_projection.py [--batch 32] [--rate 0.1] [--threshold 0.8]

Topology after PRIME (seed 1): conv 2->12 k5 -> avgpool 2 -> LIF -> conv 12->64 k5 p1 ->
avgpool 2 -> LIF -> FC 2304->10 (integrating output, logits = time mean), 34x34 input,
T = 10, weights drawn N(0, 6.35) x 0.01 with a random 50% mask, as PRIME's untrained start.
Input: Bernoulli spikes at `--rate` (synthetic, NOT N-MNIST). With untrained weights the
early-stop step counts only exercise the accounting; they say nothing about accuracy.
Every figure is a projection from evrt/backends/costs.toml, not a measurement.
"""

from __future__ import annotations

import argparse
import json

import torch
from torch import nn

from evrt.backends import BackendConv2d, BackendLinear, make_backend, use_backend
from evrt.backends.early_stop import ConfidencePolicy, run_with_early_stop
from evrt.backends.energy import count, energy_report


class PrimeShaped(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = BackendConv2d(2, 12, 5, bias=False, spikes=True)
        self.conv2 = BackendConv2d(12, 64, 5, padding=1, bias=False, spikes=True)
        self.fc = BackendLinear(2304, 10, bias=False, spikes=True)
        for layer in (self.conv1, self.conv2, self.fc):
            with torch.no_grad():
                w = torch.randn_like(layer.weight) * 6.35 * 0.01
                layer.weight.copy_(w * (torch.rand_like(w) < 0.5))
        self.pool = nn.AvgPool2d(2)

    def init_state(self, batch: int) -> list[torch.Tensor]:
        return [torch.zeros(batch, 12, 15, 15), torch.zeros(batch, 64, 6, 6), torch.zeros(batch, 10)]

    def step(self, x: torch.Tensor, state: list[torch.Tensor], backend) -> torch.Tensor:
        v1, v2, v3 = state
        v1 = 0.8 * v1 + self.pool(self.conv1(x))
        s1 = (v1 >= 0.2).float()
        v1 = v1 * (1 - s1)
        v2 = 0.8 * v2 + self.pool(self.conv2(s1))
        s2 = (v2 >= 0.2).float()
        v2 = v2 * (1 - s2)
        v3 = v3 + self.fc(s2.flatten(1))
        state[:] = [v1, v2, v3]
        count(backend, neuron_updates=v1.numel() + v2.numel() + v3.numel())
        return v3


def run(model, backend, x, threshold: float):
    use_backend(model, backend)
    state = model.init_state(x.shape[1])
    acc = torch.zeros(x.shape[1], 10)

    def step_fn(t, active, keep):
        nonlocal acc
        state[:] = [s[keep] for s in state]
        acc = acc[keep]
        return model.step(x[t, active], state, backend)

    with torch.no_grad():
        return run_with_early_stop(step_fn, x.shape[0], ConfidencePolicy(threshold, 2.0),
                                   x.shape[1], backend=backend)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(10, args.batch, 2, 34, 34, generator=g) < args.rate).float()
    model = PrimeShaped()
    rows = []
    for label, params, thr in [("crossbar ideal, full T", {}, 1.0),
                               ("crossbar 8b ADC/DAC, 32 levels, noise, full T",
                                dict(adc_bits=8, dac_bits=8, levels=32, prog_noise=0.02,
                                     read_noise=0.02), 1.0),
                               (f"same, early stop at confidence {args.threshold}",
                                dict(adc_bits=8, dac_bits=8, levels=32, prog_noise=0.02,
                                     read_noise=0.02), args.threshold)]:
        b = make_backend("crossbar", **params)
        res = run(model, b, x, thr)
        rep = energy_report(b, inferences=args.batch)
        rows.append((label, res, rep))
        if args.json:
            print(json.dumps({"case": label, **rep.to_dict(), "early_stop": res.summary()}))
    d = make_backend("digital")
    res_d = run(model, d, x, 1.0)
    rep_d = energy_report(d, inferences=args.batch)
    print(f"PROJECTED (costs.toml), PRIME-shaped net, random weights, synthetic spikes at "
          f"rate {args.rate}, batch {args.batch}, T=10")
    print("| case | mean steps | crossbar nJ/inf | digital event-driven nJ/inf | "
          "digital dense nJ/inf | ratio (event) | ratio (dense) | crossbar us/inf |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, res, rep in rows:
        print(f"| {label} | {res.summary()['mean_steps']:.2f} | "
              f"{rep.crossbar_per_inference_pj / 1e3:.1f} | {rep.digital_per_inference_pj / 1e3:.1f} | "
              f"{rep.digital_dense_per_inference_pj / 1e3:.1f} | {rep.ratio:.1f}x | "
              f"{rep.ratio_dense:.1f}x | {rep.crossbar_latency_ns / 1e3:.1f} |")
    print(f"| digital backend run (same work), full T | {res_d.summary()['mean_steps']:.2f} | - | "
          f"{rep_d.digital_per_inference_pj / 1e3:.1f} | {rep_d.digital_dense_per_inference_pj / 1e3:.1f} "
          "| - | - | - |")
    print("\n" + rows[1][2].text())


if __name__ == "__main__":
    main()

"""Which crossbar non-ideality limits the HP twin: each one alone, two device seeds.

    .venv/bin/python benchmarks/twin_noise_sources.py
"""

from __future__ import annotations

import torch

from evrt.backends import make_backend, use_backend
from evrt.models.twin import twins

CONFIGS = [dict(read_noise=0.02), dict(prog_noise=0.005), dict(dac_bits=8, adc_bits=8),
           dict(read_noise=0.02, dac_bits=8, adc_bits=8)]

if __name__ == "__main__":
    torch.set_num_threads(1)
    twin = twins.load(kind="hp")
    for cfg in CONFIGS:
        for seed in (0, 1):
            use_backend(twin.model, make_backend("crossbar", seed=seed, **cfg))
            r = twins.evaluate_hp(twin)
            print(f"{cfg} seed {seed}: HP state NRMSE mean {r.nrmse_x.mean() * 100:.2f} %, "
                  f"worst drive {r.nrmse_x.max() * 100:.2f} %", flush=True)

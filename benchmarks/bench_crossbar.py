"""Simulation overhead of the crossbar backend: time of the same layer and batch vs digital torch.

    .venv/bin/python benchmarks/bench_crossbar.py [--device cpu|cuda] [--threads 1] [--repeats 7]

Each case runs the layer on `digital` (F.linear / F.conv2d), on an ideal crossbar (tiling,
mapping and counting only) and on a crossbar with every non-ideality on. Weights are
programmed during warm-up, so the figures are per read (programming is timed separately).
Prints a Markdown table; the ratio is crossbar time / digital time (median of repeats).
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch

from evrt.backends import make_backend

REALISTIC = dict(levels=16, prog_noise=0.02, read_noise=0.02, stuck_on_rate=0.001,
                 stuck_off_rate=0.001, dac_bits=8, adc_bits=8)


def cases(device: torch.device):
    g = torch.Generator(device="cpu").manual_seed(0)

    def spikes(*shape, p=0.2):
        return (torch.rand(*shape, generator=g) < p).float().to(device)

    def dense(*shape):
        return torch.randn(*shape, generator=g).to(device)

    yield ("linear 2304->10, B=64, spikes (PRIME FC)", "linear", spikes(64, 2304),
           dense(10, 2304) * 0.01, True, {})
    yield ("linear 1024->1024, B=256, dense", "linear", dense(256, 1024), dense(1024, 1024), False, {})
    yield ("conv 12->64 k5 15x15, B=64, spikes (PRIME conv2)", "conv", spikes(64, 12, 15, 15),
           dense(64, 12, 5, 5), True, {})
    yield ("conv 32->32 k3 p1 64x64, B=8, dense", "conv", dense(8, 32, 64, 64),
           dense(32, 32, 3, 3), False, {"padding": 1})


def timed(fn, device: torch.device, repeats: int) -> float:
    fn()
    fn()   # warm-up (programs the crossbar, fills caches)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    print(f"device {device}, torch {torch.__version__}, {args.threads} thread(s), "
          f"median of {args.repeats}")
    print("| case | digital ms | crossbar ideal ms (ratio) | crossbar non-ideal ms (ratio) | "
          "programming ms |")
    print("|---|---:|---:|---:|---:|")
    for label, kind, x, w, is_spike, kw in cases(device):
        backends = {"digital": make_backend("digital"),
                    "ideal": make_backend("crossbar"),
                    "noisy": make_backend("crossbar", **REALISTIC)}
        t = {}
        for name, b in backends.items():
            if kind == "linear":
                fn = partial(b.linear, x, w, None, layer="l", spikes=is_spike)
            else:
                fn = partial(b.conv2d, x, w, None, layer="l", spikes=is_spike, **kw)
            with torch.no_grad():
                t[name] = timed(fn, device, args.repeats)
        prog = make_backend("crossbar", **REALISTIC)
        w2 = w.reshape(w.shape[0], -1)
        t0 = time.perf_counter()
        prog.programmed("l", w2)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t_prog = time.perf_counter() - t0
        d = t["digital"]
        print(f"| {label} | {d * 1e3:.3f} | {t['ideal'] * 1e3:.3f} ({t['ideal'] / d:.1f}x) | "
              f"{t['noisy'] * 1e3:.3f} ({t['noisy'] / d:.1f}x) | {t_prog * 1e3:.2f} |")


if __name__ == "__main__":
    main()

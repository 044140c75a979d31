"""Depth network latency and real-time factor on CPU (and CUDA when present).

    .venv/bin/python benchmarks/depth_bench.py [--weights builtin] [--threads 1] [--repeat 5]

1. Latency per 50 ms window at 346x260 (DAVIS346): the SNN over all T steps (one multi-step
   call), the SNN step by step under early stop, and the same-size ANN twin; encoder time
   (numba cumulative stack) separately. Inputs are real events from the DAVIS346 recording
   shared/data/aedat4/aestream_davis.aedat4 (117,667 events, 130 ms).
2. Real-time factor: replaying that recording through windowing + encoder + network
   (wall time / recording duration; < 1 means faster than real time).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from evrt.backends.early_stop import ConvergencePolicy
from evrt.models.depth import DepthNet
from evrt.models.depth_data import encode_window
from evrt.models.depth_infer import DepthPredictor, load_checkpoint
from evrt.snn.functional import reset_net


def _find_recording() -> Path:
    """shared/data/aedat4/aestream_davis.aedat4 beside the checkout (EVRT_SHARED_DATA overrides)."""
    import os

    env = os.environ.get("EVRT_SHARED_DATA")
    roots = [Path(env)] if env else [p / "shared" / "data" for p in Path(__file__).resolve().parents]
    for root in roots:
        if (root / "aedat4" / "aestream_davis.aedat4").is_file():
            return root / "aedat4" / "aestream_davis.aedat4"
    return roots[0] / "aedat4" / "aestream_davis.aedat4"


REC = _find_recording()
W, H = 346, 260


def read_recording(path: Path) -> np.ndarray:
    import dv_processing as dv

    from evrt.events import concat_events, from_dv

    rec = dv.io.MonoCameraRecording(str(path))
    parts = []
    while True:
        batch = rec.getNextEventBatch()
        if batch is None:
            break
        parts.append(from_dv(batch).copy())
    return concat_events(parts)


def timed(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_device(dev: str, snn: DepthNet, ann: DepthNet, x: np.ndarray, repeat: int,
                 tol: float) -> tuple:
    """(device, SNN all-T s, SNN early-stop s, mean steps, ANN s) for one window on `dev`."""
    xt = torch.from_numpy(x)[:, None].to(dev)
    snn, ann = snn.to(dev), ann.to(dev)

    def sync() -> None:
        if dev == "cuda":
            torch.cuda.synchronize()

    def run_snn() -> None:
        with torch.no_grad():
            reset_net(snn)
            snn(xt)
        sync()

    def run_ann() -> None:
        with torch.no_grad():
            ann(xt)
        sync()

    pred = DepthPredictor(snn, early_stop=ConvergencePolicy(tol=tol, k=1), device=dev)
    used: list[int] = []

    def run_es() -> None:
        used.append(pred.predict(x)[1])
        sync()

    return (dev, timed(run_snn, repeat), timed(run_es, repeat), statistics.mean(used),
            timed(run_ann, repeat))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="builtin")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--window-us", type=int, default=50_000)
    ap.add_argument("--tol", type=float, default=0.01)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    snn, ckpt = load_checkpoint(args.weights)
    rep = ckpt.get("train_config", {}).get("data", {}).get("representation", "cumulative")
    ann = DepthNet(snn.cfg, spiking=False).eval()
    ann.load_state_dict(snn.state_dict())  # timing only: the twin's own weights do not change its cost
    steps = snn.cfg.timesteps
    if not REC.is_file():
        print(f"{REC} missing: cannot run the replay benchmark", file=sys.stderr)
        return 1
    events = read_recording(REC)
    t0, t1 = int(events["t"][0]), int(events["t"][-1]) + 1
    win = args.window_us
    first = events[(events["t"] >= t0) & (events["t"] < t0 + win)]
    enc_s = timed(lambda: encode_window(first, W, H, steps, t0, t0 + win, rep), args.repeat)
    x = encode_window(first, W, H, steps, t0, t0 + win, rep)
    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        rows.append(bench_device(dev, snn, ann, x, args.repeat, args.tol))
    snn.to("cpu")
    # replay: windows -> encoder -> SNN (with early stop), CPU
    pred = DepthPredictor(snn, early_stop=ConvergencePolicy(tol=args.tol, k=1))
    start = time.perf_counter()
    n = 0
    for a in range(t0, t1, win):
        ev = events[(events["t"] >= a) & (events["t"] < a + win)]
        pred.predict(encode_window(ev, W, H, steps, a, a + win, rep))
        n += 1
    wall = time.perf_counter() - start
    duration = (n * win) / 1e6
    print("## depth network (issue 6)\n")
    print(f"Command: `.venv/bin/python benchmarks/depth_bench.py --threads {args.threads} "
          f"--repeat {args.repeat}`; weights `{args.weights}` ({sum(p.numel() for p in snn.parameters())} "
          f"parameters, T = {steps}, {rep}), input 346x260 from {REC.name}, median of {args.repeat}.\n")
    print("| device | encoder (numba) ms | SNN all T ms | SNN early stop ms (mean steps) | ANN twin ms | SNN/ANN |")
    print("|---|---|---|---|---|---|")
    for dev, s, es, st, a in rows:
        print(f"| {dev} ({args.threads} thread{'s' if args.threads > 1 else ''}) | {enc_s * 1e3:.1f} | "
              f"{s * 1e3:.1f} | {es * 1e3:.1f} ({st:.2f}/{steps}) | {a * 1e3:.1f} | {s / a:.1f}x |")
    print(f"\nReplay of {REC.name} ({n} windows of {win // 1000} ms = {duration * 1e3:.0f} ms of events, "
          f"{len(events)} events) through encoder + SNN with early stop on CPU: {wall:.2f} s wall, "
          f"real-time factor {wall / duration:.2f} (< 1 is faster than real time).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

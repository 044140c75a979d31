"""Event simulator throughput: input pixels/s and output events/s, plus the scenes end to end.

No third-party frame-to-event simulator is installable here (v2e and ESIM are not on PyPI),
so the peer is a plain-numpy, frame-difference implementation of the same model (no
refractory period, no noise), written below; both must give the same event count.

Run: .venv/bin/python benchmarks/bench_simulator.py [--frames 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from evrt.sources.synthetic.simulator import EventSimulator
from scipy.ndimage import shift

from evrt.events import EVENT_DTYPE, Geometry


def numpy_reference(frames: np.ndarray, times: np.ndarray, c: float, eps: float = 1e-3) -> np.ndarray:
    """Vectorised numpy version of the same crossings (x state, linear interpolation)."""
    h, w = frames.shape[1:]
    lin_prev = np.log(frames[0].ravel() + eps)
    x = np.zeros(h * w)
    out = []
    for img, t0, t1 in zip(frames[1:], times[:-1], times[1:], strict=True):
        lin = np.log(img.ravel() + eps)
        d = lin - lin_prev
        end = x + d
        n_on = np.where(end >= c, np.floor(end / c), 0).astype(np.int64)
        n_off = np.where(end <= -c, np.floor(-end / c), 0).astype(np.int64)
        n = n_on + n_off
        pix = np.repeat(np.arange(h * w), n)
        k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + 1  # 1..n per pixel
        sign = np.where(n_on[pix] > 0, 1.0, -1.0)
        tc = t0 + (k * c * sign - x[pix]) / d[pix] * (t1 - t0)
        ev = np.zeros(pix.size, EVENT_DTYPE)
        ev["t"] = np.floor(tc)
        ev["x"] = pix % w
        ev["y"] = pix // w
        ev["p"] = sign > 0
        out.append(ev[np.argsort(ev["t"], kind="stable")])
        x = end - n_on * c + n_off * c
        lin_prev = lin
    return np.concatenate(out)


def workload(name: str, n: int, g: Geometry) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_sample_images

    photo = load_sample_images().images[0].astype(np.float64) @ [0.299, 0.587, 0.114] / 255
    base = photo[50 : 50 + g.height, 100 : 100 + g.width]
    if name == "static":
        frames = np.repeat(base[None], n, axis=0)
    elif name == "translate":  # 0.5 px per frame, the scenes' sampling regime
        frames = np.stack([shift(base, (0, 0.5 * k), order=1, mode="reflect") for k in range(n)])
    else:  # independent random frames: the worst case for event count
        frames = np.random.default_rng(0).random((n, g.height, g.width))
    return frames, np.arange(n, dtype=np.int64) * 1000


CLOCK = time.perf_counter


def best_of(fn, repeat: int) -> tuple[float, object]:
    """Best time of `repeat` runs on CLOCK (wall, or process CPU time with --cpu-time)."""
    best, result = np.inf, None
    for _ in range(repeat):
        t = CLOCK()
        result = fn()
        best = min(best, CLOCK() - t)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with process CPU time (for a shared, oversubscribed machine; "
                         "everything measured is single-threaded)")
    args = ap.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    g = Geometry(346, 260)
    print(f"# {platform.processor() or platform.machine()}, numpy {np.__version__}; "
          f"{g.width}x{g.height}, {args.frames} frames, best of {args.repeat}, "
          f"{'process CPU time' if args.cpu_time else 'wall time'}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    EventSimulator(Geometry(4, 4)).feed(np.ones((4, 4)), 0)  # compile / load the numba cache
    print("| workload | evrt events | numpy ref events | evrt Mpix/s | evrt Mev/s | numpy ref Mpix/s | numpy ref Mev/s | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("static", "translate", "random"):
        frames, times = workload(name, args.frames, g)
        pixels = (args.frames - 1) * g.width * g.height

        def run_evrt(frames: np.ndarray = frames, times: np.ndarray = times) -> int:
            sim = EventSimulator(g, sigma=0.0, contrast_on=0.2, contrast_off=0.2)
            return sum(sim.feed(f, t).size for f, t in zip(frames, times, strict=True))

        t_e, n_e = best_of(run_evrt, args.repeat)
        t_n, ref = best_of(lambda f=frames, t=times: numpy_reference(f, t, 0.2), args.repeat)
        assert abs(ref.size - n_e) <= 1e-3 * max(n_e, 1), (ref.size, n_e)  # float ties at thresholds
        print(f"| {name} | {n_e} | {ref.size} | {pixels / t_e / 1e6:.1f} | {n_e / t_e / 1e6:.2f} | "
              f"{pixels / t_n / 1e6:.1f} | {ref.size / t_n / 1e6:.2f} | {t_n / t_e:.1f}x |")
    # full model (mismatch, refractory, noise) on the translate workload
    frames, times = workload("translate", args.frames, g)
    def run_full() -> int:
        sim = EventSimulator(g, sigma=0.03, refractory_us=100, shot_noise_rate=0.1, leak_rate=0.05)
        return sum(sim.feed(f, t).size for f, t in zip(frames, times, strict=True))
    t_f, n_f = best_of(run_full, args.repeat)
    pixels = (args.frames - 1) * g.width * g.height
    print(f"\nfull model (sigma 0.03, refractory 100 us, noise on), translate: "
          f"{pixels / t_f / 1e6:.1f} Mpix/s, {n_f / t_f / 1e6:.2f} Mev/s ({n_f} events)")
    # scenes end to end (render + simulate)
    from evrt.sources.synthetic.depth_scene import depth_clip
    from evrt.sources.synthetic.digits import digits_sample

    digits_sample(0)
    t, _ = best_of(lambda: [digits_sample(i) for i in range(20)], 1)
    print(f"digits_saccades: {20 / t:.1f} samples/s (300 ms of 34x34 events each)")
    depth_clip(0, duration=0.02)
    t, (ev, _, _) = best_of(lambda: depth_clip(0, duration=0.5), 1)
    print(f"depth_scene 346x260: {0.5 / t:.3f} simulated s per timed s, {ev.size / t / 1e6:.2f} Mev/s "
          f"({ev.size} events in 0.5 s of scene)")


if __name__ == "__main__":
    main()

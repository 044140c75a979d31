"""Spike tensors of the `digits_saccades` split, simulated once and cached as packed bits.

Simulating one sample takes a few tenths of a second, so training reads a cache:
`<cache>/digits_saccades_<split>_T<steps>_seed<seed>.npz` holding `bits` (packed binary
spike tensors, N x T x 2 x 34 x 34), `label`, `index` (digit index in scikit-learn's order).
`build_cache` can stop after `limit` samples (taken in a fixed class-stratified shuffled order)
and resumes where a previous run stopped. The default cache folder `artifacts/prime` is gitignored.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from evrt.encoders.functional.spike_tensor import spike_tensor

SIZE = 34
WINDOW_US = 300_001          # a digits_saccades sample's events lie in [0, 300 ms]
DEFAULT_CACHE = Path("artifacts/prime")


def encode(events: np.ndarray, steps: int, t_start: int = 0, t_end: int | None = None) -> np.ndarray:
    """(steps, 2, 34, 34) binary float32 spikes of one sample's window."""
    t_end = t_start + WINDOW_US if t_end is None else t_end
    return spike_tensor(events, SIZE, SIZE, steps, t_start, t_end, binary=True)


def cache_path(split: str, steps: int, seed: int = 0, cache: str | Path = DEFAULT_CACHE) -> Path:
    return Path(cache) / f"digits_saccades_{split}_T{steps}_seed{seed}.npz"


def sample_order(split: str, seed: int = 0) -> np.ndarray:
    """Positions within the split in a fixed shuffled order (a prefix is a random subset)."""
    from evrt.sources.synthetic.digits import split_indices

    n = split_indices(split).shape[0]
    return np.random.default_rng(1000 + seed).permutation(n)


def build_cache(split: str, steps: int = 10, *, seed: int = 0, limit: int = 0,
                cache: str | Path = DEFAULT_CACHE, save_every: int = 50,
                progress: bool = True) -> Path:
    """Simulate and encode up to `limit` samples (0 = the whole split); resumable."""
    from evrt.sources.synthetic.digits import DigitsSaccades

    path = cache_path(split, steps, seed, cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = DigitsSaccades(split, seed=seed)
    order = sample_order(split, seed)
    n = len(order) if limit <= 0 else min(limit, len(order))
    tensors, labels, index = [], [], []
    if path.exists():
        old = np.load(path)
        done = old["label"].shape[0]
        tensors = list(np.unpackbits(old["bits"], axis=1, count=steps * 2 * SIZE * SIZE)
                       .reshape(done, steps, 2, SIZE, SIZE).astype(np.float32))
        labels, index = list(old["label"]), list(old["index"])
    t0 = time.monotonic()
    start = len(labels)
    for k in range(start, n):
        pos = int(order[k])
        events, label = data[pos]
        tensors.append(encode(events, steps))
        labels.append(label)
        index.append(int(data.indices[pos]))
        if progress:
            rate = (k + 1 - start) / (time.monotonic() - t0)
            print(f"\r  {split}: sample {k + 1}/{n}  {rate:.2f} samples/s", end="", file=sys.stderr,
                  flush=True)
        if (k + 1) % save_every == 0 or k + 1 == n:
            _save(path, tensors, labels, index)
    if progress:
        print(file=sys.stderr)
    return path


def _save(path: Path, tensors: list, labels: list, index: list) -> None:
    x = np.stack(tensors).astype(np.uint8).reshape(len(tensors), -1)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, bits=np.packbits(x, axis=1), label=np.asarray(labels, np.int64),
             index=np.asarray(index, np.int64))
    os.replace(tmp, path)


def load_cache(split: str, steps: int = 10, *, seed: int = 0, limit: int = 0,
               cache: str | Path = DEFAULT_CACHE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spikes N x T x 2 x 34 x 34 float32, labels, digit indices) from the cache."""
    from evrt.errors import ConfigError

    path = cache_path(split, steps, seed, cache)
    if not path.exists():
        raise ConfigError(f"no cached spike tensors at {path}; run "
                          f"`python -m evrt.models.prime.data {split} --steps {steps}` first")
    f = np.load(path)
    labels, index = f["label"], f["index"]
    n = labels.shape[0] if limit <= 0 else min(limit, labels.shape[0])
    x = np.unpackbits(f["bits"][:n], axis=1, count=steps * 2 * SIZE * SIZE)
    return x.reshape(n, steps, 2, SIZE, SIZE).astype(np.float32), labels[:n], index[:n]


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="cache digits_saccades spike tensors for PRIME")
    ap.add_argument("split", choices=["train", "test"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="stop after this many samples (0 = all)")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE))
    a = ap.parse_args(argv)
    print(build_cache(a.split, a.steps, seed=a.seed, limit=a.limit, cache=a.cache))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

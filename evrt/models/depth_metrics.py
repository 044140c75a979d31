"""MVSEC / E2Depth depth metrics over valid pixels, each also with ground truth cut at 10/20/30 m.

Valid pixels: ground truth finite and > 0 (MVSEC marks unknown depth with NaN) and, for a
cut at c metres, gt <= c. Predictions are clipped to [min_depth, max_depth] first (a log
depth in [0, 1] maps to [Dmax e^-alpha, Dmax]), so logarithms are always defined.

- abs_rel  = mean(|p - g| / g)          sq_rel  = mean((p - g)^2 / g)
- rms      = sqrt(mean((p - g)^2))      rms_log = sqrt(mean((ln p - ln g)^2))
- silog    = mean(d^2) - mean(d)^2, d = ln p - ln g   (scale-invariant log error, Eigen et al.
             with lambda = 1, as in E2Depth's evaluation)
- mean_abs = mean(|p - g|) in metres    (the "average absolute depth error" of the MVSEC papers)
- delta_k  = fraction of pixels with max(p/g, g/p) < 1.25^k, k = 1, 2, 3
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["depth_metrics", "MetricAccumulator", "CUTOFFS", "METRIC_NAMES"]

CUTOFFS: tuple[float | None, ...] = (None, 10.0, 20.0, 30.0)
METRIC_NAMES = ("abs_rel", "sq_rel", "rms", "rms_log", "silog", "mean_abs",
                "delta1", "delta2", "delta3")


def _sums(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Additive sums over pixels, so metrics can be accumulated over many frames exactly."""
    err = pred - gt
    d = np.log(pred) - np.log(gt)
    ratio = np.maximum(pred / gt, gt / pred)
    return {
        "n": float(gt.size),
        "abs_rel": float(np.sum(np.abs(err) / gt)),
        "sq_rel": float(np.sum(err ** 2 / gt)),
        "sq": float(np.sum(err ** 2)),
        "sq_log": float(np.sum(d ** 2)),
        "log": float(np.sum(d)),
        "abs": float(np.sum(np.abs(err))),
        "delta1": float(np.sum(ratio < 1.25)),
        "delta2": float(np.sum(ratio < 1.25 ** 2)),
        "delta3": float(np.sum(ratio < 1.25 ** 3)),
    }


def _finish(s: dict[str, float]) -> dict[str, float]:
    n = s["n"]
    if n == 0:
        return {k: float("nan") for k in METRIC_NAMES} | {"pixels": 0}
    mean_log = s["log"] / n
    return {
        "abs_rel": s["abs_rel"] / n,
        "sq_rel": s["sq_rel"] / n,
        "rms": float(np.sqrt(s["sq"] / n)),
        "rms_log": float(np.sqrt(s["sq_log"] / n)),
        "silog": s["sq_log"] / n - mean_log ** 2,
        "mean_abs": s["abs"] / n,
        "delta1": s["delta1"] / n,
        "delta2": s["delta2"] / n,
        "delta3": s["delta3"] / n,
        "pixels": int(n),
    }


def _key(cut: float | None) -> str:
    return "all" if cut is None else f"{cut:g}m"


class MetricAccumulator:
    """Accumulates per-pixel sums over frames; `result()` gives metrics per cut-off.

    Accumulating sums (not per-frame means) weighs every valid pixel equally, which is how
    the MVSEC numbers are reported (frames with few valid pixels do not dominate).
    """

    def __init__(self, min_depth: float = 1e-3, max_depth: float = 80.0,
                 cutoffs: Iterable[float | None] = CUTOFFS) -> None:
        self.min_depth, self.max_depth = min_depth, max_depth
        self.cutoffs = tuple(cutoffs)
        self.sums = {_key(c): dict.fromkeys(_sums(np.ones(1), np.ones(1)), 0.0) for c in self.cutoffs}
        self.frames = 0

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        pred = np.asarray(pred, dtype=np.float64)
        gt = np.asarray(gt, dtype=np.float64)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction shape {pred.shape} != ground truth shape {gt.shape}")
        pred = np.clip(pred, self.min_depth, self.max_depth)
        valid = np.isfinite(gt) & (gt > 0) & (gt <= self.max_depth)
        self.frames += 1
        for cut in self.cutoffs:
            m = valid if cut is None else valid & (gt <= cut)
            for k, v in _sums(pred[m], gt[m]).items():
                self.sums[_key(cut)][k] += v

    def result(self) -> dict[str, dict[str, float]]:
        return {k: _finish(s) for k, s in self.sums.items()}


def depth_metrics(pred: np.ndarray, gt: np.ndarray, *, min_depth: float = 1e-3,
                  max_depth: float = 80.0,
                  cutoffs: Iterable[float | None] = CUTOFFS) -> dict[str, dict[str, float]]:
    """Metrics of one prediction (metres) against ground truth (metres, NaN = unknown).

    Returns {"all": {...}, "10m": {...}, "20m": {...}, "30m": {...}}.
    """
    acc = MetricAccumulator(min_depth, max_depth, cutoffs)
    acc.add(pred, gt)
    return acc.result()

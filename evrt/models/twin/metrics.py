"""Error measures for twins: normalised RMSE and valid prediction time."""

from __future__ import annotations

import numpy as np


def nrmse(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """RMSE over the last axis divided by the range (max - min) of the true signal; one value
    per leading index. The range, not the std, is the normaliser (stated in the report)."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    rmse = np.sqrt(np.mean((pred - true) ** 2, axis=-1))
    span = np.ptp(true, axis=-1)
    return rmse / np.maximum(span, 1e-12)


def normalised_error(pred: np.ndarray, true: np.ndarray, sigma: float) -> np.ndarray:
    """||pred - true|| / (sigma sqrt(N)) per time step, for arrays shaped [..., T, N]."""
    return np.sqrt(np.mean((np.asarray(pred) - np.asarray(true)) ** 2, axis=-1)) / sigma


def valid_prediction_time(pred: np.ndarray, true: np.ndarray, dt: float, sigma: float,
                          threshold: float = 0.5) -> np.ndarray:
    """First time at which the normalised error exceeds `threshold` (Vlachas et al. 2020 use
    0.5), per leading index; the full horizon if it never does. Arrays [..., T, N]."""
    err = normalised_error(pred, true, sigma)
    above = err > threshold
    first = np.where(above.any(-1), above.argmax(-1), err.shape[-1])
    return first * dt

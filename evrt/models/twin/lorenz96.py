"""Lorenz96: dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F, cyclic in i.

Defaults N = 40, F = 8 (Lorenz 1996's standard chaotic setting; largest Lyapunov exponent
about 1.68 per time unit, which `largest_lyapunov` recomputes). Integration is classical
RK4 with a fixed step in float64 numpy, vectorised over a batch of states [B, N].
"""

from __future__ import annotations

import numpy as np

from evrt.errors import ConfigError

DEFAULT_N = 40
DEFAULT_F = 8.0


def tendency(x: np.ndarray, forcing: float = DEFAULT_F) -> np.ndarray:
    """dx/dt for states shaped [..., N]."""
    return (np.roll(x, -1, -1) - np.roll(x, 2, -1)) * np.roll(x, 1, -1) - x + forcing


def tangent(x: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Jacobian of `tendency` at x applied to dx (tangent-linear model)."""
    r = np.roll
    return ((r(dx, -1, -1) - r(dx, 2, -1)) * r(x, 1, -1)
            + (r(x, -1, -1) - r(x, 2, -1)) * r(dx, 1, -1) - dx)


def _rk4(f, x, h):
    k1 = f(x)
    k2 = f(x + 0.5 * h * k1)
    k3 = f(x + 0.5 * h * k2)
    k4 = f(x + h * k3)
    return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def integrate(x0: np.ndarray, steps: int, dt: float = 0.01, *, forcing: float = DEFAULT_F,
              substeps: int = 1) -> np.ndarray:
    """States at t = 0, dt, ..., steps*dt: shape [steps+1, *x0.shape]."""
    x = np.asarray(x0, dtype=float)
    if x.shape[-1] < 4:
        raise ConfigError(f"Lorenz96 needs N >= 4 sites, got {x.shape[-1]}", key="N")
    out = np.empty((steps + 1, *x.shape))
    out[0] = x
    h = dt / substeps
    for k in range(steps):
        for _ in range(substeps):
            x = _rk4(lambda z: tendency(z, forcing), x, h)
        out[k + 1] = x
    return out


def initial_state(n: int = DEFAULT_N, forcing: float = DEFAULT_F, *, batch: int | None = None,
                  spinup: float = 20.0, seed: int = 0, dt: float = 0.01) -> np.ndarray:
    """Points on the attractor: F plus a small random kick, then `spinup` time units of RK4."""
    rng = np.random.default_rng(seed)
    shape = (n,) if batch is None else (batch, n)
    x = forcing + 0.01 * rng.standard_normal(shape)
    steps = int(round(spinup / dt))
    for _ in range(steps):
        x = _rk4(lambda z: tendency(z, forcing), x, dt)
    return x


def largest_lyapunov(n: int = DEFAULT_N, forcing: float = DEFAULT_F, *, time: float = 200.0,
                     dt: float = 0.01, seed: int = 0) -> float:
    """Largest Lyapunov exponent by the tangent-linear method (Benettin): propagate a unit
    perturbation with the Jacobian, renormalise every step, average the log growth."""
    x = initial_state(n, forcing, seed=seed, dt=dt)
    rng = np.random.default_rng(seed + 1)
    d = rng.standard_normal(n)
    d /= np.linalg.norm(d)
    steps = int(round(time / dt))
    total = 0.0

    def joint(z: np.ndarray) -> np.ndarray:
        return np.concatenate([tendency(z[:n], forcing), tangent(z[:n], z[n:])])

    z = np.concatenate([x, d])
    for _ in range(steps):
        z = _rk4(joint, z, dt)
        norm = np.linalg.norm(z[n:])
        total += np.log(norm)
        z[n:] /= norm
    return total / (steps * dt)

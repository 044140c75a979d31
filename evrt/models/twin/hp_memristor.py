"""HP (Strukov) memristor with linear ion drift, driven by voltage waveforms.

This is the "physical" system the HP digital twin learns. The model (Strukov et al.,
Nature 453, 2008; window functions from Joglekar & Wolf 2009 and Biolek et al. 2009):

    v = M(w) i,            M(w) = R_on w/D + R_off (1 - w/D)
    dw/dt = mu_v R_on / D * i(t) * f(w/D, i)

Joglekar window f(x) = 1 - (2x - 1)^(2p); Biolek window f(x, i) = 1 - (x - stp(-i))^(2p)
(stp = unit step), so with i > 0 the state slows only at x -> 1 and with i < 0 only at
x -> 0 (no terminal-state lock). Defaults: D = 10 nm, mu_v = 1e-14 m^2/(V s),
R_on = 100 ohm, R_off = 16 kohm (PAPERS.md; the twin paper's own values are not public).

The state is integrated as x = w/D with classical RK4 on a fine sub-grid and then clipped
to the physical range [0, 1] (hard walls: the dopant front cannot leave the film). The
waveforms are evaluated vectorised (numpy); the RK4 loop is a numba kernel over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from evrt.errors import ConfigError

WINDOWS = ("none", "joglekar", "biolek")


@dataclass
class HPParams:
    """Device parameters in SI units; `window` is one of `WINDOWS`, `p` its exponent."""

    D: float = 10e-9
    mu_v: float = 1e-14
    R_on: float = 100.0
    R_off: float = 16e3
    window: str = "joglekar"
    p: int = 2
    x0: float = 0.1  # initial state w0/D

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ConfigError(f"window must be one of {WINDOWS}, got {self.window!r}", key="window")
        if not (self.D > 0 and self.mu_v > 0 and 0 < self.R_on < self.R_off):
            raise ConfigError("need D > 0, mu_v > 0 and 0 < R_on < R_off", key="HPParams")
        if not 0.0 <= self.x0 <= 1.0:
            raise ConfigError(f"x0 = w0/D must lie in [0, 1], got {self.x0}", key="x0")
        if self.p < 1:
            raise ConfigError(f"window exponent p must be >= 1, got {self.p}", key="p")

    @property
    def k(self) -> float:
        """Drift rate of x = w/D per unit charge: mu_v R_on / D^2 (1/(A s))."""
        return self.mu_v * self.R_on / self.D**2

    def memristance(self, x: np.ndarray) -> np.ndarray:
        return self.R_on * x + self.R_off * (1.0 - x)

    def window_fn(self, x: np.ndarray, i: np.ndarray) -> np.ndarray:
        if self.window == "none":
            return np.ones_like(x)
        if self.window == "joglekar":
            return 1.0 - (2.0 * x - 1.0) ** (2 * self.p)
        stp = (i < 0).astype(x.dtype)  # stp(-i)
        return 1.0 - (x - stp) ** (2 * self.p)

    def dxdt(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        i = v / self.memristance(x)
        return self.k * i * self.window_fn(x, i)


# ---------------------------------------------------------------- drives (voltage waveforms)


@dataclass
class Drive:
    """A voltage waveform v(t) in volts; subclasses implement `voltage(t)` for any array t (s)."""

    def voltage(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        fields = ", ".join(f"{k}={v:g}" for k, v in vars(self).items() if isinstance(v, (int, float)))
        return f"{type(self).__name__.lower()}({fields})"


@dataclass
class Sine(Drive):
    amplitude: float = 1.0
    freq: float = 1.0
    phase: float = 0.0

    def voltage(self, t):
        return self.amplitude * np.sin(2 * np.pi * self.freq * t + self.phase)


@dataclass
class Triangle(Drive):
    """Zero-mean triangle starting at 0 and rising (same phase convention as `Sine`)."""

    amplitude: float = 1.0
    freq: float = 1.0

    def voltage(self, t):
        ph = np.mod(self.freq * t + 0.25, 1.0)  # 0.25 -> starts at 0 going up
        return self.amplitude * (4.0 * np.abs(ph - 0.5) - 1.0) * -1.0


@dataclass
class PulseTrain(Drive):
    """Rectangular pulses (bipolar alternates sign); edges are linear ramps of `rise` seconds."""

    amplitude: float = 1.0
    period: float = 1.0
    duty: float = 0.5
    bipolar: bool = True
    rise: float = 0.01

    def voltage(self, t):
        t = np.asarray(t, dtype=float)
        n = np.floor(t / self.period)
        local = t - n * self.period
        width = self.duty * self.period
        r = max(self.rise, 1e-12)
        up = np.clip(local / r, 0.0, 1.0)
        down = np.clip((width - local) / r, 0.0, 1.0)
        level = np.minimum(up, down)
        sign = np.where(np.mod(n, 2) == 1, -1.0, 1.0) if self.bipolar else 1.0
        return self.amplitude * level * sign


@dataclass
class RandomDrive(Drive):
    """Band-limited random voltage: a sum of `n_tones` sinusoids with random frequencies up
    to `max_freq`, random phases, scaled to peak `amplitude` over [0, horizon]."""

    amplitude: float = 1.0
    max_freq: float = 2.0
    n_tones: int = 6
    seed: int = 0
    horizon: float = 10.0
    _f: np.ndarray = field(init=False, repr=False)
    _ph: np.ndarray = field(init=False, repr=False)
    _a: np.ndarray = field(init=False, repr=False)
    _scale: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self._f = rng.uniform(0.1 * self.max_freq, self.max_freq, self.n_tones)
        self._ph = rng.uniform(0, 2 * np.pi, self.n_tones)
        self._a = rng.uniform(0.3, 1.0, self.n_tones)
        grid = np.linspace(0.0, self.horizon, 4001)
        self._scale = 1.0
        peak = np.max(np.abs(self.voltage(grid)))
        self._scale = self.amplitude / peak

    def voltage(self, t):
        t = np.asarray(t, dtype=float)[..., None]
        return self._scale * np.sum(self._a * np.sin(2 * np.pi * self._f * t + self._ph), axis=-1)


# ---------------------------------------------------------------- simulation


@dataclass
class Trajectory:
    """Sampled response of a batch of devices: arrays shaped [B, T] (t shaped [T])."""

    t: np.ndarray
    v: np.ndarray
    i: np.ndarray
    x: np.ndarray  # w / D
    params: HPParams

    @property
    def w(self) -> np.ndarray:
        return self.x * self.params.D


def simulate(drives: list[Drive] | Drive, duration: float, dt: float, *,
             params: HPParams | None = None, substeps: int = 20,
             x0: np.ndarray | float | None = None) -> Trajectory:
    """Integrate every drive for `duration` s, sampling every `dt` s (RK4, `substeps` per sample).

    Returns v, i, x = w/D on the sample grid t = 0, dt, ..., duration. The state is clipped to
    [0, 1] after each RK4 sub-step.
    """
    if isinstance(drives, Drive):
        drives = [drives]
    params = params or HPParams()
    if duration <= 0 or dt <= 0 or substeps < 1:
        raise ConfigError("duration and dt must be > 0 and substeps >= 1")
    n = int(round(duration / dt)) + 1
    h = dt / substeps
    t = np.arange(n) * dt
    fine = np.arange((n - 1) * substeps * 2 + 1) * (h / 2)  # every half sub-step
    v_fine = np.stack([d.voltage(fine) for d in drives])  # [B, 2S+1]
    b = len(drives)
    x = np.full(b, params.x0, dtype=float)
    if x0 is not None:
        x[:] = x0
    if not (np.all(x >= 0) and np.all(x <= 1)):
        raise ConfigError("initial states x0 = w0/D must lie in [0, 1]", key="x0")
    xs = _rk4_clipped(np.ascontiguousarray(v_fine, dtype=np.float64), x, params.k, params.R_on,
                      params.R_off, WINDOWS.index(params.window), int(params.p), h, substeps, n)
    v = v_fine[:, :: 2 * substeps]
    i = v / params.memristance(xs)
    return Trajectory(t=t, v=v, i=i, x=xs, params=params)


@njit(cache=True, nogil=True)
def _dxdt(x: float, v: float, k: float, r_on: float, r_off: float, window: int, p: int) -> float:
    i = v / (r_on * x + r_off * (1.0 - x))
    if window == 0:
        f = 1.0
    elif window == 1:
        f = 1.0 - (2.0 * x - 1.0) ** (2 * p)
    else:
        f = 1.0 - (x - (1.0 if i < 0 else 0.0)) ** (2 * p)
    return k * i * f


@njit(cache=True, nogil=True)
def _clip01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


@njit(cache=True, nogil=True)
def _rk4_clipped(v_fine: np.ndarray, x0: np.ndarray, k: float, r_on: float, r_off: float,
                 window: int, p: int, h: float, substeps: int, n: int) -> np.ndarray:
    """RK4 of every drive (rows of v_fine, sampled every h/2), state clipped to [0, 1] after each
    stage and step; returns x at every `substeps`-th step, shape [B, n]. Same maths as
    `HPParams.dxdt` (window codes follow `WINDOWS`)."""
    b = v_fine.shape[0]
    xs = np.empty((b, n))
    for r in range(b):
        x = x0[r]
        xs[r, 0] = x
        for s in range((n - 1) * substeps):
            v0, vm, v1 = v_fine[r, 2 * s], v_fine[r, 2 * s + 1], v_fine[r, 2 * s + 2]
            k1 = _dxdt(x, v0, k, r_on, r_off, window, p)
            k2 = _dxdt(_clip01(x + 0.5 * h * k1), vm, k, r_on, r_off, window, p)
            k3 = _dxdt(_clip01(x + 0.5 * h * k2), vm, k, r_on, r_off, window, p)
            k4 = _dxdt(_clip01(x + h * k3), v1, k, r_on, r_off, window, p)
            x = _clip01(x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4))
            if (s + 1) % substeps == 0:
                xs[r, (s + 1) // substeps] = x
    return xs

"""An event-camera simulator (ESIM / v2e style) driven by intensity images with timestamps.

Model, per pixel:
- log intensity L = log(I + eps), I linear in [0, 1] (uint8 / uint16 images are scaled);
- a reference level ref, set to L whenever the pixel fires; the state kept between calls
  is the difference x = L - ref (plus the last image), so frames can be fed one at a time;
- between two images the log intensity is interpolated linearly in time, and leak drifts
  ref down at `leak_rate` thresholds per second, so x(t) is linear within an interval and
  every threshold crossing time is solved exactly (no aliasing to frame times);
- an ON event when x reaches +C_on, an OFF event when it reaches -C_off, with per-pixel
  thresholds drawn once as N(C, sigma) (mismatch), clipped at `min_threshold`;
- refractory period: after an event the pixel is blind for `refractory_us`; a crossing
  that falls inside fires one event at the end of the period (the pixel resets to the
  current level, as a real pixel's reset does);
- shot noise: Poisson events at `shot_noise_rate` Hz per pixel, random sign, uniform time,
  added independently of the pixel state (they neither reset it nor respect its refractory
  period; real shot noise does both, a simplification kept for speed).

How finely time is sampled matters for fast motion: `simulate_render` samples a render
function adaptively (ESIM's rule) so no pixel changes by more than a fraction of a
threshold between samples, and the scenes bound the optic flow per sample instead.
Deterministic: the same seed and the same sequence of calls give the same events, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

from evrt.errors import ConfigError, EventDataError
from evrt.events import EVENT_DTYPE, Geometry


@njit(cache=True, nogil=True)
def _count_bound(x, lin0, lin1, c_on, c_off, leak_slope, dt):
    """Upper bound of the events all pixels can fire in this interval.

    x only moves monotonically within an interval and resets to 0 at each event, so a
    pixel fires at most 1 + |change| / min(threshold) times, and not at all while |x|
    cannot reach a threshold.
    """
    total = 0
    for i in range(x.shape[0]):
        d = abs(lin1[i] - lin0[i] + leak_slope[i] * dt)
        thr = min(c_on[i], c_off[i])
        if abs(x[i]) + d >= thr - 1e-6:  # slack: the crossing test below rounds differently
            total += 2 + int(d / thr)
    return total


@njit(cache=True, nogil=True)
def _crossings(x, lin0, lin1, t0, t1, c_on, c_off, leak_slope, last_t, refractory,
               out_t, out_i, out_p):
    """Fire every threshold crossing of x(t) = x + s (t - t0) in [t0, t1]; update x and last_t.

    A pixel still inside its refractory period is blind: its change accumulates and, if x
    is still beyond a threshold when the period ends, it fires once then. Returns the
    number of events written to out_t (float µs), out_i (pixel index), out_p (0/1).
    """
    dt = t1 - t0
    k = 0
    cap = out_t.shape[0]
    for i in range(x.shape[0]):
        s = (lin1[i] - lin0[i]) / dt + leak_slope[i]  # log units per µs
        xi = x[i]
        con = c_on[i]
        coff = c_off[i]
        tcur = t0
        while True:
            if xi >= con or xi <= -coff:  # pending from a refractory period
                tr = max(last_t[i] + refractory, tcur)
                if tr > t1:
                    break
                xr = xi + s * (tr - tcur)
                tcur = tr
                if xr >= con or xr <= -coff:
                    if k >= cap:
                        return -1
                    out_t[k] = tr
                    out_i[k] = i
                    out_p[k] = 1 if xr > 0 else 0
                    k += 1
                    last_t[i] = tr
                    xi = 0.0
                else:
                    xi = xr
                continue
            if s > 0.0:
                tc = tcur + (con - xi) / s
            elif s < 0.0:
                tc = tcur + (-coff - xi) / s
            else:
                break
            if tc > t1:
                break
            if k >= cap:  # cannot happen given _count_bound; never write out of bounds
                return -1
            ready = last_t[i] + refractory
            if tc < ready:  # blind: let the change accumulate until the period ends
                stop = min(ready, t1)
                xi = xi + s * (stop - tcur)
                tcur = stop
                if ready > t1:
                    break
                continue
            out_t[k] = tc
            out_i[k] = i
            out_p[k] = 1 if s > 0.0 else 0
            k += 1
            last_t[i] = tc
            xi = 0.0  # the pixel resets to the current level
            tcur = tc
        x[i] = xi + s * (t1 - tcur)
    return k


def join_events(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate event arrays into a zeroed buffer, field by field.

    `np.concatenate` leaves the 3 padding bytes of each record uninitialised for large
    arrays, which would break bit-for-bit determinism of `tobytes()`; this never does.
    """
    out = np.zeros(sum(p.shape[0] for p in parts), EVENT_DTYPE)
    a = 0
    for p in parts:
        b = a + p.shape[0]
        for name in ("t", "x", "y", "p"):
            out[name][a:b] = p[name]
        a = b
    return out


def to_intensity(image: np.ndarray) -> np.ndarray:
    """Linear intensity in [0, 1] as float64: integers are scaled by their dtype's maximum."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] in (3, 4):  # RGB(A): luma
        a = a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        if np.issubdtype(np.asarray(image).dtype, np.integer):
            a = a / np.iinfo(np.asarray(image).dtype).max
        return a
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.float64) / np.iinfo(a.dtype).max
    return a.astype(np.float64)


@dataclass
class SimulatorConfig:
    """Sensor parameters; thresholds are in log-intensity units (0.2 ~ 22 % contrast)."""

    contrast_on: float = 0.2
    contrast_off: float = 0.2
    sigma: float = 0.03
    min_threshold: float = 0.01
    refractory_us: float = 0.0
    shot_noise_rate: float = 0.0
    leak_rate: float = 0.0
    eps: float = 1e-3

    def check(self) -> None:
        if self.contrast_on <= 0 or self.contrast_off <= 0:
            raise ConfigError(f"contrast thresholds must be > 0, got on={self.contrast_on} off={self.contrast_off}")
        if self.sigma < 0 or self.refractory_us < 0 or self.shot_noise_rate < 0 or self.leak_rate < 0:
            raise ConfigError("sigma, refractory_us, shot_noise_rate and leak_rate must be >= 0")
        if self.min_threshold <= 0 or self.eps <= 0:
            raise ConfigError("min_threshold and eps must be > 0")


class EventSimulator:
    """Stateful simulator: `feed(image, t_us)` returns the events since the previous image.

    The first image only initialises the pixels (no events). `thresholds_on` /
    `thresholds_off` hold the per-pixel thresholds drawn from the seed.
    """

    def __init__(self, geometry: Geometry, config: SimulatorConfig | None = None, *, seed: int = 0,
                 **params: float):
        self.config = config or SimulatorConfig()
        for key, value in params.items():
            if not hasattr(self.config, key):
                raise ConfigError(f"unknown simulator parameter '{key}'")
            setattr(self.config, key, value)
        self.config.check()
        self.geometry = geometry
        c = self.config
        n = geometry.width * geometry.height
        self.rng = np.random.default_rng(seed)
        self.thresholds_on = self._draw(c.contrast_on, n)
        self.thresholds_off = self._draw(c.contrast_off, n)
        # leak: ref drifts down at leak_rate thresholds per second -> x rises at C_on * rate / 1e6 per µs
        self.leak_slope = self.thresholds_on * (c.leak_rate / 1e6)
        if c.leak_rate > 0:
            self.x = self.rng.uniform(0.0, 1.0, n) * self.thresholds_on  # random leak phase
        else:
            self.x = np.zeros(n)
        self.last_t = np.full(n, -np.inf)
        self.lin: np.ndarray | None = None
        self.t: int | None = None

    def _draw(self, mean: float, n: int) -> np.ndarray:
        c = self.config
        if c.sigma > 0:
            return np.maximum(self.rng.normal(mean, c.sigma, n), c.min_threshold)
        return np.full(n, max(mean, c.min_threshold))

    def log_intensity(self, image: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):  # bad pixels are reported by feed()
            return np.log(to_intensity(image).ravel() + self.config.eps)

    def feed(self, image: np.ndarray, t_us: int) -> np.ndarray:
        """Events (EVENT_DTYPE, sorted by time) between the previous image and this one at `t_us`."""
        shape = np.shape(image)[:2]
        if shape != self.geometry.shape:
            raise EventDataError(f"image of shape {shape} fed to a {self.geometry.width}x"
                                 f"{self.geometry.height} simulator (expected {self.geometry.shape})")
        t_us = int(t_us)
        lin = self.log_intensity(image)
        bad = np.flatnonzero(~np.isfinite(lin))
        if bad.size:
            y, x = divmod(int(bad[0]), self.geometry.width)
            raise EventDataError(f"image at t={t_us} µs has a NaN, infinite or negative intensity "
                                 f"at (x={x}, y={y}); expected linear intensities >= 0")
        if self.lin is None:
            self.lin, self.t = lin, t_us
            return np.zeros(0, EVENT_DTYPE)
        if t_us < self.t:
            raise EventDataError(f"image time {t_us} µs is before the previous image at {self.t} µs")
        if t_us == self.t:  # a replacement image at the same instant: no time to fire in
            self.lin = lin
            return np.zeros(0, EVENT_DTYPE)
        events = self._interval(self.lin, lin, self.t, t_us)
        self.lin, self.t = lin, t_us
        return events

    def _interval(self, lin0: np.ndarray, lin1: np.ndarray, t0: int, t1: int) -> np.ndarray:
        dt = float(t1 - t0)
        cap = _count_bound(self.x, lin0, lin1, self.thresholds_on, self.thresholds_off,
                           self.leak_slope, dt)
        out_t = np.empty(cap, np.float64)
        out_i = np.empty(cap, np.int64)
        out_p = np.empty(cap, np.int8)
        k = _crossings(self.x, lin0, lin1, float(t0), float(t1), self.thresholds_on,
                       self.thresholds_off, self.leak_slope, self.last_t,
                       float(self.config.refractory_us), out_t, out_i, out_p)
        if k < 0:
            raise RuntimeError("simulator event buffer bound violated (a bug in _count_bound)")
        t = np.floor(out_t[:k]).astype(np.int64)
        i, p = out_i[:k], out_p[:k]
        noise = self._shot_noise(t0, t1)
        if noise is not None:
            t, i, p = (np.concatenate([a, b]) for a, b in zip((t, i, p), noise, strict=True))
        return _sorted_events(t, i, p, t0, t1, self.geometry.width)

    def _shot_noise(self, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        rate = self.config.shot_noise_rate
        if rate <= 0:
            return None
        g = self.geometry
        n = int(self.rng.poisson(rate * g.width * g.height * (t1 - t0) / 1e6))
        t = self.rng.integers(t0, t1, n, endpoint=False)
        pix = self.rng.integers(0, g.width * g.height, n)
        p = self.rng.integers(0, 2, n).astype(np.int8)
        return t, pix, p


@njit(cache=True, nogil=True)
def _counting_order(t, t0, span):
    """Stable order of integer times in [t0, t0 + span] (counting sort, O(n + span))."""
    counts = np.zeros(span + 2, np.int64)
    for v in t:
        counts[v - t0 + 1] += 1
    for j in range(1, span + 2):
        counts[j] += counts[j - 1]
    order = np.empty(t.shape[0], np.int64)
    for k in range(t.shape[0]):
        slot = t[k] - t0
        order[counts[slot]] = k
        counts[slot] += 1
    return order


def _sorted_events(t: np.ndarray, pix: np.ndarray, p: np.ndarray, t0: int, t1: int,
                   width: int) -> np.ndarray:
    """Columns -> EVENT_DTYPE sorted by time (ties keep generation order: pixel index, then noise)."""
    span = t1 - t0
    if span <= 4 * max(t.shape[0], 1 << 20):
        order = _counting_order(t, t0, span)
    else:  # a very long gap between frames: a comparison sort is cheaper than the buckets
        order = np.argsort(t, kind="stable")
    ev = np.zeros(t.shape[0], EVENT_DTYPE)
    ev["t"] = t[order]
    pix = pix[order]
    ev["x"] = pix % width
    ev["y"] = pix // width
    ev["p"] = p[order]
    return ev


def simulate_frames(frames: np.ndarray, times_us: np.ndarray, *, seed: int = 0,
                    **params: float) -> np.ndarray:
    """All events of an image sequence [N, H, W] with timestamps [N] (µs), as one sorted array."""
    frames = np.asarray(frames)
    times_us = np.asarray(times_us)
    if frames.ndim < 3 or frames.shape[0] != times_us.shape[0]:
        raise EventDataError(f"expected frames [N, H, W] with N timestamps, got {frames.shape} "
                             f"and {times_us.shape}")
    sim = EventSimulator(Geometry(frames.shape[2], frames.shape[1]), seed=seed, **params)
    return join_events([sim.feed(f, t) for f, t in zip(frames, times_us, strict=True)])


def simulate_render(sim: EventSimulator, render: Callable[[int], np.ndarray], t0: int, t1: int, *,
                    max_log_step: float = 0.5, dt_min_us: int = 10, dt_max_us: int = 10_000,
                    must_sample: list[int] | tuple[int, ...] = (),
                    on_sample: Callable[[int, np.ndarray], None] | None = None,
                    step_us: Callable[[int, np.ndarray], float] | None = None) -> np.ndarray:
    """Events of `render(t_us) -> image` over [t0, t1], sampled adaptively (ESIM's rule).

    The next sample comes after dt = max_log_step * C / max|dL/dt| (from the last interval),
    within [dt_min_us, dt_max_us], so no pixel moves more than about `max_log_step`
    thresholds between samples and the linear interpolation stays faithful under fast
    motion. Times in `must_sample` are always rendered (e.g. ground-truth timestamps);
    `on_sample(t, image)` sees every rendered image. A renderer that knows its motion can
    pass `step_us(t, image or None)` -> the next step instead (e.g. from an optic-flow bound).
    If the simulator already holds an image at t0 (a previous call ended there), it continues
    from it without rendering t0 again.
    """
    c = min(sim.config.contrast_on, sim.config.contrast_off)
    forced = sorted(int(t) for t in must_sample if t0 <= t <= t1)
    out = []
    t = int(t0)
    image = None
    if sim.lin is None or sim.t != t:
        image = render(t)
        if on_sample:
            on_sample(t, image)
        out.append(sim.feed(image, t))
    lin_prev = sim.lin
    if step_us is not None:
        dt = step_us(t, image)  # image is None when continuing from a previous call
    else:
        dt = dt_min_us
    while t < t1:
        nxt = min(t + int(min(max(dt, dt_min_us), dt_max_us)), t1)
        for f in forced:
            if t < f < nxt:
                nxt = f
                break
        image = render(nxt)
        if on_sample:
            on_sample(nxt, image)
        out.append(sim.feed(image, nxt))
        if step_us is not None:
            dt = step_us(nxt, image)
        else:
            rate = float(np.max(np.abs(sim.lin - lin_prev))) / (nxt - t)
            dt = dt_max_us if rate == 0 else max_log_step * c / rate
        lin_prev = sim.lin
        t = nxt
    return join_events(out)

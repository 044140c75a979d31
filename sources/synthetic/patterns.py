"""Deterministic test patterns: a moving bar, a rotating bar on a disk, and Poisson noise.

Every pattern is a pure function of (parameters, seed), generated window by window with
vectorised numpy, so the same seed gives the same events bit for bit however it is cut.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Literal

import numpy as np

from evrt.events import EVENT_DTYPE, EventPacket, Geometry, concat_events
from evrt.graph.node import Source

PATTERNS = ("moving_bar", "rotating_disk", "poisson")


def _sorted(events: np.ndarray) -> np.ndarray:
    order = np.argsort(events["t"], kind="stable")
    return events[order]


def _noise(rng: np.random.Generator, t0: int, t1: int, rate: float, g: Geometry) -> np.ndarray:
    """Poisson events at `rate` ev/s over the sensor in [t0, t1)."""
    n = rng.poisson(rate * (t1 - t0) / 1e6) if rate > 0 else 0
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(t0, t1, n)) if n else []
    ev["x"] = rng.integers(0, g.width, n)
    ev["y"] = rng.integers(0, g.height, n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def moving_bar(t0: int, t1: int, g: Geometry, speed_px_s: float, bar_width: int) -> np.ndarray:
    """A bright vertical bar sweeping left to right and wrapping: ON at its leading edge, OFF at its trailing edge.

    The leading edge crosses column c at t = c / speed (mod the sweep period); each crossing
    fires one event per row, at the exact crossing time.
    """
    period = (g.width + bar_width) / speed_px_s * 1e6  # µs per sweep
    out = []
    for edge_offset, polarity in ((0, 1), (bar_width, 0)):
        k0 = int(np.floor((t0 - 0) / period)) - 1
        k1 = int(np.ceil(t1 / period)) + 1
        cols = np.arange(g.width)
        times = []
        for k in range(k0, k1 + 1):
            tc = k * period + (cols + edge_offset) / speed_px_s * 1e6
            times.append(tc)
        tc = np.concatenate(times)
        cc = np.tile(cols, k1 - k0 + 1)
        tci = np.floor(tc).astype(np.int64)
        keep = (tci >= t0) & (tci < t1)
        tci, cc = tci[keep], cc[keep]
        n = tci.size * g.height
        ev = np.zeros(n, dtype=EVENT_DTYPE)
        ev["t"] = np.repeat(tci, g.height)
        ev["x"] = np.repeat(cc, g.height)
        ev["y"] = np.tile(np.arange(g.height), tci.size)
        ev["p"] = polarity
        out.append(ev)
    return _sorted(concat_events(out))


@functools.lru_cache(maxsize=8)
def _disk_pixels(g: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixels of the annulus the spoke sweeps: x, y, their angle, and the spoke's half-angle there."""
    cx, cy = (g.width - 1) / 2, (g.height - 1) / 2
    radius = 0.45 * min(g.width, g.height)
    yy, xx = np.mgrid[0 : g.height, 0 : g.width]
    dx, dy = xx - cx, yy - cy
    r = np.hypot(dx, dy)
    inside = (r >= 2) & (r <= radius)
    half = np.arctan2(1.5, r[inside])  # a spoke 3 px wide
    phi = np.mod(np.arctan2(dy[inside], dx[inside]), 2 * np.pi)
    return xx[inside], yy[inside], phi, half


def rotating_disk(t0: int, t1: int, g: Geometry, rev_per_s: float) -> np.ndarray:
    """A dark 3-px spoke rotating about the sensor centre on a bright disk.

    A pixel at angle phi turns dark (OFF) when the spoke's leading edge reaches phi - half
    and bright again (ON) when its trailing edge passes phi + half; crossing times are
    exact, solved per pixel, so the stream is smooth at any time resolution.
    """
    xs, ys, phi, half = _disk_pixels(g)
    omega = 2 * np.pi * rev_per_s / 1e6  # rad/µs
    period = 1e6 / rev_per_s
    out = []
    for angle, polarity in ((np.mod(phi - half, 2 * np.pi), 0), (np.mod(phi + half, 2 * np.pi), 1)):
        base = angle / omega  # first crossing time in [0, period)
        k0 = int(np.floor(t0 / period)) - 1
        k1 = int(np.ceil(t1 / period))
        ks = np.arange(k0, k1 + 1)
        tc = np.floor(base[None, :] + ks[:, None] * period).astype(np.int64)
        keep = (tc >= t0) & (tc < t1)
        idx = np.nonzero(keep)[1]
        ev = np.zeros(idx.size, dtype=EVENT_DTYPE)
        ev["t"] = tc[keep]
        ev["x"] = xs[idx]
        ev["y"] = ys[idx]
        ev["p"] = polarity
        out.append(ev)
    return _sorted(concat_events(out))


def generate(pattern: str, t0: int, t1: int, g: Geometry, *, rate: float, speed_px_s: float,
             bar_width: int, rev_per_s: float, noise_rate: float, seed: int) -> np.ndarray:
    """Events of `pattern` in [t0, t1). Noise uses a generator seeded by (seed, t0) for determinism."""
    rng = np.random.default_rng([seed, t0])
    if pattern == "moving_bar":
        ev = moving_bar(t0, t1, g, speed_px_s, bar_width)
    elif pattern == "rotating_disk":
        ev = rotating_disk(t0, t1, g, rev_per_s)
    elif pattern == "poisson":
        ev = _noise(rng, t0, t1, rate, g)
    else:
        raise ValueError(f"unknown pattern {pattern!r}; expected one of {PATTERNS}")
    if noise_rate > 0 and pattern != "poisson":
        ev = _sorted(concat_events([ev, _noise(rng, t0, t1, noise_rate, g)]))
    return ev


class PatternSource(Source):
    """Synthetic test patterns: `moving_bar`, `rotating_disk` or `poisson` noise, deterministic under `seed`.

    Emits `EventPacket`s covering `window_us` each, or of exactly `packet_events` events
    when that is set. `speed` paces output at a multiple of real time (0 = as fast as possible).
    """

    def __init__(self, pattern: Literal["moving_bar", "rotating_disk", "poisson"] = "moving_bar", *,
                 width: int = 346, height: int = 260, duration: float = 1.0,
                 window_us: int = 10_000, packet_events: int = 0, rate: float = 1e6,
                 bar_speed: float = 400.0, bar_width: int = 8, rev_per_s: float = 2.0,
                 noise_rate: float = 0.0, seed: int = 0, t0: int = 0, speed: float = 0.0,
                 stream: str = "events"):
        if pattern not in PATTERNS:
            raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
        if width <= 0 or height <= 0 or duration < 0 or window_us <= 0:
            raise ValueError("width, height and window_us must be positive and duration >= 0")
        self.pattern = pattern
        self.geometry = Geometry(width, height)
        self.duration_us = int(round(duration * 1e6))
        self.window_us = window_us
        self.packet_events = packet_events
        self.kw = dict(rate=rate, speed_px_s=bar_speed, bar_width=bar_width, rev_per_s=rev_per_s,
                       noise_rate=noise_rate, seed=seed)
        self.t0 = t0
        self.speed = speed
        self.stream = stream

    def windows(self) -> Iterator[tuple[int, int, np.ndarray]]:
        for a in range(self.t0, self.t0 + self.duration_us, self.window_us):
            b = min(a + self.window_us, self.t0 + self.duration_us)
            yield a, b, generate(self.pattern, a, b, self.geometry, **self.kw)

    def all_events(self) -> np.ndarray:
        """Every event this source emits, as one array (for tests and oracles)."""
        parts = [ev for _, _, ev in self.windows()]
        return concat_events(parts)

    def messages(self) -> Iterator[EventPacket]:
        if self.packet_events <= 0:
            for a, b, ev in self.windows():
                yield EventPacket(ev, self.geometry, self.stream, a, b)
            return
        pending: list[np.ndarray] = []
        count = 0
        for _a, _b, ev in self.windows():
            pending.append(ev)
            count += ev.size
            while count >= self.packet_events:
                buf = concat_events(pending)
                head, rest = buf[: self.packet_events], buf[self.packet_events:]
                yield EventPacket(np.ascontiguousarray(head), self.geometry, self.stream)
                pending, count = [rest], rest.size
        if count:
            buf = concat_events(pending)
            yield EventPacket(buf, self.geometry, self.stream, int(buf["t"][0]), self.t0 + self.duration_us)

"""Graph nodes: the `twin` transform and two sources of real dynamics to follow.

`twin` consumes a stream of input samples (TensorMsg, data [T] or [T, C], evenly spaced in
[t_start, t_end)) and emits the twin's predicted state for the same sample times:

- kind "hp": column `column` is the drive voltage; output [T, 2] = (w/D, current in A).
  The state starts at `x0` (or at column `state_column` of the first message when >= 0).
- kind "lorenz96": data rows are observed states [T, N]; the twin starts from the first row
  and then free-runs (`resync = true` restarts it from the first row of every message).

Time: one model time unit is one second of message time (t in µs); `dt` (> 0) overrides the
sample spacing taken from the message. State carries across messages, so the twin follows a
live signal chunk by chunk. `device` = "cpu" (default), "auto" (CUDA when torch sees a GPU),
"cuda" or "cuda:N" is where the solve runs (the crossbar backend simulates there too).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from evrt.devices import check_device
from evrt.errors import ConfigError
from evrt.graph.node import Node, Source
from evrt.messages import TensorMsg


class TwinNode(Node):
    """Neural-ODE digital twin (HP memristor or Lorenz96) following an input stream."""

    def __init__(self, kind: str = "hp", weights: str = "", backend: str | dict = "digital",
                 method: str = "rk4", substeps: int = 1, dt: float = 0.0, column: int = 0,
                 state_column: int = -1, x0: float = 0.3, resync: bool = False,
                 threads: int = 1, device: str = "cpu") -> None:
        from evrt.models.twin.node_ode import METHODS
        from evrt.models.twin.twins import KINDS

        if kind not in KINDS:
            raise ConfigError(f"kind must be one of {KINDS}, got {kind!r}", key="kind")
        if method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {method!r}", key="method")
        if substeps < 1 or dt < 0 or not 0.0 <= x0 <= 1.0:
            raise ConfigError("need substeps >= 1, dt >= 0 and 0 <= x0 <= 1")
        self.kind, self.weights, self.backend_spec = kind, weights, backend
        self.method, self.substeps, self.dt = method, substeps, dt
        self.column, self.state_column, self.x0, self.resync = column, state_column, x0, resync
        self.threads = threads
        self.device = check_device(device)
        self._state: Any = None
        self._last_u: Any = None

    def open(self, context: Any) -> None:
        super().open(context)
        import torch

        from evrt.backends import backend_from_spec, use_backend
        from evrt.devices import resolve_device
        from evrt.models.twin.twins import load

        torch.set_num_threads(max(1, self.threads))
        self._device = resolve_device(self.device)
        self.twin = load(self.weights or None, kind=self.kind)
        self.twin.model.to(self._device)
        if self.twin.kind != self.kind:
            raise ConfigError(f"weights hold a {self.twin.kind} twin, not {self.kind}", key="weights")
        self.backend = backend_from_spec(self.backend_spec)
        use_backend(self.twin.model, self.backend)

    def _spacing(self, msg: TensorMsg, n: int) -> float:
        if self.dt > 0:
            return self.dt
        if "dt" in msg.meta:
            return float(msg.meta["dt"])
        if msg.t_end > msg.t_start and n > 0:
            return (msg.t_end - msg.t_start) / n * 1e-6
        raise ConfigError("cannot tell the sample spacing: give dt, meta['dt'] or a time window",
                          key="dt")

    def process(self, message: Any) -> tuple[TensorMsg, ...] | None:
        import torch

        from evrt.models.twin.node_ode import odeint_fixed
        from evrt.models.twin.twins import hp_current

        if not isinstance(message, TensorMsg):
            return None
        data = np.asarray(message.data, dtype=np.float32)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2 or data.shape[0] == 0:
            raise ConfigError(f"twin expects samples shaped [T] or [T, C], got {data.shape}")
        n = data.shape[0]
        dt = self._spacing(message, n)
        dev = self._device
        with torch.no_grad():
            if self.kind == "hp":
                if not 0 <= self.column < data.shape[1]:
                    raise ConfigError(f"column {self.column} not in a message of {data.shape[1]} "
                                      "columns", key="column")
                u = torch.from_numpy(data[:, self.column].copy()).to(dev)
                if self._state is None or self.resync:
                    x0 = (float(data[0, self.state_column]) if self.state_column >= 0 else self.x0)
                    self._state = torch.tensor([[x0]], device=dev)
                    seq, first = u, 0
                else:
                    seq, first = torch.cat([self._last_u, u]), 1
                t = torch.arange(seq.numel(), dtype=torch.float32, device=dev) * dt
                pred = odeint_fixed(self.twin.model, self._state, t, seq[None, :, None],
                                    method=self.method, substeps=self.substeps, bounds=(0.0, 1.0))
                x = pred[0, first:, 0].cpu().numpy().astype(np.float64)
                out = np.stack([x, hp_current(self.twin.cfg, x, data[:, self.column])], 1)
                self._state = pred[:, -1]
                self._last_u = u[-1:]
                columns = ["x", "i"]
            else:
                if data.shape[1] != self.twin.cfg.n:
                    raise ConfigError(f"lorenz96 twin has N={self.twin.cfg.n} sites, the message "
                                      f"has {data.shape[1]} columns")
                if self._state is None or self.resync:
                    self._state = torch.from_numpy(data[:1].copy()).to(dev)
                    steps, first = n, 0
                else:
                    steps, first = n + 1, 1
                t = torch.arange(steps, dtype=torch.float32, device=dev) * dt
                pred = odeint_fixed(self.twin.model, self._state, t, method=self.method,
                                    substeps=self.substeps)
                out = pred[0, first:].cpu().numpy()
                self._state = pred[:, -1]
                columns = [f"x{i}" for i in range(data.shape[1])]
        meta = {"twin": self.kind, "backend": self.backend.name, "columns": columns, "dt": dt}
        return (TensorMsg(out.astype(np.float32), stream=f"{message.stream}.twin",
                          t_start=message.t_start, t_end=message.t_end, meta=meta),)


class HPDeviceSource(Source):
    """A simulated HP memristor under a voltage drive: TensorMsg chunks [chunk, 3] = (v, i, w/D)."""

    def __init__(self, drive: str = "sine", amplitude: float = 1.0, freq: float = 1.0,
                 duration: float = 4.0, dt: float = 0.01, chunk: int = 50,
                 window: str = "biolek", x0: float = 0.3, seed: int = 0, speed: float = 0.0) -> None:
        from evrt.models.twin import hp_memristor as hp

        makers = {"sine": lambda: hp.Sine(amplitude, freq),
                  "triangle": lambda: hp.Triangle(amplitude, freq),
                  "pulse": lambda: hp.PulseTrain(amplitude, period=1.0 / freq, duty=0.4),
                  "random": lambda: hp.RandomDrive(amplitude, max_freq=freq, seed=seed,
                                                   horizon=duration)}
        if drive not in makers:
            raise ConfigError(f"drive must be one of {sorted(makers)}, got {drive!r}", key="drive")
        if chunk < 1 or duration <= 0 or dt <= 0:
            raise ConfigError("need chunk >= 1, duration > 0 and dt > 0")
        self.drive = makers[drive]()
        self.params = hp.HPParams(window=window, x0=x0)
        self.duration, self.dt, self.chunk, self.speed = duration, dt, chunk, speed

    def messages(self) -> Iterator[TensorMsg]:
        from evrt.models.twin import hp_memristor as hp

        tr = hp.simulate(self.drive, self.duration, self.dt, params=self.params)
        data = np.stack([tr.v[0], tr.i[0], tr.x[0]], 1).astype(np.float32)
        yield from _chunks(data, self.dt, self.chunk, "hp", ["v", "i", "x"])


class Lorenz96Source(Source):
    """Lorenz96 on its attractor (RK4 reference): TensorMsg chunks [chunk, N] of states."""

    def __init__(self, n: int = 40, forcing: float = 8.0, duration: float = 4.0, dt: float = 0.01,
                 chunk: int = 50, seed: int = 777, speed: float = 0.0) -> None:
        if n < 4 or chunk < 1 or duration <= 0 or dt <= 0:
            raise ConfigError("need n >= 4, chunk >= 1, duration > 0 and dt > 0")
        self.n, self.forcing, self.duration, self.dt = n, forcing, duration, dt
        self.chunk, self.seed, self.speed = chunk, seed, speed

    def messages(self) -> Iterator[TensorMsg]:
        from evrt.models.twin import lorenz96 as l96

        x0 = l96.initial_state(self.n, self.forcing, seed=self.seed, dt=self.dt)
        data = l96.integrate(x0, int(round(self.duration / self.dt)), self.dt,
                             forcing=self.forcing).astype(np.float32)
        yield from _chunks(data, self.dt, self.chunk, "lorenz96", None)


def _chunks(data: np.ndarray, dt: float, chunk: int, stream: str,
            columns: list[str] | None) -> Iterator[TensorMsg]:
    step_us = dt * 1e6
    for start in range(0, data.shape[0], chunk):
        part = data[start:start + chunk]
        meta: dict[str, Any] = {"dt": dt}
        if columns:
            meta["columns"] = columns
        yield TensorMsg(part, stream=stream, t_start=int(round(start * step_us)),
                        t_end=int(round((start + len(part)) * step_us)), meta=meta)

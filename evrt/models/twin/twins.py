"""The two digital twins: data, model construction, training, evaluation, weight files.

- HP memristor twin: state h = x = w/D, input u = v(t); f(x, v) is a 2 -> 32 -> 32 -> 1 MLP.
  Trained on sine and random drives, evaluated on unseen drives (other frequencies,
  amplitudes and waveform shapes: triangles, pulse trains). The current is read out with
  Ohm's law i = v / (R_on x + R_off (1 - x)) from the predicted state.
- Lorenz96 twin: h = x in R^N, autonomous; f is a StencilField (one 4 -> 64 -> 64 -> 1 MLP
  shared by all sites). Evaluated by valid prediction time from held-out initial states.

Training backpropagates through the fixed-step RK4 solver over short windows that start
from true states (multiple shooting), on the digital backend, on the CPU or a CUDA device
(`device`); the model is drawn and every random draw (batches, weight noise) is made on the
CPU, so both devices see the same batches. Weight files hold CPU tensors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from evrt.backends.base import BackendLinear
from evrt.devices import model_device
from evrt.errors import ConfigError, FormatError
from evrt.models.twin import hp_memristor as hp
from evrt.models.twin import lorenz96 as l96
from evrt.models.twin.metrics import nrmse, valid_prediction_time
from evrt.models.twin.node_ode import MLPField, StencilField, odeint_adaptive, odeint_fixed

KINDS = ("hp", "lorenz96")
Progress = Callable[[str, int, int, float], None]
"""progress(stage, iteration, iterations, recent loss); stage is "pretrain" or "solver"."""
Checkpoint = Callable[["Twin"], None]


# ---------------------------------------------------------------- configuration


@dataclass
class HPTwinConfig:
    window: str = "biolek"
    p: int = 2
    duration: float = 4.0  # s per drive
    dt: float = 0.01  # s between samples
    hidden: tuple[int, ...] = (32, 32)
    gate_input: bool = True  # dx/dt = v * g(x, v): no voltage, no drift (see node_ode.MLPField)
    weight_noise: float = 0.0  # noise-aware training: N(0, (weight_noise * max|W|)^2) per step
    n_random_train: int = 24
    chunk: int = 40  # samples per training window
    pretrain_iters: int = 3000
    iters: int = 300
    lr: float = 3e-3
    batch: int = 64
    seed: int = 0


@dataclass
class LorenzTwinConfig:
    n: int = l96.DEFAULT_N
    forcing: float = l96.DEFAULT_F
    dt: float = 0.01
    train_time: float = 100.0
    hidden: tuple[int, ...] = (64, 64)
    weight_noise: float = 0.0
    chunk: int = 10
    pretrain_iters: int = 3000
    iters: int = 200
    lr: float = 2e-3
    batch: int = 32
    seed: int = 0


# ---------------------------------------------------------------- HP data


def hp_train_drives(cfg: HPTwinConfig) -> list[hp.Drive]:
    """Sines, a triangle and pulse trains at a few (amplitude, frequency) pairs, plus
    band-limited random drives; `hp_test_drives` uses other pairs."""
    drives: list[hp.Drive] = [hp.Sine(1.0, 1.0), hp.Sine(0.6, 0.5), hp.Sine(1.4, 2.0),
                              hp.Triangle(0.7, 0.8), hp.PulseTrain(1.1, period=0.8, duty=0.4),
                              hp.PulseTrain(0.6, period=1.5, duty=0.3)]
    rng = np.random.default_rng(cfg.seed)
    for k in range(cfg.n_random_train):
        drives.append(hp.RandomDrive(amplitude=float(rng.uniform(0.3, 1.7)),
                                     max_freq=float(rng.uniform(0.5, 2.5)), seed=1000 + k,
                                     horizon=cfg.duration))
    return drives


def hp_test_drives(cfg: HPTwinConfig) -> list[hp.Drive]:
    """Drives never seen in training: other frequencies, amplitudes and shapes."""
    return [
        hp.Sine(0.8, 0.7), hp.Sine(1.2, 1.5), hp.Sine(0.5, 0.25), hp.Sine(1.6, 3.0),
        hp.Triangle(1.0, 1.3), hp.Triangle(1.3, 0.4),
        hp.PulseTrain(0.9, period=1.0, duty=0.3), hp.PulseTrain(1.2, period=0.6, duty=0.5),
        hp.RandomDrive(amplitude=1.1, max_freq=1.8, seed=99, horizon=cfg.duration),
        hp.RandomDrive(amplitude=0.7, max_freq=1.0, seed=98, horizon=cfg.duration),
    ]


def hp_outside_drives(cfg: HPTwinConfig) -> list[hp.Drive]:
    """Amplitudes beyond every training drive (training peaks <= 1.7 V): true extrapolation."""
    return [hp.Sine(2.0, 1.0), hp.Triangle(2.2, 0.6), hp.PulseTrain(2.0, period=0.7, duty=0.4)]


def hp_simulate(cfg: HPTwinConfig, drives: list[hp.Drive], x0: np.ndarray) -> hp.Trajectory:
    params = hp.HPParams(window=cfg.window, p=cfg.p)
    return hp.simulate(drives, cfg.duration, cfg.dt, params=params, x0=x0)


def hp_x0(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.05, 0.9, n)


# ---------------------------------------------------------------- models


def build(kind: str, cfg: Any) -> nn.Module:
    if kind == "hp":
        return MLPField(1, 1, cfg.hidden, gate_input=cfg.gate_input)
    if kind == "lorenz96":
        return StencilField((-2, -1, 0, 1), cfg.hidden)
    raise ConfigError(f"twin kind must be one of {KINDS}, got {kind!r}", key="kind")


def config_for(kind: str, **overrides: Any) -> Any:
    cls = {"hp": HPTwinConfig, "lorenz96": LorenzTwinConfig}.get(kind)
    if cls is None:
        raise ConfigError(f"twin kind must be one of {KINDS}, got {kind!r}", key="kind")
    known = set(cls.__dataclass_fields__)
    bad = set(overrides) - known
    if bad:
        raise ConfigError(f"unknown {kind} twin setting(s) {sorted(bad)}; known: {sorted(known)}")
    return cls(**overrides)


@dataclass
class Twin:
    """A trained twin: its kind, config, vector field and training record."""

    kind: str
    cfg: Any
    model: nn.Module
    info: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().to(torch.float32) for k, v in self.model.state_dict().items()}
        torch.save({"format": "evrt-twin-1", "kind": self.kind, "config": asdict(self.cfg),
                    "state_dict": state, "info": self.info}, path)
        return path


def default_weights(kind: str) -> Path:
    """The weights shipped in the package (made by `evrt train twin KIND --seed 0`)."""
    if kind not in KINDS:
        raise ConfigError(f"twin kind must be one of {KINDS}, got {kind!r}", key="kind")
    return Path(str(resources.files("evrt.models.twin") / "weights" / f"{kind}.pt"))


def load(path: str | Path | None = None, kind: str | None = None) -> Twin:
    """Load a twin file (default: the shipped weights of `kind`)."""
    if path is None or str(path) == "":
        if kind is None:
            raise ConfigError("give a weights path or a twin kind")
        path = default_weights(kind)
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"twin weights {path} not found (train them with `evrt train twin`)",
                          key="weights")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise FormatError(path, None, f"not a torch twin file ({exc})") from exc
    if not isinstance(blob, dict) or blob.get("format") != "evrt-twin-1":
        raise FormatError(path, None, "expected an evrt twin file (format 'evrt-twin-1')")
    cfg = config_for(blob["kind"])
    for k, v in blob["config"].items():
        setattr(cfg, k, tuple(v) if isinstance(v, list) else v)
    model = build(blob["kind"], cfg)
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return Twin(blob["kind"], cfg, model, blob.get("info", {}))


# ---------------------------------------------------------------- training


def _perturb(model: nn.Module, sigma: float, gen: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Add N(0, (sigma max|W|)^2) to every backend layer's weight in place (noise-aware
    training, as for programming noise); returns what to subtract afterwards."""
    added = []
    if sigma <= 0:
        return added
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, BackendLinear):
                noise = torch.randn(layer.weight.shape, generator=gen).to(layer.weight.device)
                noise = noise * sigma * layer.weight.abs().max()
                layer.weight.add_(noise)
                added.append((layer.weight, noise))
    return added


def _restore(added: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    with torch.no_grad():
        for weight, noise in added:
            weight.sub_(noise)


def _fit(model: nn.Module, sample: Callable[[np.random.Generator], tuple], iters: int, lr: float,
         seed: int, progress: Callable[[int, int, float], None] | None, loss_weight: torch.Tensor | None = None,
         weight_noise: float = 0.0) -> list[float]:
    """Adam on the multiple-shooting loss; `sample` gives (h0, t, u, target)."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed + 7)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters, eta_min=lr * 0.03)
    history = []
    for it in range(iters):
        h0, t, u, target = sample(rng)
        added = _perturb(model, weight_noise, gen)
        pred = odeint_fixed(model, h0, t, u, method="rk4")
        err = (pred - target) if loss_weight is None else (pred - target) * loss_weight
        loss = (err**2).mean()
        opt.zero_grad()
        loss.backward()
        _restore(added)
        opt.step()
        sched.step()
        history.append(float(loss.detach()))
        if progress is not None:
            progress(it + 1, iters, float(np.mean(history[-50:])))
    return history


def _pretrain(model: nn.Module, h: torch.Tensor, u: torch.Tensor | None, dhdt: torch.Tensor,
              iters: int, lr: float, batch: int, seed: int,
              progress: Callable[[int, int, float], None] | None,
              weight_noise: float = 0.0) -> float:
    """Derivative matching (gradient matching on finite-difference derivatives): a cheap start
    for the solver-based fit. Rows of h, u, dhdt are samples."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    scale = dhdt.std(0).clamp_min(1e-12)
    loss = torch.tensor(0.0)
    for it in range(iters):
        idx = torch.randint(0, h.shape[0], (batch,), generator=gen).to(h.device)
        added = _perturb(model, weight_noise, gen)
        pred = model(h[idx], None if u is None else u[idx])
        loss = (((pred - dhdt[idx]) / scale) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        _restore(added)
        opt.step()
        if progress is not None:
            progress(it + 1, iters, float(loss.detach()))
    return float(loss.detach())


def _hooks(kind: str, cfg: Any, model: nn.Module, progress: Progress | None,
           checkpoint: Checkpoint | None, every: int):
    """Per-stage callbacks that report progress and write a checkpoint every `every` steps."""

    def make(stage: str):
        def hook(it: int, n: int, loss: float) -> None:
            if progress is not None:
                progress(stage, it, n, loss)
            if checkpoint is not None and (it % every == 0 or it == n):
                checkpoint(Twin(kind, cfg, model, {"checkpoint": f"{stage} {it}/{n}"}))
        return hook

    return make("pretrain"), make("solver")


def train_hp(cfg: HPTwinConfig, progress: Progress | None = None,
             checkpoint: Checkpoint | None = None, checkpoint_every: int = 500,
             device: Any = "cpu") -> Twin:
    torch.manual_seed(cfg.seed)
    drives = hp_train_drives(cfg)
    traj = hp_simulate(cfg, drives, hp_x0(len(drives), cfg.seed))
    x = torch.tensor(traj.x, dtype=torch.float32, device=device)  # [B, T]
    v = torch.tensor(traj.v, dtype=torch.float32, device=device)
    model = build("hp", cfg)
    pre_hook, fit_hook = _hooks("hp", cfg, model, progress, checkpoint, checkpoint_every)
    dxdt = np.gradient(traj.x, cfg.dt, axis=1)
    model.shift_h.fill_(0.5)
    model.scale_h.fill_(0.25)
    model.scale_u.fill_(1.0)
    model.scale_out.fill_(float(np.std(dxdt)))
    model.to(device)
    t = torch.arange(cfg.chunk + 1, dtype=torch.float32, device=device) * cfg.dt
    span = float(np.ptp(traj.x))
    started = time.perf_counter()
    pre_loss = _pretrain(model, x.reshape(-1, 1), v.reshape(-1, 1),
                         torch.tensor(dxdt.reshape(-1, 1), dtype=torch.float32, device=device),
                         cfg.pretrain_iters, cfg.lr, 1024, cfg.seed, pre_hook, cfg.weight_noise)

    def sample(rng: np.random.Generator):
        b = rng.integers(0, x.shape[0], cfg.batch)
        s = rng.integers(0, x.shape[1] - cfg.chunk - 1, cfg.batch)
        idx = torch.as_tensor(s[:, None] + np.arange(cfg.chunk + 1), device=device)
        bb = torch.as_tensor(b[:, None], device=device)
        xs, vs = x[bb, idx], v[bb, idx]
        return xs[:, :1], t, vs[..., None], xs[..., None]

    hist = _fit(model, sample, cfg.iters, cfg.lr, cfg.seed, fit_hook,
                torch.tensor(1.0 / span, device=device), cfg.weight_noise)
    info = {"pretrain_loss": pre_loss, "train_seconds": round(time.perf_counter() - started, 1), "final_loss": hist[-1] if hist else None,
            "train_drives": [d.describe() for d in drives[:6]] + [f"{len(drives) - 6} random drives"],
            "torch": str(torch.__version__)}
    model.eval()
    return Twin("hp", cfg, model, info)


def lorenz_data(cfg: LorenzTwinConfig, time_units: float, seed: int) -> np.ndarray:
    x0 = l96.initial_state(cfg.n, cfg.forcing, seed=seed, dt=cfg.dt)
    return l96.integrate(x0, int(round(time_units / cfg.dt)), cfg.dt, forcing=cfg.forcing)


def train_lorenz(cfg: LorenzTwinConfig, progress: Progress | None = None,
                 checkpoint: Checkpoint | None = None, checkpoint_every: int = 500,
                 device: Any = "cpu") -> Twin:
    torch.manual_seed(cfg.seed)
    data = lorenz_data(cfg, cfg.train_time, cfg.seed)  # [T, N]
    traj = torch.tensor(data, dtype=torch.float32, device=device)
    model = build("lorenz96", cfg)
    pre_hook, fit_hook = _hooks("lorenz96", cfg, model, progress, checkpoint, checkpoint_every)
    model.shift_h.fill_(float(data.mean()))
    model.scale_h.fill_(float(data.std()))
    model.scale_out.fill_(float(np.std(l96.tendency(data, cfg.forcing))))
    model.to(device)
    t = torch.arange(cfg.chunk + 1, dtype=torch.float32, device=device) * cfg.dt
    sigma = float(data.std())
    started = time.perf_counter()
    dxdt = np.gradient(data, cfg.dt, axis=0, edge_order=2)
    pre_loss = _pretrain(model, traj, None, torch.tensor(dxdt, dtype=torch.float32, device=device),
                         cfg.pretrain_iters, cfg.lr, 256, cfg.seed, pre_hook, cfg.weight_noise)

    def sample(rng: np.random.Generator):
        s = rng.integers(0, traj.shape[0] - cfg.chunk - 1, cfg.batch)
        idx = torch.as_tensor(s[:, None] + np.arange(cfg.chunk + 1), device=device)
        seg = traj[idx]  # [B, L+1, N]
        return seg[:, 0], t, None, seg

    hist = _fit(model, sample, cfg.iters, cfg.lr, cfg.seed, fit_hook,
                torch.tensor(1.0 / sigma, device=device), cfg.weight_noise)
    info = {"pretrain_loss": pre_loss, "train_seconds": round(time.perf_counter() - started, 1), "final_loss": hist[-1] if hist else None,
            "train_time_units": cfg.train_time, "sigma": sigma, "torch": str(torch.__version__)}
    model.eval()
    return Twin("lorenz96", cfg, model, info)


def train(kind: str, cfg: Any, progress: Progress | None = None,
          checkpoint: Checkpoint | None = None, checkpoint_every: int = 500,
          device: Any = "cpu") -> Twin:
    """Train a twin of `kind` ("hp" or "lorenz96") with `cfg` (see `config_for`) on `device`
    (a `torch.device`; see `evrt.devices.resolve_device`); the model stays there."""
    fn = train_hp if kind == "hp" else train_lorenz
    return fn(cfg, progress, checkpoint, checkpoint_every, device=torch.device(device))


# ---------------------------------------------------------------- evaluation


@dataclass
class HPResult:
    drives: list[str]
    t: np.ndarray
    v: np.ndarray
    x_true: np.ndarray
    x_pred: np.ndarray
    i_true: np.ndarray
    i_pred: np.ndarray
    nrmse_x: np.ndarray
    nrmse_i: np.ndarray
    persistence_nrmse_x: np.ndarray
    evaluations: int


def hp_current(cfg: HPTwinConfig, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    params = hp.HPParams(window=cfg.window, p=cfg.p)
    return v / params.memristance(np.clip(x, 0.0, 1.0))


def evaluate_hp(twin: Twin, drives: list[hp.Drive] | None = None, *, solver: str = "rk4",
                x0: np.ndarray | None = None, seed: int = 12345) -> HPResult:
    """Free-run the twin from the true initial state over each drive (no resync)."""
    cfg = twin.cfg
    drives = drives if drives is not None else hp_test_drives(cfg)
    x0 = hp_x0(len(drives), seed) if x0 is None else x0
    traj = hp_simulate(cfg, drives, x0)
    device = model_device(twin.model)
    t = torch.tensor(traj.t, dtype=torch.float32, device=device)
    u = torch.tensor(traj.v, dtype=torch.float32, device=device)[..., None]
    h0 = torch.tensor(traj.x[:, :1], dtype=torch.float32, device=device)
    with torch.no_grad():
        if solver == "adaptive":
            pred, evals = odeint_adaptive(twin.model, h0, t, u, rtol=1e-5, atol=1e-7,
                                          max_step=cfg.dt)
        else:
            pred = odeint_fixed(twin.model, h0, t, u, method=solver, bounds=(0.0, 1.0))
            evals = (len(t) - 1) * (4 if solver == "rk4" else 1)
    x_pred = pred[..., 0].clamp(0, 1).cpu().numpy().astype(float)
    i_pred = hp_current(cfg, x_pred, traj.v)
    persistence = np.repeat(traj.x[:, :1], traj.x.shape[1], axis=1)
    return HPResult([d.describe() for d in drives], traj.t, traj.v, traj.x, x_pred, traj.i, i_pred,
                    nrmse(x_pred, traj.x), nrmse(i_pred, traj.i), nrmse(persistence, traj.x), evals)


@dataclass
class LorenzResult:
    dt: float
    lyapunov: float
    true: np.ndarray  # [B, T, N]
    pred: np.ndarray
    vpt: np.ndarray  # time units, per initial state
    vpt_lyapunov: np.ndarray
    persistence_vpt_lyapunov: np.ndarray
    evaluations: int


LYAPUNOV_N40_F8 = 1.68  # largest Lyapunov exponent, N=40, F=8 (issue text; recomputed in the report)


def evaluate_lorenz(twin: Twin, *, n_initial: int = 10, horizon: float = 4.0, seed: int = 777,
                    solver: str = "rk4", lyapunov: float | None = None) -> LorenzResult:
    """Forecast from held-out attractor states (spun up from a seed never used in training)."""
    cfg = twin.cfg
    x0 = l96.initial_state(cfg.n, cfg.forcing, batch=n_initial, seed=seed, dt=cfg.dt)
    steps = int(round(horizon / cfg.dt))
    true = np.moveaxis(l96.integrate(x0, steps, cfg.dt, forcing=cfg.forcing), 0, 1)
    device = model_device(twin.model)
    t = torch.arange(steps + 1, dtype=torch.float32, device=device) * cfg.dt
    h0 = torch.tensor(x0, dtype=torch.float32, device=device)
    with torch.no_grad():
        if solver == "adaptive":
            pred, evals = odeint_adaptive(twin.model, h0, t, rtol=1e-6, atol=1e-8)
        else:
            pred = odeint_fixed(twin.model, h0, t, method=solver)
            evals = steps * (4 if solver == "rk4" else 1)
    pred = pred.cpu().numpy().astype(float)
    sigma = float(twin.info.get("sigma", true.std()))
    lam = lyapunov if lyapunov is not None else (LYAPUNOV_N40_F8 if cfg.n == 40 else
                                                 l96.largest_lyapunov(cfg.n, cfg.forcing))
    vpt = valid_prediction_time(pred, true, cfg.dt, sigma)
    persistence = np.repeat(true[:, :1], true.shape[1], axis=1)
    p_vpt = valid_prediction_time(persistence, true, cfg.dt, sigma)
    return LorenzResult(cfg.dt, lam, true, pred, vpt, vpt * lam, p_vpt * lam, evals)


def projection(twin: Twin, *, crossbar: dict | None = None, steps: int = 400) -> Any:
    """Projected crossbar vs digital energy and speed of one solve (see `projection.py`):
    HP: one unseen sine drive for `steps` samples; Lorenz96: one forecast of `steps` steps."""
    import copy

    from evrt.models.twin.projection import project

    cfg = twin.cfg
    if model_device(twin.model).type != "cpu":  # the projection measures a CPU solve
        twin = Twin(twin.kind, cfg, copy.deepcopy(twin.model).cpu(), twin.info)
    t = torch.arange(steps + 1, dtype=torch.float32) * cfg.dt
    if twin.kind == "hp":
        v = hp.Sine(0.8, 0.7).voltage(t.numpy().astype(float))
        u = torch.tensor(v, dtype=torch.float32)[None, :, None]
        return project("hp", twin.model, torch.tensor([[0.3]]), t, u, crossbar=crossbar)
    x0 = l96.initial_state(cfg.n, cfg.forcing, seed=4242, dt=cfg.dt)
    return project("lorenz96", twin.model, torch.tensor(x0[None], dtype=torch.float32), t,
                   crossbar=crossbar)

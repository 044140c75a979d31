"""Neural ODE dh/dt = f(h, u) whose vector field's matrix work runs on a backend.

`f` is an MLP of `BackendLinear` layers, so `use_backend(model, crossbar)` moves every
product of every solver stage onto the simulated memristor arrays (with their noise).
Two solvers:

- `odeint_fixed`: Euler or classical RK4 with a fixed step, written here in torch. This is
  what the crossbar runs (one field evaluation = one pass through the arrays) and what
  training backpropagates through.
- `odeint_adaptive`: torchdiffeq's adaptive dopri5 (optionally the adjoint method), the
  digital reference solver.

Inputs u are sampled on the same time grid as the output; between samples they are
linearly interpolated (solver stages fall between samples).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from evrt.backends.base import BackendLinear
from evrt.errors import ConfigError

METHODS = ("euler", "rk4")


class MLPField(nn.Module):
    """f(h, u) = scale_out * MLP((h - shift_h)/scale_h, (u - shift_u)/scale_u) with tanh.

    With `gate_input` (scalar inputs only) the field is u_n * MLP(...), u_n the normalised input.

    The affine normalisations are fixed buffers (they fold into the first layer's weights
    and the last layer's weights on hardware); only the MLP is trained.
    """

    def __init__(self, state_dim: int, input_dim: int = 0, hidden: Sequence[int] = (32, 32),
                 gate_input: bool = False):
        super().__init__()
        self.gate_input = bool(gate_input and input_dim == 1)
        dims = [state_dim + input_dim, *hidden, state_dim]
        self.layers = nn.ModuleList(BackendLinear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.state_dim, self.input_dim = state_dim, input_dim
        self.register_buffer("shift_h", torch.zeros(state_dim))
        self.register_buffer("scale_h", torch.ones(state_dim))
        self.register_buffer("shift_u", torch.zeros(max(input_dim, 1)))
        self.register_buffer("scale_u", torch.ones(max(input_dim, 1)))
        self.register_buffer("scale_out", torch.ones(state_dim))

    def features(self, h: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
        z = (h - self.shift_h) / self.scale_h
        if self.input_dim:
            if u is None:
                raise ConfigError("this vector field needs an input signal u")
            z = torch.cat([z, (u - self.shift_u[: self.input_dim]) / self.scale_u[: self.input_dim]], -1)
        return z

    def mlp(self, z: torch.Tensor) -> torch.Tensor:
        for k, layer in enumerate(self.layers):
            z = layer(z)
            if k < len(self.layers) - 1:
                z = torch.tanh(z)
        return z

    def forward(self, h: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        out = self.mlp(self.features(h, u)) * self.scale_out
        if self.gate_input and u is not None:
            # dh/dt = u * g(h, u): the state moves only while an input is applied (one analogue
            # multiply per state; for the HP memristor no voltage means no current, no drift)
            out = out * (u - self.shift_u[:1]) / self.scale_u[:1]
        return out


class StencilField(nn.Module):
    """A translation-invariant field for lattice systems (Lorenz96): site i's derivative is the
    same small MLP applied to its neighbours x_{i+o} for o in `offsets` (cyclic indices).

    On hardware this is one small crossbar read once per site (or N copies of it).
    """

    def __init__(self, offsets: Sequence[int] = (-2, -1, 0, 1), hidden: Sequence[int] = (64, 64)):
        super().__init__()
        dims = [len(offsets), *hidden, 1]
        self.layers = nn.ModuleList(BackendLinear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.offsets = tuple(int(o) for o in offsets)
        self.input_dim = 0
        self.register_buffer("shift_h", torch.zeros(1))
        self.register_buffer("scale_h", torch.ones(1))
        self.register_buffer("scale_out", torch.ones(1))

    mlp = MLPField.mlp

    def forward(self, h: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        z = (h - self.shift_h) / self.scale_h
        neigh = torch.stack([torch.roll(z, -o, -1) for o in self.offsets], -1)  # [..., N, K]
        return self.mlp(neigh).squeeze(-1) * self.scale_out


def _check_inputs(h0: torch.Tensor, t: torch.Tensor, u: torch.Tensor | None) -> None:
    if t.ndim != 1 or t.numel() < 1:
        raise ConfigError("t must be a 1-D tensor of sample times")
    if u is not None and (u.ndim != h0.ndim + 1 or u.shape[-2] != t.numel()):
        raise ConfigError(f"u must be shaped [..., T={t.numel()}, input_dim], got {tuple(u.shape)}")


def odeint_fixed(field: nn.Module, h0: torch.Tensor, t: torch.Tensor, u: torch.Tensor | None = None,
                 *, method: str = "rk4", substeps: int = 1,
                 bounds: tuple[float, float] | None = None) -> torch.Tensor:
    """Fixed-step solve. h0 [B, D], t [T], u [B, T, U] -> states [B, T, D] (h[:, 0] = h0).

    `bounds` clamps the state after every step (a physical range such as 0 <= w/D <= 1).
    """
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}", key="method")
    _check_inputs(h0, t, u)
    out = [h0]
    h = h0
    for k in range(t.numel() - 1):
        dt = (t[k + 1] - t[k]) / substeps
        for s in range(substeps):
            a0, am, a1 = s / substeps, (s + 0.5) / substeps, (s + 1) / substeps
            if u is not None:
                u0 = torch.lerp(u[..., k, :], u[..., k + 1, :], a0)
                um = torch.lerp(u[..., k, :], u[..., k + 1, :], am)
                u1 = torch.lerp(u[..., k, :], u[..., k + 1, :], a1)
            else:
                u0 = um = u1 = None
            if method == "euler":
                h = h + dt * field(h, u0)
            else:
                k1 = field(h, u0)
                k2 = field(h + 0.5 * dt * k1, um)
                k3 = field(h + 0.5 * dt * k2, um)
                k4 = field(h + dt * k3, u1)
                h = h + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
            if bounds is not None:
                h = h.clamp(*bounds)
        out.append(h)
    return torch.stack(out, -2)


class _Driven(nn.Module):
    """Adapter for torchdiffeq: func(t, h) with u(t) linearly interpolated from samples."""

    def __init__(self, field: nn.Module, t: torch.Tensor, u: torch.Tensor | None):
        super().__init__()
        self.field, self.t, self.u = field, t, u
        self.evaluations = 0

    def forward(self, tq: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        self.evaluations += 1
        if self.u is None:
            return self.field(h, None)
        t = self.t
        k = int(torch.clamp(torch.searchsorted(t, tq.detach().reshape(1), right=True) - 1,
                            0, t.numel() - 2).item())
        a = (tq - t[k]) / (t[k + 1] - t[k])  # not clamped: dopri5 may step past the end
        return self.field(h, torch.lerp(self.u[..., k, :], self.u[..., k + 1, :], a))


def odeint_adaptive(field: nn.Module, h0: torch.Tensor, t: torch.Tensor,
                    u: torch.Tensor | None = None, *, rtol: float = 1e-6, atol: float = 1e-8,
                    method: str = "dopri5", adjoint: bool = False,
                    max_step: float | None = None) -> tuple[torch.Tensor, int]:
    """Adaptive reference solve (torchdiffeq). Returns (states [B, T, D], field evaluations)."""
    import torchdiffeq

    _check_inputs(h0, t, u)
    func = _Driven(field, t, u)
    options = {"max_step": max_step} if max_step else None
    solve = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
    kw = {"adjoint_params": tuple(field.parameters())} if adjoint else {}
    hs = solve(func, h0, t, rtol=rtol, atol=atol, method=method, options=options, **kw)
    return hs.movedim(0, -2), func.evaluations

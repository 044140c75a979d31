"""Neural ODE solvers and fields: accuracy, backend equivalence, gradients through the solver."""

from __future__ import annotations

import math

import pytest
import torch

from evrt.backends import make_backend, use_backend
from evrt.errors import ConfigError
from evrt.models.twin.node_ode import MLPField, StencilField, odeint_adaptive, odeint_fixed


class Linear(torch.nn.Module):
    """dh/dt = -a h + u: closed form for a constant or linear input."""

    def __init__(self, a: float):
        super().__init__()
        self.a = a

    def forward(self, h, u=None):
        return -self.a * h + (0 if u is None else u)


def test_rk4_and_euler_orders():
    t = torch.linspace(0, 2, 21, dtype=torch.float64)
    h0 = torch.ones(1, 1, dtype=torch.float64)
    exact = torch.exp(-1.5 * t)
    err_rk4 = (odeint_fixed(Linear(1.5), h0, t)[0, :, 0] - exact).abs().max()
    err_rk4_fine = (odeint_fixed(Linear(1.5), h0, t, substeps=2)[0, :, 0] - exact).abs().max()
    err_euler = (odeint_fixed(Linear(1.5), h0, t, method="euler")[0, :, 0] - exact).abs().max()
    assert err_rk4 < 1e-5 < err_euler
    assert 12 < err_rk4 / err_rk4_fine < 20  # fourth order


def test_input_is_interpolated_between_samples():
    # dh/dt = u(t) = t sampled on a coarse grid: RK4 with linear interpolation is exact (h = t^2/2)
    t = torch.linspace(0, 3, 7, dtype=torch.float64)
    u = t[None, :, None].clone()
    h = odeint_fixed(Linear(0.0), torch.zeros(1, 1, dtype=torch.float64), t, u)
    torch.testing.assert_close(h[0, :, 0], t**2 / 2)
    ha, evals = odeint_adaptive(Linear(0.0), torch.zeros(1, 1, dtype=torch.float64), t, u)
    torch.testing.assert_close(ha[0, :, 0], t**2 / 2, atol=1e-6, rtol=1e-6)
    assert evals > 0


def test_adaptive_reference_agrees_with_fixed_step():
    torch.manual_seed(0)
    field = MLPField(2, 1, (16,))
    t = torch.linspace(0, 1, 51)
    u = torch.sin(6 * t)[None, :, None].repeat(3, 1, 1)
    h0 = torch.randn(3, 2)
    fixed = odeint_fixed(field, h0, t, u, substeps=2)
    ref, _ = odeint_adaptive(field, h0, t, u, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(fixed, ref, atol=2e-4, rtol=1e-3)


def test_ideal_crossbar_equals_digital_and_noise_changes_it():
    torch.manual_seed(1)
    field = StencilField(hidden=(8, 8))
    h0 = torch.randn(2, 10)
    t = torch.linspace(0, 0.2, 11)
    with torch.no_grad():
        use_backend(field, make_backend("digital"))
        digital = odeint_fixed(field, h0, t)
        xbar = make_backend("crossbar")
        use_backend(field, xbar)
        ideal = odeint_fixed(field, h0, t)
        use_backend(field, make_backend("crossbar", read_noise=0.05, prog_noise=0.02))
        noisy = odeint_fixed(field, h0, t)
    torch.testing.assert_close(ideal, digital, atol=1e-5, rtol=1e-5)
    assert (noisy - digital).abs().max() > 1e-4
    # every RK4 stage of every step went through the arrays: 3 layers x 4 stages x 10 steps reads
    assert xbar.counters["xbar_read_vectors"] == 3 * 4 * 10 * 2 * 10  # x batch 2 x 10 sites


def test_stencil_field_is_translation_invariant():
    torch.manual_seed(2)
    field = StencilField(hidden=(8,))
    x = torch.randn(3, 12)
    torch.testing.assert_close(field(torch.roll(x, 5, -1)), torch.roll(field(x), 5, -1))


def test_training_through_the_solver_reduces_the_loss():
    torch.manual_seed(3)
    t = torch.linspace(0, 1, 11)
    h0 = torch.rand(16, 1) + 0.5
    target = h0[:, None, :] * torch.exp(-2.0 * t)[None, :, None]
    field = MLPField(1, 0, (8,))
    opt = torch.optim.Adam(field.parameters(), lr=0.03)
    losses = []
    for _ in range(40):
        pred = odeint_fixed(field, h0, t)
        loss = ((pred - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.2 * losses[0]


def test_adjoint_gradient_matches_backprop_through_the_solver():
    torch.manual_seed(4)
    field = MLPField(1, 1, (8,))
    t = torch.linspace(0, 0.5, 6, dtype=torch.float64)
    field = field.double()
    u = torch.cos(4 * t)[None, :, None]
    h0 = torch.full((1, 1), 0.3, dtype=torch.float64)
    grads = []
    for adjoint in (False, True):
        field.zero_grad()
        pred, _ = odeint_adaptive(field, h0, t, u, rtol=1e-8, atol=1e-10, adjoint=adjoint)
        (pred**2).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in field.parameters()]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-3, atol=1e-5)


def test_bad_solver_arguments():
    field = MLPField(1, 1, (4,))
    with pytest.raises(ConfigError):
        odeint_fixed(field, torch.zeros(1, 1), torch.linspace(0, 1, 3), method="midpoint")
    with pytest.raises(ConfigError):  # input with the wrong number of samples
        odeint_fixed(field, torch.zeros(1, 1), torch.linspace(0, 1, 3), torch.zeros(1, 5, 1))
    with pytest.raises(ConfigError):  # a driven field without its input
        field(torch.zeros(1, 1))
    assert math.isfinite(float(field(torch.zeros(1, 1), torch.zeros(1, 1)).detach()))

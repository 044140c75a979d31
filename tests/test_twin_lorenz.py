"""Lorenz96 simulator against scipy's adaptive reference; its largest Lyapunov exponent."""

from __future__ import annotations

import numpy as np
import pytest

from evrt.errors import ConfigError
from evrt.models.twin import lorenz96 as l96


@pytest.mark.parametrize("n", [8, 40])
def test_rk4_matches_scipy_reference(n):
    from scipy.integrate import solve_ivp

    x0 = l96.initial_state(n, seed=3, spinup=5.0)
    dt, steps = 0.01, 200  # two time units, more than three Lyapunov times for N = 40
    ours = l96.integrate(x0, steps, dt)
    finer = l96.integrate(x0, steps, dt, substeps=2)
    ref = solve_ivp(lambda t, x: l96.tendency(x), (0.0, steps * dt), x0, method="DOP853",
                    t_eval=np.arange(steps + 1) * dt, rtol=1e-12, atol=1e-12)
    assert ref.success
    err = np.abs(ours - ref.y.T).max()
    err_finer = np.abs(finer - ref.y.T).max()
    assert err < 5e-4  # |x| ~ 10: relative error ~ 5e-5 after two time units of chaos
    assert err_finer < err / 10  # fourth order: halving the step divides the error by ~16
    assert np.abs(ours[-1] - ours[0]).max() > 1.0  # it actually moved


def test_tendency_is_the_textbook_form():
    x = np.arange(6, dtype=float)
    f = l96.tendency(x, 8.0)
    for i in range(6):
        expected = (x[(i + 1) % 6] - x[i - 2]) * x[i - 1] - x[i] + 8.0
        assert f[i] == pytest.approx(expected)
    # F is a fixed point: every site equal to F
    np.testing.assert_allclose(l96.tendency(np.full(10, 8.0), 8.0), 0.0)


def test_tangent_linear_model_is_the_jacobian():
    rng = np.random.default_rng(0)
    x, d = rng.normal(2, 3, 12), rng.normal(size=12)
    eps = 1e-6
    fd = (l96.tendency(x + eps * d) - l96.tendency(x - eps * d)) / (2 * eps)
    np.testing.assert_allclose(l96.tangent(x, d), fd, rtol=1e-6, atol=1e-6)


def test_largest_lyapunov_exponent_n40():
    lam = l96.largest_lyapunov(40, 8.0, time=15.0)
    assert 1.2 < lam < 2.2  # literature: about 1.68 for N = 40, F = 8


def test_too_few_sites_is_a_config_error():
    with pytest.raises(ConfigError):
        l96.integrate(np.ones(3), 5)

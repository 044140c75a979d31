"""HP memristor simulator: physical bounds, pinched hysteresis, accuracy against the closed form."""

from __future__ import annotations

import numpy as np
import pytest

from evrt.errors import ConfigError
from evrt.models.twin import hp_memristor as hp


@pytest.mark.parametrize("window", hp.WINDOWS)
def test_state_stays_within_the_film(window):
    # strong, slow drives push the dopant front against both walls
    drives = [hp.Sine(3.0, 0.3), hp.PulseTrain(2.5, period=1.5, duty=0.5),
              hp.RandomDrive(3.0, max_freq=1.0, seed=4, horizon=6.0), hp.Triangle(2.0, 0.2)]
    params = hp.HPParams(window=window, x0=0.5)
    tr = hp.simulate(drives, 6.0, 0.01, params=params)
    assert np.all(tr.w >= 0.0) and np.all(tr.w <= params.D)
    assert tr.x.max() > 0.95 and tr.x.min() < 0.05  # the walls were actually reached


@pytest.mark.parametrize("window", hp.WINDOWS)
def test_pinched_hysteresis(window):
    params = hp.HPParams(window=window, x0=0.3)
    drives = [hp.Sine(1.0, 0.5), hp.Sine(1.0, 4.0),
              hp.PulseTrain(1.0, period=1.0, duty=0.4, bipolar=True)]
    tr = hp.simulate(drives, 4.0, 0.005, params=params)
    # current is exactly zero wherever the voltage is exactly zero (pulse gaps, t = 0) ...
    zero_v = tr.v == 0.0
    assert zero_v[2].sum() > 100
    assert np.all(tr.i[zero_v] == 0.0)
    # ... and vanishes with it: |i| <= |v| / R_on everywhere (the loop is pinched at the origin)
    assert np.all(np.abs(tr.i) <= np.abs(tr.v) / params.R_on + 1e-15)
    # a real hysteresis loop: same voltage, different current on the rising and falling branch
    slow = slice(int(0.0 / 0.005), int(2.0 / 0.005) + 1)  # first period of the 0.5 Hz drive
    v, i = tr.v[0, slow], tr.i[0, slow]
    up = np.argmin(np.abs(v[: len(v) // 4] - 0.7))  # rising through 0.7 V
    down = len(v) // 4 + np.argmin(np.abs(v[len(v) // 4: len(v) // 2] - 0.7))  # falling through it
    assert abs(v[up] - v[down]) < 0.02
    assert abs(i[up] - i[down]) > 0.05 * abs(i[up])

    def lobe_area(k: int, f: float) -> float:
        n = int(round(0.5 / f / 0.005))  # first positive half period
        return float(np.abs(np.trapezoid(tr.i[k, : n + 1], tr.v[k, : n + 1])))

    # the fingerprint of a memristor: the lobe shrinks as the frequency grows
    assert lobe_area(1, 4.0) < 0.5 * lobe_area(0, 0.5)


def test_rk4_matches_the_closed_form_without_window():
    # no window: R_off x - dR x^2 / 2 = const + k * flux(t); x stays inside (0, 1) here
    params = hp.HPParams(window="none", x0=0.2)
    drive = hp.Sine(1.0, 1.0)
    tr = hp.simulate(drive, 3.0, 0.01, params=params, substeps=10)
    flux = drive.amplitude / (2 * np.pi * drive.freq) * (1 - np.cos(2 * np.pi * drive.freq * tr.t))
    d_r = params.R_off - params.R_on
    c = params.R_off * params.x0 - d_r * params.x0**2 / 2 + params.k * flux
    exact = (params.R_off - np.sqrt(params.R_off**2 - 2 * d_r * c)) / d_r
    assert tr.x.max() < 0.99
    np.testing.assert_allclose(tr.x[0], exact, atol=1e-7)


def test_integration_converges():
    params = hp.HPParams(window="biolek")
    drives = [hp.Triangle(1.2, 0.7), hp.RandomDrive(1.4, 2.0, seed=2, horizon=3.0)]
    coarse = hp.simulate(drives, 3.0, 0.01, params=params, substeps=5)
    fine = hp.simulate(drives, 3.0, 0.01, params=params, substeps=40)
    assert np.max(np.abs(coarse.x - fine.x)) < 1e-4


def test_drive_waveforms():
    t = np.linspace(0, 2, 2001)
    tri = hp.Triangle(2.0, 1.0).voltage(t)
    assert tri[0] == pytest.approx(0.0) and tri.max() == pytest.approx(2.0)
    assert tri[250] == pytest.approx(2.0) and tri[750] == pytest.approx(-2.0)
    pulses = hp.PulseTrain(1.0, period=0.5, duty=0.2, bipolar=False).voltage(t)
    assert set(np.unique(np.round(pulses, 6))) >= {0.0, 1.0} and pulses.min() >= 0
    rnd = hp.RandomDrive(0.8, 3.0, seed=1, horizon=2.0).voltage(t)
    assert np.max(np.abs(rnd)) == pytest.approx(0.8, rel=1e-3)


def test_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError):
        hp.HPParams(window="hann")
    with pytest.raises(ConfigError):
        hp.HPParams(R_on=20e3)
    with pytest.raises(ConfigError):
        hp.HPParams(x0=1.5)
    with pytest.raises(ConfigError):
        hp.simulate(hp.Sine(), -1.0, 0.01)

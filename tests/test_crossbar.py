"""The crossbar backend: exact when ideal, each non-ideality measurable on its own."""

from __future__ import annotations

import math

import pytest
import tomllib
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from evrt.backends import (
    BackendConv2d,
    BackendLinear,
    CrossbarConfig,
    backend_from_spec,
    make_backend,
    use_backend,
)
from evrt.backends.crossbar import CrossbarBackend, CrossbarInputError
from evrt.backends.digital import DigitalBackend
from evrt.errors import ConfigError

torch.manual_seed(0)


def close(a: torch.Tensor, b: torch.Tensor, rel: float = 2e-5) -> bool:
    a, b = a.detach(), b.detach()
    scale = float(b.abs().max()) or 1.0
    return float((a - b).abs().max()) <= rel * scale


# --- exactness of the noise-free mapping ---------------------------------------------------

@pytest.mark.parametrize("k,n,rows,cols", [(37, 19, 8, 5), (5, 3, 512, 256), (300, 70, 128, 32),
                                           (1, 1, 1, 1), (64, 64, 64, 64)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_ideal_equals_digital(k, n, rows, cols, bias):
    xb = make_backend("crossbar", tile_rows=rows, tile_cols=cols)
    x = torch.randn(2, 3, k)
    w = torch.randn(n, k)
    b = torch.randn(n) if bias else None
    assert close(xb.linear(x, w, b, layer="l"), F.linear(x, w, b))


def test_linear_ideal_spikes_equal_digital():
    xb = make_backend("crossbar", tile_rows=10, tile_cols=7)
    x = (torch.rand(9, 45) < 0.3).float()
    w = torch.randn(13, 45)
    assert close(xb.linear(x, w, None, layer="l", spikes=True), F.linear(x, w))


@pytest.mark.parametrize("kw", [
    dict(stride=1, padding=0, dilation=1, groups=1),
    dict(stride=2, padding=1, dilation=1, groups=1),
    dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1), groups=1),
    dict(stride=1, padding=1, dilation=1, groups=3),
    dict(stride=1, padding="same", dilation=1, groups=1),
    dict(stride=1, padding="same", dilation=3, groups=1),
    dict(stride=1, padding="valid", dilation=1, groups=1),
])
def test_conv_ideal_equals_digital(kw):
    xb = make_backend("crossbar", tile_rows=7, tile_cols=3)   # tiles divide nothing here
    x = torch.randn(2, 6, 11, 9)
    w = torch.randn(9, 6 // kw["groups"], 3, 4)
    b = torch.randn(9)
    assert close(xb.conv2d(x, w, b, layer="c", **kw), F.conv2d(x, w, b, **kw))


def test_model_layers_switch_backend():
    model = nn.Sequential(BackendConv2d(2, 5, 3, padding=1, spikes=True), nn.ReLU(),
                          nn.Flatten(), BackendLinear(5 * 8 * 7, 4))
    x = (torch.rand(3, 2, 8, 7) < 0.2).float()
    ref = model(x)
    xb = make_backend("crossbar", tile_rows=33, tile_cols=3)
    use_backend(model, xb)
    assert close(model(x), ref)
    assert set(xb.layers) == {"0", "3"}
    use_backend(model, DigitalBackend())
    assert torch.equal(model(x), ref)


# --- programming: levels, noise once, re-programming, faults, drift ---------------------

def test_levels_quantise_weights():
    levels = 5
    xb = make_backend("crossbar", levels=levels)
    w = torch.randn(6, 20)
    x = torch.randn(4, 20)
    w_max = w.abs().max()
    wq = torch.round(w.abs() / w_max * (levels - 1)) / (levels - 1) * w_max * w.sign()
    out = xb.linear(x, w, None, layer="l")
    assert close(out, F.linear(x, wq))
    assert not close(out, F.linear(x, w), rel=1e-3)


def _target(cfg: CrossbarConfig, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    u = w.t() / w.abs().max()
    dg = cfg.g_max - cfg.g_min
    return cfg.g_min + dg * u.clamp(min=0), cfg.g_min + dg * (-u).clamp(min=0)


def test_programming_noise_sigma_and_applied_once():
    cfg = CrossbarConfig(prog_noise=0.03, seed=3)
    xb = CrossbarBackend(cfg)
    w = 0.3 + 0.4 * torch.rand(200, 300)      # mid-range: no cell near the clip at 0
    w[0, 0] = 1.0
    x = torch.randn(5, 300)
    out1 = xb.linear(x, w, None, layer="l")
    g_pos, g_neg = xb.conductances("l")
    want_pos, want_neg = _target(cfg, w)
    dev = (g_pos - want_pos).flatten()      # G- sits at g_min, where the clip at 0 bites
    assert torch.all(g_neg >= 0) and torch.any(g_neg != want_neg)
    sigma = cfg.prog_noise * cfg.g_max
    assert abs(float(dev.std()) / sigma - 1) < 0.02
    assert abs(float(dev.mean())) < 0.02 * sigma
    # written once: the same weight reads the same conductances (no read noise configured)
    assert torch.equal(xb.linear(x, w, None, layer="l"), out1)
    assert torch.equal(xb.linear(x, w.clone(), None, layer="l"), out1)
    assert xb.counters["xbar_programmings"] == 1
    # a changed weight is written again (new noise draw)
    w.mul_(1.0)
    w[1, 1] = 0.5
    xb.linear(x, w, None, layer="l")
    assert xb.counters["xbar_programmings"] == 2
    assert not torch.equal(xb.conductances("l")[0], g_pos)


def test_read_noise_sigma_single_cell():
    cfg = CrossbarConfig(read_noise=0.05, seed=1)
    xb = CrossbarBackend(cfg)
    w = torch.tensor([[0.7]])
    x = torch.ones(20000, 1)
    out = xb.linear(x, w, None, layer="cell", spikes=True)
    # y = w_max / dG * (G+ - G-): its std is read_noise * sqrt(G+^2 + G-^2) * w_max / dG
    g_pos, g_neg = cfg.g_max, cfg.g_min
    want = cfg.read_noise * math.hypot(g_pos, g_neg) * 0.7 / (cfg.g_max - cfg.g_min)
    assert abs(float(out.std()) / want - 1) < 0.03
    assert abs(float(out.mean()) - 0.7) < 4 * want / math.sqrt(len(out))


def test_read_noise_sigma_many_rows_and_fresh_every_read():
    cfg = CrossbarConfig(read_noise=0.02, tile_rows=16, seed=2)
    xb = CrossbarBackend(cfg)
    w = torch.randn(4, 40)
    x0 = torch.rand(40)
    x = x0.expand(5000, 40).contiguous()
    out = xb.linear(x, w, None, layer="l")
    g_pos, g_neg = xb.conductances("l")
    scale = x0.abs().max()
    xn = x0 / scale
    w_scale = float(w.abs().max()) / (cfg.g_max - cfg.g_min)
    want = cfg.read_noise * torch.sqrt((xn[:, None] ** 2 * (g_pos ** 2 + g_neg ** 2)).sum(0)) \
        * w_scale * scale
    ratio = out.std(dim=0) / want
    assert torch.all((ratio - 1).abs() < 0.05), ratio
    assert close(out.mean(dim=0), F.linear(x0, w), rel=0.01)
    assert not torch.equal(out[0], out[1])


def test_stuck_at_rates_and_values():
    cfg = CrossbarConfig(stuck_on_rate=0.05, stuck_off_rate=0.1, seed=4)
    xb = CrossbarBackend(cfg)
    w = torch.randn(256, 256)
    xb.linear(torch.randn(2, 256), w, None, layer="l")
    prog = xb.layers["l"]
    n_cells = prog.stuck_on.numel()
    for mask, rate in ((prog.stuck_on, cfg.stuck_on_rate), (prog.stuck_off, cfg.stuck_off_rate)):
        tol = 4 * math.sqrt(rate * (1 - rate) / n_cells)
        assert abs(float(mask.double().mean()) - rate) < tol
    assert not torch.any(prog.stuck_on & prog.stuck_off)
    g_pos, g_neg = xb.conductances("l")
    on = prog.stuck_on[:, :256, :256]
    off = prog.stuck_off[:, :256, :256]
    assert torch.all(g_pos[on[0]] == cfg.g_max) and torch.all(g_neg[on[1]] == cfg.g_max)
    assert torch.all(g_pos[off[0]] == cfg.g_min) and torch.all(g_neg[off[1]] == cfg.g_min)
    want_pos, _ = _target(cfg, w)
    healthy = ~(on[0] | off[0])
    assert torch.allclose(g_pos[healthy], want_pos[healthy], atol=1e-4)
    # faults belong to the array: re-programming a new weight keeps the same fault map
    stuck_on = prog.stuck_on.clone()
    xb.linear(torch.randn(2, 256), torch.randn(256, 256), None, layer="l")
    assert torch.equal(xb.layers["l"].stuck_on, stuck_on)


def test_drift_power_law():
    cfg = CrossbarConfig(drift_nu=0.1, drift_t0=1.0)
    xb = CrossbarBackend(cfg)
    w = torch.randn(7, 30)
    x = torch.randn(3, 30)
    fresh = xb.linear(x, w, None, layer="l")
    assert close(fresh, F.linear(x, w))   # before t0 nothing has drifted
    xb.advance(99.0)
    assert close(xb.linear(x, w, None, layer="l"), F.linear(x, w) * 99.0 ** -0.1)


# --- converters ------------------------------------------------------------------------

@pytest.mark.parametrize("k,rows", [(100, 512), (100, 30)])
def test_adc_error_within_half_lsb(k, rows):
    bits = 6
    cfg = CrossbarConfig(adc_bits=bits, tile_rows=rows)
    xb = CrossbarBackend(cfg)
    ideal = CrossbarBackend(CrossbarConfig(tile_rows=rows))
    w = torch.randn(20, k)
    x = (torch.rand(500, k) < 0.4).float()
    out = xb.linear(x, w, None, layer="l", spikes=True)
    ref = ideal.linear(x, w, None, layer="l", spikes=True)
    prog = xb.layers["l"]
    lsb = prog.adc_range[:, 0, :20] / (2 ** (bits - 1) - 1) * prog.w_scale   # (n_rt, N)
    bound = 0.5 * lsb.sum(dim=0) * (1 + 1e-5) + 1e-6                          # one per tile summed
    err = (out - ref).abs()
    assert torch.all(err <= bound)
    assert float(err.max()) > 0.05 * float(bound.min())   # it did quantise


def test_adc_saturates_at_range():
    xb = CrossbarBackend(CrossbarConfig(adc_bits=8, adc_range=10.0))   # uS * pulse
    w = torch.ones(1, 50)
    out = xb.linear(torch.ones(1, 50), w, None, layer="l", spikes=True)
    # true current is 50 * 39 uS, the ADC clips at 10 uS -> 10 * w_max / dG
    assert float(out) == pytest.approx(10.0 / 39.0, rel=1e-5)


def test_dac_quantises_inputs():
    bits, rng = 4, 2.0
    xb = CrossbarBackend(CrossbarConfig(dac_bits=bits, dac_range=rng))
    x = 3 * torch.randn(50, 12)
    w = torch.randn(5, 12)
    q = 2 ** (bits - 1) - 1
    xq = torch.round((x / rng).clamp(-1, 1) * q) / q * rng
    assert close(xb.linear(x, w, None, layer="l"), F.linear(xq, w))
    step = rng / q
    inside = x.abs() <= rng
    assert torch.all((xq - x)[inside].abs() <= step / 2 + 1e-6)


@pytest.mark.parametrize("param", [dict(levels=4), dict(prog_noise=0.02), dict(read_noise=0.02),
                                   dict(stuck_on_rate=0.05), dict(stuck_off_rate=0.05),
                                   dict(drift_nu=0.05), dict(dac_bits=3), dict(adc_bits=4)])
def test_each_non_ideality_alone(param):
    cfg = CrossbarConfig(**param)
    assert not cfg.ideal
    assert sum(getattr(cfg, f) != getattr(CrossbarConfig(), f) for f in param) == 1
    xb = CrossbarBackend(cfg)
    xb.advance(0.0)
    w = torch.randn(16, 64)
    x = torch.randn(8, 64)
    xb.linear(x, w, None, layer="l")
    xb.advance(1000.0)
    out = xb.linear(x, w, None, layer="l")
    assert not close(out, F.linear(x, w), rel=1e-4)


# --- config and factory ------------------------------------------------------------------

def test_config_from_toml_and_errors():
    table = tomllib.loads('backend = { name = "crossbar", adc_bits = 8, read_noise = 0.02, '
                          'g_max = 25 }')["backend"]
    b = backend_from_spec(table)
    assert isinstance(b, CrossbarBackend)
    assert b.config.adc_bits == 8 and b.config.g_max == 25.0 and b.config.read_noise == 0.02
    assert isinstance(backend_from_spec("digital"), DigitalBackend)
    with pytest.raises(ConfigError, match="adc_bitz"):
        make_backend("crossbar", adc_bitz=8)
    with pytest.raises(ConfigError, match="'backend'"):
        make_backend("memristor")
    with pytest.raises(ConfigError, match="g_max"):
        CrossbarConfig.from_dict({"g_min": 10.0, "g_max": 5.0})
    with pytest.raises(ConfigError, match="adc_bits"):
        CrossbarConfig.from_dict({"adc_bits": 1})
    with pytest.raises(ConfigError, match="levels"):
        CrossbarConfig.from_dict({"levels": 2.5})
    with pytest.raises(ConfigError, match="stuck_on_rate"):
        CrossbarConfig.from_dict({"stuck_on_rate": 1.5})
    with pytest.raises(ConfigError, match="backend.name"):
        backend_from_spec({"adc_bits": 8})


def test_spike_layer_rejects_non_binary_input():
    xb = make_backend("crossbar")
    with pytest.raises(CrossbarInputError, match="spikes=True"):
        xb.linear(torch.tensor([[0.5, 1.0]]), torch.ones(1, 2), None, layer="l", spikes=True)


def test_default_tile_is_256kb_macro():
    cfg = CrossbarConfig()
    assert cfg.tile_rows * 2 * cfg.tile_cols == 256 * 1024
    xb = CrossbarBackend(cfg)
    xb.linear(torch.randn(1, 2304), torch.randn(10, 2304), None, layer="fc")
    assert xb.arrays_used() == 5   # ceil(2304 / 512) row tiles x 1 column tile


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_matches_digital():
    xb = make_backend("crossbar", tile_rows=100, tile_cols=30, adc_bits=0)
    x = torch.randn(4, 3, 20, 20, device="cuda")
    w = torch.randn(8, 3, 5, 5, device="cuda")
    out = xb.conv2d(x, w, None, padding=2, layer="c")
    assert out.is_cuda
    assert close(out, F.conv2d(x, w, padding=2), rel=1e-4)
    noisy = make_backend("crossbar", read_noise=0.05, prog_noise=0.02, adc_bits=8)
    assert noisy.conv2d(x, w, None, padding=2, layer="c").is_cuda


def test_masked_layer_reprograms_only_when_its_effective_weight_changes():
    class MaskedLinear(BackendLinear):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.register_buffer("mask", torch.ones_like(self.weight))

        def effective_weight(self):
            return self.weight * self.mask     # a new tensor on every forward

    layer = MaskedLinear(30, 6, bias=False)
    xb = make_backend("crossbar", tile_rows=16)
    use_backend(layer, xb)
    x = torch.randn(4, 30)
    with torch.no_grad():
        layer(x)
        layer(x)
        assert xb.counters["xbar_programmings"] == 1
        layer.mask[:, ::2] = 0
        out = layer(x)
    assert xb.counters["xbar_programmings"] == 2
    assert close(out, F.linear(x, layer.weight * layer.mask))


def test_model_node_picks_backend_in_toml():
    from evrt.graph.node import Node
    from evrt.graph.registry import build

    class Classifier(Node):
        def __init__(self, backend: str | dict = "digital"):
            self.backend = backend_from_spec(backend)

    params = tomllib.loads('[nodes.clf]\ntype = "x"\n'
                           'backend = { name = "crossbar", levels = 32, stuck_off_rate = 0.01 }'
                           )["nodes"]["clf"]
    params.pop("type")
    node = build(Classifier, params, node="clf")
    assert isinstance(node.backend, CrossbarBackend)
    assert node.backend.config.levels == 32 and node.backend.config.stuck_off_rate == 0.01
    with pytest.raises(ConfigError, match="read_nois"):
        build(Classifier, {"backend": {"name": "crossbar", "read_nois": 0.1}}, node="clf")


def test_linear_output_shapes_and_layout():
    xb = make_backend("crossbar", tile_rows=4)
    w = torch.randn(3, 10)
    one = xb.linear(torch.randn(10), w, None, layer="l")
    assert one.shape == (3,)
    out = xb.linear(torch.randn(5, 10), w, None, layer="l")
    assert out.is_contiguous() and out.view(15).shape == (15,)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 70), n=st.integers(1, 40), rows=st.integers(1, 33), cols=st.integers(1, 17),
       batch=st.integers(1, 6), spikes=st.booleans(), seed=st.integers(0, 2**16))
def test_ideal_mapping_exact_for_any_tiling(k, n, rows, cols, batch, spikes, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, k, generator=g)
    if spikes:
        x = (x > 0.5).float()
    w = torch.randn(n, k, generator=g)
    xb = make_backend("crossbar", tile_rows=rows, tile_cols=cols, g_min=0.5, g_max=25.0)
    assert close(xb.linear(x, w, None, layer="l", spikes=spikes), F.linear(x, w), rel=5e-5)
    assert xb.layers["l"].n_row_tiles == -(-k // rows)
    assert xb.layers["l"].n_col_tiles == -(-n // cols)


def test_drift_exponent_spread_per_cell():
    cfg = CrossbarConfig(drift_nu=0.1, drift_nu_std=0.01, seed=5)
    xb = CrossbarBackend(cfg)
    w = torch.randn(64, 128)
    x = torch.randn(2, 128)
    xb.linear(x, w, None, layer="l")
    nu = xb.layers["l"].nu
    assert abs(float(nu.mean()) - 0.1) < 1e-3 and abs(float(nu.std()) / 0.01 - 1) < 0.03
    xb.advance(1e4)
    aged = xb.linear(x, w, None, layer="l")
    # mean decay close to (1e4)^-0.1 but not a single scale factor
    factor = (aged / F.linear(x, w)).median()
    assert abs(float(factor) - 1e4 ** -0.1) < 0.02
    assert not close(aged, F.linear(x, w) * 1e4 ** -0.1, rel=1e-4)

"""MSS-DepthNet: shapes, same-size ANN twin, state reset, streaming = multi-step, causality."""

from __future__ import annotations

import math

import pytest
import torch

from evrt.backends.base import DigitalBackend, use_backend
from evrt.models.depth import (
    DepthNet,
    DepthNetConfig,
    count_parameters,
    depth_to_log,
    log_to_depth,
)
from evrt.snn.functional import reset_net, spike_rates
from evrt.snn.neuron import LIF

SMALL = DepthNetConfig(base_channels=4, levels=2, res_blocks=1, timesteps=4)


def _input(t=4, b=2, h=20, w=27, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(t, b, 2, h, w, generator=g) < 0.3).float() * 2


def test_log_depth_normalisation_is_e2depths():
    assert depth_to_log(torch.tensor(80.0)).item() == pytest.approx(1.0)
    dmin = 80 * math.exp(-3.70378)
    assert depth_to_log(torch.tensor(dmin)).item() == pytest.approx(0.0, abs=1e-6)
    assert depth_to_log(torch.tensor(0.5)).item() == 0.0 and depth_to_log(torch.tensor(200.0)) == 1
    d = torch.tensor([2.5, 10.0, 40.0])
    assert torch.allclose(log_to_depth(depth_to_log(d)), d)
    assert depth_to_log(torch.tensor(5.0), dmax=10.0, alpha=6.0).item() == pytest.approx(
        1 + math.log(0.5) / 6)


def test_shapes_and_same_parameter_count_as_the_ann_twin():
    snn, ann = DepthNet(SMALL), DepthNet(SMALL, spiking=False)
    assert count_parameters(snn) == count_parameters(ann)
    x = _input()
    y = snn(x)
    assert y.shape == (4, 2, 1, 20, 27)  # padded internally to a multiple of 4, cropped back
    assert ((y > 0) & (y < 1)).all()
    assert ann(x).shape == (1, 2, 1, 20, 27)
    assert not any(isinstance(m, LIF) for m in ann.modules())
    assert sum(isinstance(m, LIF) for m in snn.modules()) == sum(
        isinstance(m, torch.nn.ReLU) for m in ann.modules())
    with pytest.raises(ValueError, match="expected"):
        snn(torch.rand(2, 3, 20, 27))


def test_state_reset_makes_samples_independent():
    torch.manual_seed(0)
    net = DepthNet(SMALL).eval()
    a, b = _input(seed=1), _input(seed=2)
    with torch.no_grad():
        alone = net(b)
        reset_net(net)
        net(a)
        reset_net(net)
        after_reset = net(b)
    assert torch.equal(alone, after_reset)
    with pytest.raises(ValueError, match="reset"):
        net(a)  # no reset: temporal attention would run past its 4 steps


def test_streaming_one_step_at_a_time_equals_multi_step():
    torch.manual_seed(0)
    net = DepthNet(SMALL).eval()
    x = _input()
    with torch.no_grad():
        reset_net(net)
        full = net(x)
        reset_net(net)
        steps = torch.cat([net(x[t:t + 1]) for t in range(4)])
    assert torch.allclose(full, steps, atol=1e-6)


def test_prediction_at_step_t_does_not_see_later_steps():
    torch.manual_seed(0)
    net = DepthNet(SMALL).eval()
    x = _input()
    x2 = x.clone()
    x2[3] = 2 - x2[3]
    with torch.no_grad():
        reset_net(net)
        y1 = net(x)
        reset_net(net)
        y2 = net(x2)
    assert torch.equal(y1[:3], y2[:3]) and not torch.equal(y1[3], y2[3])


def test_gradients_reach_the_input_layer_through_the_surrogates():
    net = DepthNet(SMALL)
    net(_input())[-1].mean().backward()
    g = net.head[0].weight.grad
    assert g is not None and g.abs().sum() > 0


def test_spike_rates_and_synaptic_ops_on_the_backend():
    torch.manual_seed(0)
    net = DepthNet(SMALL).eval()
    backend = DigitalBackend()
    use_backend(net, backend)
    with torch.no_grad():
        net(_input())
    rates = spike_rates(net)
    assert len(rates) == sum(isinstance(m, LIF) for m in net.modules())
    assert all(0.0 <= r <= 1.0 for r in rates.values()) and max(rates.values()) > 0
    assert 0 < backend.counters["synops"] < backend.counters["macs"]

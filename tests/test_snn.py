"""evrt.snn: surrogates, LIF dynamics against hand-computed traces, step modes, state reset."""

from __future__ import annotations

import math

import pytest
import torch

from evrt.backends.base import Backend, DigitalBackend, use_backend
from evrt.snn import LIF, Integrator, functional, layer, surrogate


def test_surrogates_step_forward_and_their_own_backward():
    x = torch.tensor([-1.0, -0.2, 0.0, 0.1, 0.3, 2.0])
    for s in (surrogate.Rectangular(0.5), surrogate.Sigmoid(4.0), surrogate.ATan(2.0)):
        assert torch.equal(s(x), torch.tensor([0.0, 0, 1, 1, 1, 1]))
    rect = surrogate.Rectangular(width=0.5).derivative(x)
    assert torch.allclose(rect, torch.tensor([0.0, 2.0, 2.0, 2.0, 0.0, 0.0]))
    sig = surrogate.Sigmoid(4.0).derivative(x)
    s = torch.sigmoid(4 * x)
    assert torch.allclose(sig, 4 * s * (1 - s))
    at = surrogate.ATan(2.0).derivative(x)
    assert torch.allclose(at, 1.0 / (1 + (math.pi * x) ** 2))
    assert surrogate.get("rect", width=1.0, height=1.0).derivative(torch.tensor([0.45]))[0] == 1.0
    with pytest.raises(ValueError):
        surrogate.get("nope")


def test_lif_hard_reset_matches_hand_trace():
    # PRIME's neuron: v = 0.8 v + x, spike when v >= 0.2, hard reset to 0.
    n = LIF(decay=0.8, threshold=0.2, reset="hard", surrogate=surrogate.Rectangular(0.5))
    x = torch.tensor([0.1, 0.1, 0.1, 0.0, 0.3]).reshape(5, 1)
    s = n(x).flatten().tolist()
    # v: 0.1 -> 0.18 -> 0.244 (spike, ->0) -> 0 -> 0.3 (spike)
    assert s == [0.0, 0.0, 1.0, 0.0, 1.0]
    assert n.v.item() == 0.0
    assert n.spike_rate == pytest.approx(2 / 5)


def test_lif_soft_reset_keeps_the_excess():
    n = LIF(decay=1.0, threshold=1.0, reset="soft")
    s = n(torch.full((4, 1), 0.7)).flatten().tolist()
    # v: 0.7, 1.4 (spike -> 0.4), 1.1 (spike -> 0.1), 0.8
    assert s == [0.0, 1.0, 1.0, 0.0]
    assert n.v.item() == pytest.approx(0.8)


def test_single_step_and_chunked_streaming_equal_multi_step():
    torch.manual_seed(0)
    x = torch.rand(6, 2, 3, 4, 4)
    full = LIF(decay=0.7, threshold=0.5)
    ref = full(x)
    single = LIF(decay=0.7, threshold=0.5, step_mode="s")
    steps = torch.stack([single(xt) for xt in x])
    assert torch.equal(ref, steps)
    chunked = LIF(decay=0.7, threshold=0.5)
    assert torch.equal(torch.cat([chunked(x[:2]), chunked(x[2:])]), ref)


def test_reset_clears_state_and_shape_change_without_reset_is_an_error():
    n = LIF(decay=0.9, threshold=1.0)
    x = torch.full((3, 1, 2), 0.6)
    first = n(x)
    carried = n(x)  # state carried over: fires earlier than a fresh neuron
    assert not torch.equal(first, carried)
    functional.reset_net(torch.nn.Sequential(n))
    assert n.v is None
    assert torch.equal(n(x), first)
    with pytest.raises(ValueError, match="reset"):
        n(torch.ones(3, 2, 2))


def test_gradient_flows_through_the_surrogate_to_weights():
    torch.manual_seed(0)
    net = torch.nn.Sequential(layer.Conv2d(2, 4, 3, padding=1), layer.BatchNorm2d(4),
                              LIF(decay=0.5, threshold=0.5, surrogate="sigmoid"),
                              layer.Conv2d(4, 1, 1, spikes=True), Integrator())
    x = torch.rand(4, 3, 2, 8, 8)
    out = net(x).mean(0)
    out.sum().backward()
    g = net[0].weight.grad
    assert g is not None and g.abs().sum() > 0  # only reachable through the LIF's surrogate


def test_stepped_layers_fold_time_into_batch():
    torch.manual_seed(1)
    conv = layer.Conv2d(2, 3, 3, padding=1)
    x = torch.rand(5, 2, 2, 6, 7)
    y = conv(x)
    assert y.shape == (5, 2, 3, 6, 7)
    assert torch.allclose(y[3], torch.nn.functional.conv2d(x[3], conv.weight, conv.bias, padding=1))
    lin = layer.Linear(12, 4)
    assert lin(torch.rand(5, 2, 12)).shape == (5, 2, 4)
    assert layer.Flatten()(torch.rand(5, 2, 3, 2, 2)).shape == (5, 2, 12)
    assert layer.AvgPool2d(2)(x).shape == (5, 2, 2, 3, 3)
    with pytest.raises(ValueError, match="expects a 5-d"):
        conv(x[0])
    functional.set_step_mode(torch.nn.Sequential(conv), "s")
    assert conv(x[0]).shape == (2, 3, 6, 7)


def test_layers_dispatch_to_the_backend_and_count_synops():
    class Recording(DigitalBackend):
        def __init__(self):
            super().__init__()
            self.calls: list[str] = []

        def conv2d(self, x, weight, bias, **kw):
            self.calls.append(kw["layer"])
            return super().conv2d(x, weight, bias, **kw)

    net = torch.nn.Sequential(LIF(threshold=0.5), layer.Conv2d(1, 2, 3, padding=1, spikes=True))
    backend = Recording()
    use_backend(net, backend)
    x = torch.zeros(2, 1, 1, 4, 4)
    x[0, 0, 0, 1, 1] = 1.0  # one spike in, at step 0
    net(x)
    assert backend.calls == ["1"]
    assert backend.counters["synops"] == 1 * 2 * 9
    assert isinstance(backend, Backend)


def test_prime_classifier_configuration_builds_and_integrates():
    rect = surrogate.Rectangular(0.5)
    net = torch.nn.Sequential(
        layer.Conv2d(2, 12, 5, padding=2), LIF(0.8, 0.2, reset="hard", surrogate=rect), layer.AvgPool2d(2),
        layer.Conv2d(12, 64, 5, spikes=True), LIF(0.8, 0.2, surrogate=rect), layer.AvgPool2d(2),
        layer.Flatten(), layer.Linear(2304, 10), Integrator(decay=1.0))
    out = net(torch.rand(10, 3, 2, 34, 34))
    assert out.shape == (10, 3, 10)
    rates = functional.spike_rates(net)
    assert set(rates) == {"1", "4"} and all(0 <= r <= 1 for r in rates.values())


def test_integrator_accumulates_with_decay():
    integ = Integrator(decay=0.5)
    out = integ(torch.tensor([[1.0], [1.0], [0.0]]))
    assert out.flatten().tolist() == [1.0, 1.5, 0.75]

"""Spiking building blocks in SpikingJelly's spirit: surrogates, LIF neurons, stepped layers.

Tensors are [T, B, ...] in multi-step mode ('m') and [B, ...] in single-step mode ('s');
neuron state persists across calls until `functional.reset_net(model)`.
"""

from evrt.snn import functional, layer, neuron, surrogate
from evrt.snn.functional import reset_net, set_step_mode, spike_rates
from evrt.snn.neuron import LIF, Integrator, MemoryModule

__all__ = ["functional", "layer", "neuron", "surrogate", "LIF", "Integrator", "MemoryModule",
           "reset_net", "set_step_mode", "spike_rates"]

"""Helpers over whole networks: state reset, step modes, folding time into batch, spike rates."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from evrt.snn.neuron import LIF, MemoryModule, StepMode

__all__ = ["reset_net", "set_step_mode", "seq_to_ann", "SeqToANN", "spike_rates", "reset_counters"]


def reset_net(model: nn.Module) -> None:
    """Clear the state of every stateful module (call between independent samples)."""
    for m in model.modules():
        if isinstance(m, MemoryModule):
            m.reset()


def set_step_mode(model: nn.Module, mode: StepMode) -> None:
    """Switch every stateful module to single-step ('s': [B, ...]) or multi-step ('m': [T, B, ...])."""
    for m in model.modules():
        if hasattr(m, "step_mode"):
            m.step_mode = mode


def seq_to_ann(fn: Callable[[torch.Tensor], torch.Tensor], x_seq: torch.Tensor) -> torch.Tensor:
    """Apply a stateless per-sample function to [T, B, ...] by folding T into the batch dimension."""
    t, b = x_seq.shape[:2]
    y = fn(x_seq.flatten(0, 1))
    return y.reshape(t, b, *y.shape[1:])


class SeqToANN(nn.Sequential):
    """Stateless layers applied to every time step at once: [T, B, ...] -> fold -> layers -> unfold."""

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return seq_to_ann(super().forward, x_seq)


def reset_counters(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, LIF):
            m.reset_counters()


def spike_rates(model: nn.Module) -> dict[str, float]:
    """Spikes per neuron per step of every LIF layer since the last `reset_counters(model)`."""
    return {name: m.spike_rate for name, m in model.named_modules() if isinstance(m, LIF)}

"""Leaky integrate-and-fire neurons over tensors shaped [T, B, ...] (multi-step) or [B, ...] (single-step).

Dynamics per step (`decay` = exp(-dt/tau), the fraction of membrane kept):

    v = decay * v + x                 (charge; `decay_input=True` scales x by 1 - decay)
    s = H(v - threshold)              (fire; backward through the chosen surrogate)
    v = v * (1 - s) + v_reset * s     (hard reset)  or  v = v - threshold * s  (soft reset)

State (`v`) lives on the module between calls, so a stream can be fed step by step
(`step_mode="s"`) or chunk by chunk (`step_mode="m"` with any T); it is cleared only by
`reset()` (or `evrt.snn.functional.reset_net(model)`), which must be called between samples.
Every neuron counts the spikes it emitted and the neuron-steps it ran, for spike rates.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from evrt.snn import surrogate as sg

__all__ = ["MemoryModule", "LIF", "Integrator"]

StepMode = Literal["s", "m"]


class MemoryModule(nn.Module):
    """A module with state across time steps: `reset()` clears it; `step_mode` is 's' or 'm'."""

    def __init__(self, step_mode: StepMode = "m") -> None:
        super().__init__()
        self.step_mode = step_mode

    @property
    def step_mode(self) -> StepMode:
        return self._step_mode

    @step_mode.setter
    def step_mode(self, mode: StepMode) -> None:
        if mode not in ("s", "m"):
            raise ValueError(f"step_mode must be 's' (single step) or 'm' (multi-step), got {mode!r}")
        self._step_mode = mode

    def reset(self) -> None:
        raise NotImplementedError

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.single_step_forward(x) for x in x_seq])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            return self.single_step_forward(x)
        return self.multi_step_forward(x)


class LIF(MemoryModule):
    """Multi-step LIF neuron with hard or soft reset and a surrogate gradient.

    PRIME's classifier neuron is `LIF(decay=0.8, threshold=0.2 or 0.5, reset="hard",
    surrogate=Rectangular(width=0.5))`; SpikingJelly's default LIF (tau=2) is
    `LIF(decay=0.5, decay_input=True, surrogate=ATan(2.0))`.
    """

    def __init__(self, decay: float = 0.5, threshold: float = 1.0, *,
                 reset: Literal["hard", "soft"] = "hard", v_reset: float = 0.0,
                 surrogate: str | sg.Surrogate = "atan", decay_input: bool = False,
                 detach_reset: bool = False, step_mode: StepMode = "m") -> None:
        super().__init__(step_mode)
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {decay}")
        if reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
        self.decay = float(decay)
        self.threshold = float(threshold)
        self.reset_mode = reset
        self.v_reset = float(v_reset)
        self.surrogate = sg.get(surrogate)
        self.decay_input = decay_input
        self.detach_reset = detach_reset
        self.v: torch.Tensor | None = None
        self.spike_count = 0.0
        self.neuron_steps = 0

    def reset(self) -> None:
        """Forget the membrane potential (start of a new sample); spike counters stay."""
        self.v = None

    def reset_counters(self) -> None:
        self.spike_count = 0.0
        self.neuron_steps = 0

    @property
    def spike_rate(self) -> float:
        """Spikes per neuron per time step since the last `reset_counters()`."""
        return float(self.spike_count) / self.neuron_steps if self.neuron_steps else 0.0

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.v is None or self.v.shape != x.shape:
            if self.v is not None:
                raise ValueError(f"input shape {tuple(x.shape)} differs from the state's "
                                 f"{tuple(self.v.shape)}: call reset() between samples")
            self.v = torch.full_like(x, self.v_reset)
        inp = x * (1.0 - self.decay) if self.decay_input else x
        v = self.decay * self.v + inp
        spike = self.surrogate(v - self.threshold)
        s = spike.detach() if self.detach_reset else spike
        if self.reset_mode == "hard":
            v = v * (1.0 - s) + self.v_reset * s
        else:
            v = v - self.threshold * s
        self.v = v
        self.spike_count += spike.detach().sum()
        self.neuron_steps += spike.numel()
        return spike

    def extra_repr(self) -> str:
        return (f"decay={self.decay}, threshold={self.threshold}, reset={self.reset_mode}, "
                f"v_reset={self.v_reset}, decay_input={self.decay_input}, step_mode={self.step_mode}")


class Integrator(MemoryModule):
    """A non-spiking leaky integrator: outputs its membrane `v = decay * v + x` at every step.

    Used as a read-out layer (PRIME's classifier output: `decay=1.0`, logits = time-mean of v).
    """

    def __init__(self, decay: float = 1.0, step_mode: StepMode = "m") -> None:
        super().__init__(step_mode)
        self.decay = float(decay)
        self.v: torch.Tensor | None = None

    def reset(self) -> None:
        self.v = None

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        self.v = x if self.v is None else self.decay * self.v + x
        return self.v

    def extra_repr(self) -> str:
        return f"decay={self.decay}, step_mode={self.step_mode}"

"""PRIME's spiking classifier (pruned random weights) and its weight-trained twin.

Topology (34x34 two-polarity input, T steps):

    conv 2->12 k5 pad 1 (34 -> 32) -> avgpool 2 (16) -> LIF
    conv 12->64 k5      (16 -> 12) -> avgpool 2 (6)  -> LIF
    flatten (64*6*6 = 2304) -> FC 2304 -> classes -> non-spiking integrator (decay 1)

The FC input size 2304 = 64x6x6 of the reference fixes one padding: we pad conv1 by 1.
Pooling comes before the neuron, so every synaptic layer receives binary spikes (what a
crossbar reads as pulses). LIF: decay 0.8, hard reset, rectangular surrogate of width 0.5,
threshold 0.2 in both conv layers. The reference also quotes 0.5 for the FC layer; our FC
read-out never spikes (it integrates, logits = time-mean of its membrane), so no FC
threshold exists here.

`PrimeClassifier` uses `PrunedConv2d`/`PrunedLinear` (only scores train); `BaselineClassifier`
is the same network with ordinary trainable weights (the software baseline).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from evrt.models.prime.layers import PrunedConv2d, PrunedLinear
from evrt.snn import layer as L
from evrt.snn.functional import reset_net, set_step_mode
from evrt.snn.neuron import LIF, Integrator, MemoryModule
from evrt.snn.surrogate import Rectangular

__all__ = ["PrimeClassifier", "BaselineClassifier", "build_classifier", "compact_state",
           "logits_full", "step_logits"]


class _SpikingClassifier(nn.Module):
    """Shared forward: x [T, B, 2, 34, 34] -> membrane of the read-out [T, B, classes]."""

    def _build(self, conv1: nn.Module, conv2: nn.Module, fc: nn.Module, decay: float,
               threshold: float, surrogate_width: float) -> None:
        sg = Rectangular(width=surrogate_width)
        self.conv1 = conv1
        self.pool1 = L.AvgPool2d(2)
        self.lif1 = LIF(decay, threshold, reset="hard", surrogate=sg)
        self.conv2 = conv2
        self.pool2 = L.AvgPool2d(2)
        self.lif2 = LIF(decay, threshold, reset="hard", surrogate=sg)
        self.flat = L.Flatten()
        self.fc = fc
        self.out = Integrator(decay=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.lif1(self.pool1(self.conv1(x)))
        s2 = self.lif2(self.pool2(self.conv2(s1)))
        return self.out(self.fc(self.flat(s2)))

    def neuron_updates_per_step(self, batch: int) -> int:
        """Membrane updates per time step for `batch` samples (12x16x16 + 64x6x6 + classes)."""
        return batch * (12 * 16 * 16 + 64 * 6 * 6 + self.classes)


class PrimeClassifier(_SpikingClassifier):
    """Pruned random-weight SNN: weights from `seed`, only the per-weight scores are trained."""

    def __init__(self, classes: int = 10, *, seed: int = 0, keep: float = 0.5,
                 std: float = 6.35, scale: float = 0.01, decay: float = 0.8,
                 threshold: float = 0.2, surrogate_width: float = 0.5) -> None:
        super().__init__()
        self.classes, self.seed, self.keep, self.std, self.scale = classes, seed, keep, std, scale
        g = torch.Generator().manual_seed(seed)
        kw = dict(generator=g, keep=keep, std=std, scale=scale, spikes=True)
        self._build(PrunedConv2d(2, 12, 5, padding=1, **kw), PrunedConv2d(12, 64, 5, **kw),
                    PrunedLinear(64 * 6 * 6, classes, **kw), decay, threshold, surrogate_width)


class BaselineClassifier(_SpikingClassifier):
    """The same SNN with ordinary (trained) weights: PRIME's software baseline."""

    def __init__(self, classes: int = 10, *, seed: int = 0, decay: float = 0.8,
                 threshold: float = 0.2, surrogate_width: float = 0.5) -> None:
        super().__init__()
        self.classes, self.seed = classes, seed
        torch.manual_seed(seed)
        self._build(L.Conv2d(2, 12, 5, padding=1, bias=False, spikes=True),
                    L.Conv2d(12, 64, 5, bias=False, spikes=True),
                    L.Linear(64 * 6 * 6, classes, bias=False, spikes=True),
                    decay, threshold, surrogate_width)


def build_classifier(kind: str, **kw) -> _SpikingClassifier:
    if kind == "prime":
        return PrimeClassifier(**kw)
    if kind == "baseline":
        return BaselineClassifier(**kw)
    raise ValueError(f"model kind must be 'prime' or 'baseline', got {kind!r}")


def logits_full(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits of a full run: time-mean of the read-out membrane; x is [T, B, 2, H, W]."""
    set_step_mode(model, "m")
    reset_net(model)
    return model(x).mean(0)


def _memory(model: nn.Module) -> Iterator[MemoryModule]:
    return (m for m in model.modules() if isinstance(m, MemoryModule))


def compact_state(model: nn.Module, keep: torch.Tensor) -> None:
    """Keep only rows `keep` of every neuron state (samples that stopped leave the batch)."""
    for m in _memory(model):
        v = getattr(m, "v", None)
        if v is not None:
            m.v = v[keep]


def step_logits(model: nn.Module, x_t: torch.Tensor) -> torch.Tensor:
    """One time step in single-step mode: x_t [B, 2, H, W] -> read-out membrane [B, classes]."""
    set_step_mode(model, "s")
    return model(x_t)

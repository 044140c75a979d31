"""The backend interface: layers that do matrix work (Linear, Conv2d) call a backend.

A model never calls `F.linear` / `F.conv2d` itself for its synaptic layers; it uses
`BackendLinear` / `BackendConv2d`, whose `backend` attribute decides where the product is
computed: `digital` (plain torch, CPU or CUDA) or `crossbar` (simulated memristor arrays).
`use_backend(model, backend)` swaps the backend of every such layer in a model.

Every backend counts what it ran in `backend.counters` (a `Counter` of named integers),
so energy is computed from work actually done, never from a formula over the topology.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class Backend:
    """Base class: digital semantics plus work counters. Subclasses override `linear`/`conv2d`."""

    name = "base"

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()

    def reset_counters(self) -> None:
        self.counters.clear()

    def linear(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *,
               layer: str, spikes: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def conv2d(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *,
               stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
               layer: str, spikes: bool = False) -> torch.Tensor:
        raise NotImplementedError


class DigitalBackend(Backend):
    """Plain torch on whatever device the tensors live on; counts MACs, and spikes in for spiking inputs."""

    name = "digital"

    def linear(self, x, weight, bias, *, layer, spikes=False):
        self.counters["macs"] += x.numel() // x.shape[-1] * weight.shape[0] * weight.shape[1]
        if spikes:
            self.counters["synops"] += int(torch.count_nonzero(x).item()) * weight.shape[0]
        return F.linear(x, weight, bias)

    def conv2d(self, x, weight, bias, *, stride=1, padding=0, dilation=1, groups=1, layer,
               spikes=False):
        out = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
        k = weight.shape[1] * weight.shape[2] * weight.shape[3]
        self.counters["macs"] += out.numel() * k
        if spikes:
            fanout = weight.shape[0] // groups * weight.shape[2] * weight.shape[3]
            self.counters["synops"] += int(torch.count_nonzero(x).item()) * fanout
        return out


_DEFAULT = DigitalBackend()


class BackendLinear(nn.Linear):
    """`nn.Linear` whose product runs on `self.backend`. `spikes=True` marks binary inputs."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 spikes: bool = False, **kw: Any):
        super().__init__(in_features, out_features, bias, **kw)
        self.backend: Backend = _DEFAULT
        self.spikes = spikes
        self.layer_name = f"linear{id(self):x}"

    def effective_weight(self) -> torch.Tensor:
        """The weight the hardware holds (subclasses, e.g. pruning masks, override this)."""
        return self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backend.linear(x, self.effective_weight(), self.bias, layer=self.layer_name,
                                   spikes=self.spikes)


class BackendConv2d(nn.Conv2d):
    """`nn.Conv2d` whose product runs on `self.backend`. `spikes=True` marks binary inputs."""

    def __init__(self, *args: Any, spikes: bool = False, **kw: Any):
        super().__init__(*args, **kw)
        self.backend: Backend = _DEFAULT
        self.spikes = spikes
        self.layer_name = f"conv{id(self):x}"

    def effective_weight(self) -> torch.Tensor:
        return self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros":
            raise NotImplementedError("backend convolutions support zero padding only")
        return self.backend.conv2d(x, self.effective_weight(), self.bias, stride=self.stride,
                                   padding=self.padding, dilation=self.dilation, groups=self.groups,
                                   layer=self.layer_name, spikes=self.spikes)


def backend_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (BackendLinear, BackendConv2d))]


def use_backend(model: nn.Module, backend: Backend) -> nn.Module:
    """Point every backend layer of `model` at `backend`; layer names become the module paths."""
    for name, m in backend_layers(model):
        m.backend = backend
        m.layer_name = name or m.layer_name
    return model

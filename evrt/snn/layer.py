"""Stateless layers that accept [T, B, ...] (step_mode 'm') or [B, ...] (step_mode 's').

Multi-step inputs are folded to [T*B, ...] for one big call and unfolded after, which is
how a multi-step SNN stays as fast as an ANN of the same size. `Conv2d` and `Linear`
subclass the backend layers, so `evrt.backends.base.use_backend(model, backend)` moves
their products onto the digital or crossbar backend; `spikes=True` tells the backend the
input is binary (read pulses on a crossbar; synaptic operations counted per spike).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from evrt.backends.base import BackendConv2d, BackendLinear
from evrt.snn.neuron import StepMode

__all__ = ["Conv2d", "Linear", "BatchNorm2d", "AvgPool2d", "MaxPool2d", "Upsample", "Flatten",
           "Dropout"]


def _fold(x: torch.Tensor, step_mode: StepMode, ndim: int, name: str) -> tuple[torch.Tensor, tuple]:
    """[T, B, ...] -> [T*B, ...] for multi-step; checks the rank the layer expects per step."""
    want = ndim + (1 if step_mode == "m" else 0)
    if x.dim() != want:
        shape = "[T, B, ...]" if step_mode == "m" else "[B, ...]"
        raise ValueError(f"{name} in step_mode '{step_mode}' expects a {want}-d tensor {shape}, "
                         f"got shape {tuple(x.shape)}")
    if step_mode == "m":
        return x.flatten(0, 1), tuple(x.shape[:2])
    return x, ()


def _unfold(y: torch.Tensor, lead: tuple) -> torch.Tensor:
    return y.reshape(*lead, *y.shape[1:]) if lead else y


class _Stepped:
    step_mode: StepMode = "m"
    per_step_ndim = 4

    def _seq(self, fn, x: torch.Tensor) -> torch.Tensor:
        x2, lead = _fold(x, self.step_mode, self.per_step_ndim, type(self).__name__)
        return _unfold(fn(x2), lead)


class Conv2d(_Stepped, BackendConv2d):
    """Backend convolution over [T, B, C, H, W]; `spikes=True` when its input is binary."""

    def __init__(self, *args: Any, step_mode: StepMode = "m", **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.step_mode = step_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._seq(super().forward, x)


class Linear(_Stepped, BackendLinear):
    """Backend fully connected layer over [T, B, F]."""

    per_step_ndim = 2

    def __init__(self, *args: Any, step_mode: StepMode = "m", **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.step_mode = step_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._seq(super().forward, x)


class BatchNorm2d(_Stepped, nn.BatchNorm2d):
    """Batch norm with statistics over time and batch together (T folded into B)."""

    def __init__(self, *args: Any, step_mode: StepMode = "m", **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.step_mode = step_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._seq(super().forward, x)


class AvgPool2d(_Stepped, nn.AvgPool2d):
    def __init__(self, *args: Any, step_mode: StepMode = "m", **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.step_mode = step_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._seq(super().forward, x)


class MaxPool2d(_Stepped, nn.MaxPool2d):
    def __init__(self, *args: Any, step_mode: StepMode = "m", **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.step_mode = step_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._seq(super().forward, x)


class Upsample(_Stepped, nn.Upsample):
    def __init__(self, *args: Any, step_mode: StepMode = "m", **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.step_mode = step_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._seq(super().forward, x)


class Flatten(nn.Module):
    """Flatten everything after [T, B] (multi-step) or after [B] (single-step)."""

    def __init__(self, step_mode: StepMode = "m") -> None:
        super().__init__()
        self.step_mode = step_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2) if self.step_mode == "m" else x.flatten(1)


class Dropout(nn.Module):
    """Dropout whose mask is drawn once per sample and shared by every time step."""

    def __init__(self, p: float = 0.5, step_mode: StepMode = "m") -> None:
        super().__init__()
        self.p = p
        self.step_mode = step_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        shape = x.shape[1:] if self.step_mode == "m" else x.shape
        mask = (torch.rand(shape, device=x.device) >= self.p).to(x.dtype) / (1 - self.p)
        return x * mask

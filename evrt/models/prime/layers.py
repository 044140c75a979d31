"""PRIME layers: frozen random "device" weights, a trainable score per weight, a top-k mask.

Memristors are programmed once to random conductances (PRIME draws them N(0, 6.35) and
scales by 0.01); training never tunes a conductance, it only chooses which devices are
connected. Each layer keeps the `keep` fraction of its weights with the largest |score|
(edge-popup / supermask). The mask is a step function of the scores, so the backward pass
uses a straight-through estimator: d(mask)/d|score| = 1, i.e. the score receives the gradient
of its masked weight's slot, `sign(score) * dL/dW_eff * W`.

`effective_weight()` = weight * mask is what the backend computes with; on the crossbar it
is the matrix that gets programmed (pruned devices sit at g_min on both cells). For shipping,
`fix_mask()` replaces the scores by a stored boolean mask (the weights are redrawn from the
seed, so a trained model is a seed plus one bit per weight).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from evrt.snn import layer as snn_layer

__all__ = ["device_weights", "topk_mask", "PrunedMixin", "PrunedConv2d", "PrunedLinear",
           "pruned_layers", "export_masks", "load_masks"]

DEVICE_STD = 6.35
DEVICE_SCALE = 0.01


def device_weights(shape: tuple[int, ...], generator: torch.Generator, *, std: float = DEVICE_STD,
                   scale: float = DEVICE_SCALE, distribution: str = "normal") -> torch.Tensor:
    """Random weights like programmed RRAM conductances: N(0, std) (or U(-std, std)) times scale."""
    if distribution == "normal":
        w = torch.randn(shape, generator=generator) * std
    elif distribution == "uniform":
        w = (torch.rand(shape, generator=generator) * 2 - 1) * std
    else:
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}")
    return w * scale


class _TopK(torch.autograd.Function):
    """Binary mask of the top-k values; backward passes the gradient straight through."""

    @staticmethod
    def forward(ctx: Any, scores: torch.Tensor, k: int) -> torch.Tensor:
        flat = scores.detach().flatten()
        mask = torch.zeros_like(flat)
        mask[torch.topk(flat, k, sorted=False).indices] = 1.0
        return mask.view_as(scores)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


def topk_mask(scores: torch.Tensor, keep: float) -> torch.Tensor:
    """Mask with exactly round(keep * numel) ones at the largest |scores|.

    Straight-through: d(mask)/d|s| = 1, so d(mask)/ds = sign(s) (through the abs), which makes
    a useful connection grow |s| whatever the sign of s.
    """
    return _TopK.apply(scores.abs(), keep_count(scores.numel(), keep))


def keep_count(n: int, keep: float) -> int:
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    return max(1, int(round(keep * n)))


class PrunedMixin:
    """Shared by the pruned layers: frozen `weight`, trainable `scores`, cached eval mask."""

    weight: nn.Parameter
    keep: float

    def _init_pruned(self, generator: torch.Generator, keep: float, std: float, scale: float,
                     distribution: str) -> None:
        self.keep = float(keep)
        keep_count(self.weight.numel(), self.keep)   # validates keep
        with torch.no_grad():
            self.weight.copy_(device_weights(tuple(self.weight.shape), generator, std=std,
                                             scale=scale, distribution=distribution))
        self.weight.requires_grad_(False)
        fan_in = self.weight[0].numel()
        bound = 1.0 / math.sqrt(fan_in)
        self.scores = nn.Parameter(
            (torch.rand(self.weight.shape, generator=generator) * 2 - 1) * bound)
        self.register_buffer("fixed_mask", None)
        self._cache: tuple[int, torch.Tensor] | None = None

    def mask(self) -> torch.Tensor:
        """The current 0/1 mask (float, same shape as the weight)."""
        if self.fixed_mask is not None:
            return self.fixed_mask.to(self.weight.dtype)
        return topk_mask(self.scores, self.keep)

    def effective_weight(self) -> torch.Tensor:
        if self.fixed_mask is not None or not torch.is_grad_enabled():
            # inference: the same tensor object while nothing changed (crossbar keeps its programming)
            key = -1 if self.fixed_mask is not None else self.scores._version
            if self._cache is None or self._cache[0] != key or self._cache[1].device != self.weight.device:
                with torch.no_grad():
                    self._cache = (key, self.weight * self.mask())
            return self._cache[1]
        self._cache = None
        return self.weight * self.mask()

    def fix_mask(self, mask: torch.Tensor | None) -> None:
        """Use a stored boolean mask instead of the scores (None: back to the scores)."""
        if mask is not None:
            mask = mask.to(torch.bool).reshape(self.weight.shape).to(self.weight.device)
        self.fixed_mask = mask
        self._cache = None


class PrunedConv2d(PrunedMixin, snn_layer.Conv2d):
    """Stepped backend convolution whose weight is frozen random and masked by top-k scores."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *,
                 generator: torch.Generator, keep: float = 0.5, std: float = DEVICE_STD,
                 scale: float = DEVICE_SCALE, distribution: str = "normal", **kw: Any) -> None:
        kw.setdefault("bias", False)
        super().__init__(in_channels, out_channels, kernel_size, **kw)
        self._init_pruned(generator, keep, std, scale, distribution)


class PrunedLinear(PrunedMixin, snn_layer.Linear):
    """Stepped backend fully connected layer, frozen random weight, top-k score mask."""

    def __init__(self, in_features: int, out_features: int, *, generator: torch.Generator,
                 keep: float = 0.5, std: float = DEVICE_STD, scale: float = DEVICE_SCALE,
                 distribution: str = "normal", **kw: Any) -> None:
        kw.setdefault("bias", False)
        super().__init__(in_features, out_features, **kw)
        self._init_pruned(generator, keep, std, scale, distribution)


def pruned_layers(model: nn.Module) -> list[tuple[str, PrunedMixin]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, PrunedMixin)]


def export_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """{layer name: bool mask} of every pruned layer (what a shipped model stores)."""
    return {n: m.mask().detach().to(torch.bool).cpu() for n, m in pruned_layers(model)}


def load_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Fix every pruned layer's mask from `masks` (names must match exactly)."""
    layers = dict(pruned_layers(model))
    if set(layers) != set(masks):
        raise ValueError(f"mask names {sorted(masks)} do not match the model's {sorted(layers)}")
    for name, m in layers.items():
        m.fix_mask(masks[name])

"""Surrogate gradients: a Heaviside step forward, a smooth pseudo-derivative backward.

Each surrogate is an `torch.autograd.Function` (the maths) wrapped in a small `nn.Module`
(the parameter), so a neuron holds `surrogate=Rectangular(width=0.5)` and calls it on
`v - threshold`. Forward is always `(x >= 0).to(x.dtype)`; only the backward differs:

- `Rectangular(width)`: dH/dx ~= 1/width for |x| < width/2, else 0 (a box of unit area).
  STBP-style code that writes `abs(x) < lens` with `lens = 0.5` (and no 1/(2 lens)
  normalisation) means a box of width 1.0 and height 1.0; pass `width=1.0, height=1.0`.
- `Sigmoid(alpha)`: dH/dx ~= alpha * s(alpha x) * (1 - s(alpha x)).
- `ATan(alpha)`: dH/dx ~= alpha / 2 / (1 + (pi/2 * alpha * x)^2)   (SpikingJelly's form).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Surrogate", "Rectangular", "Sigmoid", "ATan", "get"]


def heaviside(x: torch.Tensor) -> torch.Tensor:
    return (x >= 0).to(x.dtype)


class _RectangularFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, width: float, height: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.width, ctx.height = width, height
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        box = (x.abs() < ctx.width / 2).to(grad.dtype) * ctx.height
        return grad * box, None, None


class _SigmoidFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(ctx.alpha * x)
        return grad * ctx.alpha * s * (1 - s), None


class _ATanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        return grad * (a / 2) / (1 + (math.pi / 2 * a * x) ** 2), None


class Surrogate(nn.Module):
    """Base: `spike = surrogate(v - threshold)`; subclasses pick the backward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """The pseudo-derivative at `x` (for plots and tests)."""
        x = x.detach().clone().requires_grad_(True)
        self(x).sum().backward()
        return x.grad


class Rectangular(Surrogate):
    """Box surrogate: gradient `height` (default 1/width) inside |x| < width/2."""

    def __init__(self, width: float = 0.5, height: float | None = None) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"surrogate width must be > 0, got {width}")
        self.width = float(width)
        self.height = float(height) if height is not None else 1.0 / self.width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RectangularFn.apply(x, self.width, self.height)

    def extra_repr(self) -> str:
        return f"width={self.width}, height={self.height}"


class _Steepness(Surrogate):
    """A surrogate with one steepness parameter `alpha`; subclasses name their autograd Function."""

    fn: type[torch.autograd.Function]
    default_alpha = 1.0

    def __init__(self, alpha: float | None = None) -> None:
        super().__init__()
        self.alpha = float(self.default_alpha if alpha is None else alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn.apply(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Sigmoid(_Steepness):
    """Sigmoid surrogate of steepness `alpha` (default 4; larger = closer to the true step)."""

    fn = _SigmoidFn
    default_alpha = 4.0


class ATan(_Steepness):
    """Arctangent surrogate of steepness `alpha` (default 2); peak gradient alpha/2 at x = 0."""

    fn = _ATanFn
    default_alpha = 2.0


_BY_NAME = {"rectangular": Rectangular, "rect": Rectangular, "sigmoid": Sigmoid, "atan": ATan}


def get(spec: str | Surrogate, **kw: float) -> Surrogate:
    """A surrogate from a name ('rectangular', 'sigmoid', 'atan') and its parameter, or as given."""
    if isinstance(spec, Surrogate):
        return spec
    try:
        return _BY_NAME[spec.lower()](**kw)
    except KeyError:
        raise ValueError(f"unknown surrogate {spec!r}; expected one of {sorted(_BY_NAME)}") from None

"""Where torch work runs: the `device` setting of training tables and model nodes.

Values: "auto" (CUDA when `torch.cuda.is_available()`, else the CPU), "cpu", "cuda" or
"cuda:N". `resolve_device(value, key)` checks the value and returns a `torch.device`; a
malformed value, or a CUDA device this machine does not have, raises `ConfigError` naming
`key`. `check_device` does the same check without asking torch (for node constructors,
which must not import torch). The CUDA build of torch is the user's choice (see README).
"""

from __future__ import annotations

import re
from typing import Any

from evrt.errors import ConfigError

__all__ = ["DEVICE_VALUES", "check_device", "resolve_device", "model_device", "to_cpu"]

DEVICE_VALUES = '"auto", "cpu", "cuda" or "cuda:N"'
_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device(value: Any, key: str = "device") -> str:
    """The value as a string if it is one of DEVICE_VALUES (torch is not imported)."""
    if not isinstance(value, str) or not _PATTERN.match(value):
        raise ConfigError(f"device must be {DEVICE_VALUES}, got {value!r}", key=key)
    return value


def resolve_device(value: Any, key: str = "device") -> Any:
    """`torch.device` for a device setting; "auto" picks CUDA when torch sees a GPU."""
    import torch

    value = check_device(value, key)
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(value)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {value!r} asked for, but this torch ({torch.__version__}) "
                              "sees no CUDA device; use \"auto\" or \"cpu\", or install a CUDA "
                              "build of torch (see README)", key=key)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {value!r} asked for, but only "
                              f"{torch.cuda.device_count()} CUDA device(s) exist", key=key)
    return device


def model_device(model: Any) -> Any:
    """The device of a module's first parameter or buffer (the CPU for an empty module)."""
    import torch

    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def to_cpu(obj: Any) -> Any:
    """A copy of nested dicts / lists / tuples with every tensor moved to the CPU (what a
    checkpoint stores, so that it loads on machines without the training GPU)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return type(obj)((k, to_cpu(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj

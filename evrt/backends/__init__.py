"""Where synaptic matrix work runs: `digital` (torch) or `crossbar` (simulated memristor arrays).

Public API (details in each module's docstring):
    make_backend(name, **params) / backend_from_spec(spec)   -> Backend   (factory.py)
    CrossbarConfig, CrossbarBackend, DigitalBackend           (config.py, crossbar.py, digital.py)
    BackendLinear, BackendConv2d, use_backend                 (base.py: layers that call a backend)
    CostTable, energy_report, count, track_neurons            (energy.py: projected energy)
    run_with_early_stop, EarlyStopController, ConfidencePolicy, MarginPolicy, EntropyPolicy,
    ConvergencePolicy                                         (early_stop.py)

Names load on first use, so that importing the package (the node registry reads `NODES`)
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

NODES: dict[str, str] = {}

_EXPORTS = {
    "Backend": "base", "BackendConv2d": "base", "BackendLinear": "base", "use_backend": "base",
    "CrossbarConfig": "config", "CrossbarBackend": "crossbar", "DigitalBackend": "digital",
    "BACKENDS": "factory", "backend_from_spec": "factory", "make_backend": "factory",
    "CostTable": "energy", "EnergyReport": "energy", "count": "energy",
    "energy_report": "energy", "track_neurons": "energy",
    "ConfidencePolicy": "early_stop", "ConvergencePolicy": "early_stop",
    "EarlyStopController": "early_stop", "EarlyStopResult": "early_stop",
    "EntropyPolicy": "early_stop", "MarginPolicy": "early_stop",
    "run_with_early_stop": "early_stop",
}

__all__ = ["NODES", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'evrt.backends' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"evrt.backends.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

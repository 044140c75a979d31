"""Where synaptic matrix work runs: `digital` (torch) or `crossbar` (simulated memristor arrays).

Public API (details in each module's docstring):
    make_backend(name, **params) / backend_from_spec(spec)   -> Backend   (factory.py)
    CrossbarConfig, CrossbarBackend, DigitalBackend           (config.py, crossbar.py, digital.py)
    BackendLinear, BackendConv2d, use_backend                 (base.py: layers that call a backend)
    CostTable, energy_report, count, track_neurons            (energy.py: projected energy)
    run_with_early_stop, EarlyStopController, ConfidencePolicy, MarginPolicy, EntropyPolicy,
    ConvergencePolicy                                         (early_stop.py)
"""

from evrt.backends.base import Backend, BackendConv2d, BackendLinear, use_backend
from evrt.backends.config import CrossbarConfig
from evrt.backends.crossbar import CrossbarBackend
from evrt.backends.digital import DigitalBackend
from evrt.backends.early_stop import (
    ConfidencePolicy,
    ConvergencePolicy,
    EarlyStopController,
    EarlyStopResult,
    EntropyPolicy,
    MarginPolicy,
    run_with_early_stop,
)
from evrt.backends.energy import CostTable, EnergyReport, count, energy_report, track_neurons
from evrt.backends.factory import BACKENDS, backend_from_spec, make_backend

NODES: dict[str, str] = {}

__all__ = ["Backend", "BackendConv2d", "BackendLinear", "use_backend", "CrossbarConfig",
           "CrossbarBackend", "DigitalBackend", "BACKENDS", "backend_from_spec", "make_backend",
           "CostTable", "EnergyReport", "count", "energy_report", "track_neurons",
           "ConfidencePolicy", "ConvergencePolicy", "EarlyStopController", "EarlyStopResult",
           "EntropyPolicy", "MarginPolicy", "run_with_early_stop", "NODES"]

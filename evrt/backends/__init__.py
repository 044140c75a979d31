"""Where synaptic matrix work runs: `digital` (torch) or `crossbar` (simulated memristor arrays).

Public API (see each module):
    make_backend(name, **params) / backend_from_spec(spec)   -> Backend
    CrossbarConfig, CrossbarBackend, DigitalBackend
    BackendLinear, BackendConv2d, use_backend                 (layers that call a backend)
    energy.CostTable, energy.energy_report                    (projected energy)
    early_stop.run_with_early_stop, early_stop.EarlyStopController and the policies
"""

from evrt.backends.base import Backend, BackendConv2d, BackendLinear, use_backend
from evrt.backends.config import CrossbarConfig
from evrt.backends.factory import BACKENDS, backend_from_spec, make_backend

NODES: dict[str, str] = {}

__all__ = ["Backend", "BackendConv2d", "BackendLinear", "use_backend", "CrossbarConfig",
           "BACKENDS", "backend_from_spec", "make_backend", "NODES"]

"""Backends by name, so that a model node picks its backend (and device parameters) in TOML.

    [nodes.classifier]
    type = "prime"
    backend = { name = "crossbar", adc_bits = 8, read_noise = 0.02 }

A node passes that value to `backend_from_spec`; `make_backend("crossbar", adc_bits=8)` is the
Python form. Unknown names and unknown parameters raise `ConfigError` naming the key.
"""

from __future__ import annotations

from typing import Any

from evrt.backends.base import Backend
from evrt.errors import ConfigError

BACKENDS = ("digital", "crossbar")


def make_backend(name: str = "digital", **params: Any) -> Backend:
    """A fresh backend: `digital` (no parameters) or `crossbar` (CrossbarConfig fields)."""
    if name == "digital":
        from evrt.backends.digital import DigitalBackend

        if params:
            raise ConfigError(f"the digital backend takes no parameters, got {sorted(params)}",
                              key=next(iter(params)))
        return DigitalBackend()
    if name == "crossbar":
        from evrt.backends.config import CrossbarConfig
        from evrt.backends.crossbar import CrossbarBackend

        return CrossbarBackend(CrossbarConfig.from_dict(params))
    raise ConfigError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})", key="backend")


def backend_from_spec(spec: str | dict[str, Any] | Backend | None) -> Backend:
    """`"digital"`, `{name = "crossbar", ...}`, an existing Backend, or None (digital)."""
    if spec is None:
        return make_backend("digital")
    if isinstance(spec, Backend):
        return spec
    if isinstance(spec, str):
        return make_backend(spec)
    if isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError("a backend table needs name = \"digital\" or \"crossbar\"",
                              key="backend.name")
        return make_backend(name, **params)
    raise ConfigError(f"expected a backend name or table, got {type(spec).__name__}", key="backend")

"""Crossbar device and array parameters, validated from TOML-style dicts.

Units: conductances in microsiemens (uS), time in seconds. A value of 0 for `levels`,
`dac_bits` or `adc_bits` means "ideal" (unlimited levels, no quantisation), so that a
config with every non-ideality at its default reproduces the digital result.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from evrt.errors import ConfigError


@dataclass(frozen=True)
class CrossbarConfig:
    """Everything the crossbar simulator needs; every field can be set from TOML.

    Tiles default to 512 rows x 256 differential weight columns = 512 x 512 one-bit cells
    = 262,144 cells, the size of the 256 Kb macro in PRIME (two cells per signed weight).
    """

    g_min: float = 1.0            # uS, high-resistance state (both cells of a zero weight sit here)
    g_max: float = 40.0           # uS, low-resistance state (RRAM references around 40 uS)
    levels: int = 0               # programmable conductance levels per cell (0 = unlimited)
    prog_noise: float = 0.0       # sigma of programming noise, fraction of g_max, drawn once per write
    read_noise: float = 0.0       # sigma of read noise, fraction of each cell's conductance, every read
    stuck_on_rate: float = 0.0    # fraction of cells stuck at g_max
    stuck_off_rate: float = 0.0   # fraction of cells stuck at g_min
    drift_nu: float = 0.0         # conductance drift exponent: G(t) = G0 * (t / t0) ** -nu
    drift_nu_std: float = 0.0     # device-to-device spread of nu (drawn once per cell)
    drift_t0: float = 1.0         # s, time after programming at which G = G0
    tile_rows: int = 512          # word lines per array
    tile_cols: int = 256          # differential weight columns per array (2 bit lines each)
    dac_bits: int = 0             # input DAC resolution for non-spike inputs, signed (0 = ideal)
    dac_range: float = 0.0        # DAC full scale (|x|); 0 = per-read max |x| (dynamic scaling)
    adc_bits: int = 0             # ADC resolution per column, signed (0 = ideal)
    adc_range: float = 0.0        # ADC full scale in uS*V_read units; 0 = per-tile worst case
    check_spikes: bool = True     # verify that inputs marked as spikes are binary
    seed: int = 0                 # seed of the device noise generators

    def __post_init__(self) -> None:
        def bad(key: str, expected: str) -> ConfigError:
            return ConfigError(f"expected {expected}, got {getattr(self, key)!r}", key=key)

        for f in fields(self):
            value = getattr(self, f.name)
            want = f.type if isinstance(f.type, type) else {"float": float, "int": int,
                                                            "bool": bool}[f.type]
            ok = (isinstance(value, bool) if want is bool else
                  isinstance(value, int) and not isinstance(value, bool) if want is int else
                  isinstance(value, (int, float)) and not isinstance(value, bool))
            if not ok:
                raise ConfigError(f"expected {want.__name__}, got {type(value).__name__} {value!r}",
                                  key=f.name)
            if want is float and not math.isfinite(value):
                raise bad(f.name, "a finite number")
        if not 0 <= self.g_min < self.g_max:
            raise bad("g_max", f"0 <= g_min < g_max (g_min = {self.g_min})")
        if self.levels < 0 or self.levels == 1:
            raise bad("levels", "0 (unlimited) or >= 2")
        for key in ("prog_noise", "read_noise", "drift_nu", "drift_nu_std", "dac_range",
                    "adc_range"):
            if getattr(self, key) < 0:
                raise bad(key, "a value >= 0")
        for key in ("stuck_on_rate", "stuck_off_rate"):
            if not 0 <= getattr(self, key) <= 1:
                raise bad(key, "a rate in [0, 1]")
        if self.stuck_on_rate + self.stuck_off_rate > 1:
            raise bad("stuck_off_rate", "stuck_on_rate + stuck_off_rate <= 1")
        if self.drift_t0 <= 0:
            raise bad("drift_t0", "a time > 0 s")
        for key in ("tile_rows", "tile_cols"):
            if getattr(self, key) < 1:
                raise bad(key, "an array dimension >= 1")
        for key in ("dac_bits", "adc_bits"):
            v = getattr(self, key)
            if v != 0 and not 2 <= v <= 24:
                raise bad(key, "0 (ideal) or a signed converter of 2..24 bits")

    @classmethod
    def from_dict(cls, params: dict[str, Any] | None = None, **more: Any) -> CrossbarConfig:
        """Build from a TOML table; an unknown key is a ConfigError naming the key."""
        merged = dict(params or {})
        merged.update(more)
        known = [f.name for f in fields(cls)]
        for key in merged:
            if key not in known:
                raise ConfigError(f"unknown crossbar parameter (known: {', '.join(known)})",
                                  key=key)
        values = {k: (float(v) if isinstance(v, int) and not isinstance(v, bool)
                      and _field_type(cls, k) is float else v) for k, v in merged.items()}
        return cls(**values)

    def replace(self, **changes: Any) -> CrossbarConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def ideal(self) -> bool:
        """True when every non-ideality is off (the crossbar then equals the digital result)."""
        return (self.levels == 0 and self.prog_noise == 0 and self.read_noise == 0
                and self.stuck_on_rate == 0 and self.stuck_off_rate == 0 and self.drift_nu == 0
                and self.drift_nu_std == 0 and self.dac_bits == 0 and self.adc_bits == 0)


def _field_type(cls: type, name: str) -> type:
    for f in fields(cls):
        if f.name == name:
            t = f.type
            return t if isinstance(t, type) else {"float": float, "int": int, "bool": bool}[t]
    raise KeyError(name)

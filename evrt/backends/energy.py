"""Projected energy per inference from the work a backend actually ran, against a digital baseline.

Counters come from `CrossbarBackend` / `DigitalBackend` (`backend.counters`): array reads
(`xbar_cells_read`, `xbar_cols_read`, `xbar_rows_driven`, `xbar_tile_reads`), converter use
(`adc_conversions`, `dac_conversions`, `pulses`), digital periphery (`acc_adds`, `scale_mults`,
`bias_adds`) and the equivalent digital work (`macs`, `macs_spiking`, `synops`). Models add
`neuron_updates` and `timesteps` with `count(backend, ...)` or `track_neurons(...)`; the
early-stop controller adds `timesteps` itself.

Energies use `costs.toml` (every number with its source). Both figures are projections from
a cost table, never measurements: `EnergyReport.text()` says so.

- crossbar = cells read x cell energy + bit lines x S&H + ADC conversions x ADC(bits) +
  DAC bit-pulses x 1-bit DAC + (tile accumulation adds, bias adds) x FP32 add +
  rescaling x FP32 mult + neuron updates x LIF update.
- digital (event-driven) = dense MACs of non-spike layers x FP32 MAC + synaptic operations of
  spike layers x FP32 add + bias adds x FP32 add + neuron updates x LIF update.
- digital (dense) = every MAC x FP32 MAC + bias + neuron updates (a non-event-driven design).
Weight memory traffic is not charged to either design (flatters the digital baseline).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from evrt.backends.base import Backend
from evrt.errors import ConfigError

COSTS_PATH = Path(__file__).with_name("costs.toml")

DIGITAL_KEYS = ("fp32_mac_pj", "fp32_add_pj", "fp32_mult_pj", "int8_mac_pj", "neuron_update_pj")
CROSSBAR_KEYS = ("cell_read_pj", "column_read_pj", "adc_pj_at_ref_bits", "adc_ref_bits",
                 "adc_bits_if_ideal", "dac_1bit_pj", "dac_bits_if_ideal", "read_cycle_ns",
                 "macro_tops_per_w", "adc_scaling")


@dataclass(frozen=True)
class CostTable:
    """Cost values (`values[section.key]`) and the source of each (`sources[section.key]`)."""

    values: dict[str, float]
    sources: dict[str, str]

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    @classmethod
    def load(cls, path: str | Path | None = None) -> CostTable:
        path = Path(path) if path is not None else COSTS_PATH
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read cost table {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"cost table {path} is not valid TOML: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostTable:
        """Validate: known sections and keys only, each `{value = number, source = "..."}`."""
        values: dict[str, float] = {}
        sources: dict[str, str] = {}
        wanted = {"digital": DIGITAL_KEYS, "crossbar": CROSSBAR_KEYS}
        for section, keys in data.items():
            if section not in wanted:
                raise ConfigError(f"unknown cost section (known: {', '.join(wanted)})", key=section)
            for key, entry in keys.items():
                name = f"{section}.{key}"
                if key not in wanted[section]:
                    raise ConfigError(f"unknown cost (known: {', '.join(wanted[section])})", key=name)
                if not isinstance(entry, dict) or not isinstance(entry.get("source"), str) \
                        or not entry["source"].strip():
                    raise ConfigError("every cost needs {value = number, source = \"citation\"}",
                                      key=name)
                value = entry.get("value")
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ConfigError(f"expected a number >= 0, got {value!r}", key=name)
                values[name] = float(value)
                sources[name] = entry["source"]
        for section, keys in wanted.items():
            for key in keys:
                if f"{section}.{key}" not in values:
                    raise ConfigError("missing cost", key=f"{section}.{key}")
        return cls(values, sources)

    def adc_pj(self, bits: int) -> float:
        """Energy of one conversion at `bits` (0 = ideal, charged at `adc_bits_if_ideal`)."""
        bits = bits or int(self["crossbar.adc_bits_if_ideal"])
        return self["crossbar.adc_pj_at_ref_bits"] * self["crossbar.adc_scaling"] ** (
            bits - self["crossbar.adc_ref_bits"])


def count(backend: Backend, **counts: int) -> None:
    """Add model-side work to a backend's counters, e.g. `count(b, neuron_updates=n, timesteps=1)`."""
    for key, value in counts.items():
        backend.counters[key] += int(value)


def track_neurons(model: nn.Module, backend: Backend, kinds: tuple[type, ...] | None = None,
                  name_contains: Iterable[str] = ("LIF", "IF", "Neuron")) -> list[Any]:
    """Count one neuron update per output element of every neuron module, on every forward.

    Neuron modules are instances of `kinds` or, when None, modules whose class name contains
    one of `name_contains`. Returns the hook handles (call `.remove()` to stop counting).
    """
    handles = []

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        first = output[0] if isinstance(output, (tuple, list)) else output
        backend.counters["neuron_updates"] += int(first.numel())

    for module in model.modules():
        cls_name = type(module).__name__
        hit = isinstance(module, kinds) if kinds is not None else any(
            s in cls_name for s in name_contains)
        if hit:
            handles.append(module.register_forward_hook(hook))
    return handles


@dataclass
class EnergyReport:
    """Projected energy for `inferences` inferences; breakdowns in pJ (totals, not per inference)."""

    inferences: int
    crossbar_pj: dict[str, float] | None
    digital_pj: dict[str, float]
    digital_dense_pj: dict[str, float]
    crossbar_latency_ns: float | None
    macro_crosscheck_pj: float | None
    counters: dict[str, int] = field(default_factory=dict)
    adc_bits: int = 0
    dac_bits: int = 0

    @property
    def crossbar_per_inference_pj(self) -> float | None:
        return None if self.crossbar_pj is None else sum(self.crossbar_pj.values()) / self.inferences

    @property
    def digital_per_inference_pj(self) -> float:
        return sum(self.digital_pj.values()) / self.inferences

    @property
    def digital_dense_per_inference_pj(self) -> float:
        return sum(self.digital_dense_pj.values()) / self.inferences

    @property
    def ratio(self) -> float | None:
        """Projected energy efficiency gain: digital (event-driven) / crossbar."""
        xb = self.crossbar_per_inference_pj
        return None if not xb else self.digital_per_inference_pj / xb

    @property
    def ratio_dense(self) -> float | None:
        xb = self.crossbar_per_inference_pj
        return None if not xb else self.digital_dense_per_inference_pj / xb

    def to_dict(self) -> dict[str, Any]:
        return {"label": "projected", "inferences": self.inferences,
                "crossbar_pj_per_inference": self.crossbar_per_inference_pj,
                "digital_pj_per_inference": self.digital_per_inference_pj,
                "digital_dense_pj_per_inference": self.digital_dense_per_inference_pj,
                "ratio_digital_over_crossbar": self.ratio,
                "ratio_dense_digital_over_crossbar": self.ratio_dense,
                "crossbar_latency_ns_per_inference": self.crossbar_latency_ns,
                "crossbar_breakdown_pj": self.crossbar_pj, "digital_breakdown_pj": self.digital_pj,
                "macro_crosscheck_pj_per_inference": self.macro_crosscheck_pj,
                "adc_bits": self.adc_bits, "dac_bits": self.dac_bits, "counters": self.counters}

    def text(self) -> str:
        n = self.inferences
        lines = [f"PROJECTED energy per inference (cost table, not a measurement; {n} inferences)"]
        if self.crossbar_pj is not None:
            lines.append(f"  crossbar            {self.crossbar_per_inference_pj / 1e3:12.3f} nJ  "
                         + ", ".join(f"{k} {v / n / 1e3:.3f}" for k, v in self.crossbar_pj.items()))
        lines.append(f"  digital event-driven{self.digital_per_inference_pj / 1e3:12.3f} nJ  "
                     + ", ".join(f"{k} {v / n / 1e3:.3f}" for k, v in self.digital_pj.items()))
        lines.append(f"  digital dense       {self.digital_dense_per_inference_pj / 1e3:12.3f} nJ")
        if self.ratio is not None:
            lines.append(f"  projected ratio digital/crossbar: {self.ratio:.1f}x (event-driven), "
                         f"{self.ratio_dense:.1f}x (dense)")
        if self.crossbar_latency_ns is not None:
            lines.append(f"  projected crossbar latency: {self.crossbar_latency_ns / 1e3:.2f} us "
                         "per inference (read cycles, layers in sequence, tiles in parallel)")
        if self.macro_crosscheck_pj is not None:
            lines.append(f"  macro-level cross-check (56.67 TOPS/W on all MACs): "
                         f"{self.macro_crosscheck_pj / 1e3:.3f} nJ")
        return "\n".join(lines)


def energy_report(source: Backend | Mapping[str, int], *, inferences: int,
                  costs: CostTable | None = None, adc_bits: int | None = None,
                  dac_bits: int | None = None) -> EnergyReport:
    """Projected energy of the work counted in `source` (a backend or its counters).

    `inferences` is how many inputs that work served (e.g. batch size x number of batches).
    Crossbar figures need crossbar counters; from a digital run only the baseline is reported.
    Converter bits default to the crossbar backend's config (0 = ideal, charged per costs.toml).
    """
    if inferences < 1:
        raise ValueError("inferences must be >= 1")
    costs = costs or CostTable.load()
    counters: Mapping[str, int] = source.counters if isinstance(source, Backend) else source
    config = getattr(source, "config", None)
    if adc_bits is None:
        adc_bits = getattr(config, "adc_bits", 0)
    if dac_bits is None:
        dac_bits = getattr(config, "dac_bits", 0)
    c = Counter(counters)
    add, mult, mac = costs["digital.fp32_add_pj"], costs["digital.fp32_mult_pj"], costs["digital.fp32_mac_pj"]
    neurons = c["neuron_updates"] * costs["digital.neuron_update_pj"]
    bias = c["bias_adds"] * add
    digital = {"macs": (c["macs"] - c["macs_spiking"]) * mac, "synops": c["synops"] * add,
               "bias": bias, "neurons": neurons}
    dense = {"macs": c["macs"] * mac, "bias": bias, "neurons": neurons}
    crossbar = latency = macro = None
    if c["xbar_read_vectors"]:
        dac_pulses = c["dac_conversions"] * (dac_bits or int(costs["crossbar.dac_bits_if_ideal"]))
        crossbar = {
            "array": c["xbar_cells_read"] * costs["crossbar.cell_read_pj"]
            + c["xbar_cols_read"] * costs["crossbar.column_read_pj"],
            "adc": c["adc_conversions"] * costs.adc_pj(adc_bits),
            "dac": (dac_pulses + c["pulses"]) * costs["crossbar.dac_1bit_pj"],
            "periphery": (c["acc_adds"] + c["bias_adds"]) * add + c["scale_mults"] * mult,
            "neurons": neurons,
        }
        latency = c["xbar_read_vectors"] * costs["crossbar.read_cycle_ns"] / inferences
        macro = 2 * c["macs"] / (costs["crossbar.macro_tops_per_w"] * 1e12) * 1e12 / inferences
    return EnergyReport(inferences, crossbar, digital, dense, latency, macro, dict(c),
                        adc_bits, dac_bits)

"""A simulated memristive crossbar: signed weights on differential conductance pairs, tiled arrays.

Mapping (per layer, done once when the weight is written and again whenever it changes):

- the weight matrix W^T (K inputs x N outputs) is scaled by w_max = max|W|; each weight u = w/w_max
  in [-1, 1] becomes a pair G+ = g_min + (g_max - g_min) * max(u, 0), G- = g_min + ... * max(-u, 0),
  with |u| rounded to `levels` programmable levels;
- programming noise N(0, (prog_noise * g_max)^2) is added to every cell once, conductances are
  clipped at 0, then stuck-at-on cells (g_max) and stuck-at-off cells (g_min) overwrite the
  value (the fault map belongs to the array and is kept across re-programming);
- the matrix is cut into tiles of `tile_rows` word lines x `tile_cols` differential columns
  (2 bit lines each); the last row and column tiles may be partly used.

A read (one input vector per batch row, or per output position for a convolution lowered with
im2col) drives row i of every tile with a pulse of amplitude x_i in [-1, 1] (spike inputs are
binary pulses; other inputs pass a DAC with optional fixed range and `dac_bits`). Each tile's
differential column currents I_j = sum_i x_i (G+_ij - G-_ij) get read noise (every cell's
conductance varies by N(0, (read_noise * G)^2) on every read; the resulting current noise is
Gaussian with variance read_noise^2 * sum_i x_i^2 (G+_ij^2 + G-_ij^2), sampled exactly in one
draw per column), then an ADC of `adc_bits` over [-range, range]. The digital periphery sums
the tiles' partial results, rescales and adds the bias. Conductance drift G(t) = G0 (t/t0)^-nu
follows the backend clock (`advance(seconds)`).

Everything is batched torch on the device of the tensors (CPU or CUDA). The crossbar is an
inference model: no gradient flows to the weights (conductances are written, not trained).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from evrt.backends.base import Backend
from evrt.backends.config import CrossbarConfig
from evrt.errors import EvrtError


class CrossbarInputError(EvrtError, ValueError):
    """An input does not fit the array (for example a layer marked `spikes` got non-binary values)."""


@dataclass
class ProgrammedLayer:
    """The state of one weight matrix written into crossbar tiles."""

    weight: torch.Tensor        # the (N, K) weight that was written, kept to detect changes
    weight_ref: torch.Tensor | None  # the tensor object passed in (held, so its memory is not
    weight_version: int              # reused) and its version: the fast "unchanged" check
    g_pos: torch.Tensor         # (K, N) programmed conductances in uS (row r*tile_rows+i of
    g_neg: torch.Tensor         #  tile r; cells beyond K or N in the last tiles are unused)
    stuck_on: torch.Tensor | None   # (2, K, N) bool fault maps (a property of the array)
    stuck_off: torch.Tensor | None
    nu: torch.Tensor | None     # (2, K, N) drift exponents
    w_scale: float              # weight units per (uS * unit pulse)
    adc_range: torch.Tensor     # (n_row_tiles, 1, N) ADC full scale of each column's tile
    t_programmed: float
    k: int
    n: int
    n_row_tiles: int
    n_col_tiles: int
    g_diff: torch.Tensor | None = None   # cache: drifted G+ - G- at time `g_time`
    g_sq: torch.Tensor | None = None     # cache: drifted G+^2 + G-^2 (for read noise)
    g_time: float = float("nan")

    def to(self, device: torch.device) -> ProgrammedLayer:
        moved = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key, value in moved.items():
            if isinstance(value, torch.Tensor):
                moved[key] = value.to(device)
        moved["weight_ref"] = None
        return ProgrammedLayer(**moved)


class CrossbarBackend(Backend):
    """Runs `linear` / `conv2d` on simulated memristor tiles (see module docstring)."""

    name = "crossbar"

    def __init__(self, config: CrossbarConfig | None = None, **params: Any) -> None:
        super().__init__()
        if config is None:
            config = CrossbarConfig.from_dict(params)
        elif params:
            config = config.replace(**params)
        self.config = config
        self.layers: dict[str, ProgrammedLayer] = {}
        self.layer_counters: dict[str, Any] = {}
        self.time_s = 0.0
        self._generators: dict[str, torch.Generator] = {}

    # --- clock and state -------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move the device clock forward (drift depends on the time since programming)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.time_s += float(seconds)

    def forget(self, layer: str | None = None) -> None:
        """Drop programmed state (all layers or one); the next read programs again, new faults too."""
        if layer is None:
            self.layers.clear()
        else:
            self.layers.pop(layer, None)

    def conductances(self, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Programmed (G+, G-) of `layer` as (K, N) matrices in uS, before drift."""
        p = self.layers[layer]
        return p.g_pos, p.g_neg

    def arrays_used(self) -> int:
        """Number of tiles (arrays of tile_rows x 2*tile_cols cells) holding programmed layers."""
        return sum(p.n_row_tiles * p.n_col_tiles for p in self.layers.values())

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.config.seed)
            self._generators[key] = gen
        return gen

    def _count(self, layer: str, **counts: int) -> None:
        per_layer = self.layer_counters.setdefault(layer, type(self.counters)())
        for key, value in counts.items():
            value = int(value)
            if value:
                self.counters[key] += value
                per_layer[key] += value

    # --- programming -----------------------------------------------------------------------
    def _program(self, layer: str, weight: torch.Tensor) -> ProgrammedLayer:
        cfg = self.config
        w = weight.detach()
        n, k = w.shape
        device, dtype = w.device, w.dtype if w.dtype.is_floating_point else torch.float32
        gen = self._generator(device)
        rows, cols = cfg.tile_rows, cfg.tile_cols
        n_rt, n_ct = math.ceil(k / rows), math.ceil(n / cols)
        w_max = float(w.abs().max().item()) if w.numel() else 0.0
        if w_max == 0.0:
            w_max = 1.0
        u = w.t().to(dtype) / w_max                                  # (K, N) in [-1, 1]
        mag = u.abs()
        if cfg.levels:
            mag = torch.round(mag * (cfg.levels - 1)) / (cfg.levels - 1)
        dg = cfg.g_max - cfg.g_min
        zero = torch.zeros_like(mag)
        g = cfg.g_min + dg * torch.stack([torch.where(u > 0, mag, zero),
                                          torch.where(u < 0, mag, zero)])   # (2, K, N)
        if cfg.prog_noise:
            noise = torch.randn(g.shape, generator=gen, device=device, dtype=dtype)
            g = (g + cfg.prog_noise * cfg.g_max * noise).clamp_(min=0.0)
        old = self.layers.get(layer)
        stuck_on = stuck_off = None
        if cfg.stuck_on_rate or cfg.stuck_off_rate:
            if old is not None and old.stuck_on is not None and old.stuck_on.shape == g.shape:
                stuck_on, stuck_off = old.stuck_on.to(device), old.stuck_off.to(device)
            else:
                draw = torch.rand(g.shape, generator=gen, device=device)
                stuck_on = draw < cfg.stuck_on_rate
                stuck_off = (draw >= cfg.stuck_on_rate) & (draw < cfg.stuck_on_rate + cfg.stuck_off_rate)
            g = torch.where(stuck_on, torch.full_like(g, cfg.g_max), g)
            g = torch.where(stuck_off, torch.full_like(g, cfg.g_min), g)
        nu = None
        if cfg.drift_nu or cfg.drift_nu_std:
            nu = cfg.drift_nu + cfg.drift_nu_std * torch.randn(g.shape, generator=gen,
                                                              device=device, dtype=dtype)
            nu = nu.clamp_(min=0.0)
        if cfg.adc_range > 0:
            adc_range = torch.full((n_rt, 1, n), cfg.adc_range, dtype=dtype, device=device)
        else:  # calibrate: worst-case |current| of any column of each tile for pulses in [-1, 1]
            col_sum = F.pad((g[0] - g[1]).abs(), (0, 0, 0, n_rt * rows - k))
            col_sum = col_sum.view(n_rt, rows, n).sum(dim=1)           # (n_rt, N)
            padded = F.pad(col_sum, (0, n_ct * cols - n))
            tile_max = padded.view(n_rt, n_ct, cols).amax(dim=2)       # (n_rt, n_ct)
            tile_max = torch.where(tile_max > 0, tile_max, torch.ones_like(tile_max))
            adc_range = tile_max.repeat_interleave(cols, dim=1)[:, :n].unsqueeze(1)
        prog = ProgrammedLayer(
            weight=w.clone(), weight_ref=weight, weight_version=weight._version, g_pos=g[0].contiguous(),
            g_neg=g[1].contiguous(), stuck_on=stuck_on, stuck_off=stuck_off, nu=nu,
            w_scale=w_max / dg, adc_range=adc_range, t_programmed=self.time_s, k=k, n=n,
            n_row_tiles=n_rt, n_col_tiles=n_ct)
        self.layers[layer] = prog
        self._count(layer, xbar_programmings=1, xbar_cells_programmed=2 * k * n)
        return prog

    def programmed(self, layer: str, weight: torch.Tensor) -> ProgrammedLayer:
        """The programmed state for `weight`, written now if the layer is new or its weight changed."""
        prog = self.layers.get(layer)
        if prog is not None:
            if prog.weight.device != weight.device:
                prog = self.layers[layer] = prog.to(weight.device)
            if prog.weight_ref is weight and prog.weight_version == weight._version:
                return prog
            if prog.weight.shape == weight.shape and prog.weight.dtype == weight.dtype and \
                    torch.equal(prog.weight, weight.detach()):
                prog.weight_ref, prog.weight_version = weight, weight._version
                return prog
        return self._program(layer, weight)

    def _read_matrices(self, prog: ProgrammedLayer, need_sq: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        cfg = self.config
        if prog.g_diff is None or (prog.nu is not None and prog.g_time != self.time_s) or \
                (need_sq and prog.g_sq is None):
            g_pos, g_neg = prog.g_pos, prog.g_neg
            if prog.nu is not None:
                elapsed = max(self.time_s - prog.t_programmed, cfg.drift_t0)
                ratio = torch.tensor(elapsed / cfg.drift_t0, dtype=g_pos.dtype, device=g_pos.device)
                g_pos = g_pos * ratio.pow(-prog.nu[0])
                g_neg = g_neg * ratio.pow(-prog.nu[1])
            prog.g_diff = g_pos - g_neg
            prog.g_sq = g_pos * g_pos + g_neg * g_neg if need_sq else None
            prog.g_time = self.time_s
        return prog.g_diff, prog.g_sq

    # --- reads -----------------------------------------------------------------------------
    def _check_spikes(self, x: torch.Tensor, layer: str) -> None:
        """Count input spikes; with `check_spikes`, refuse non-binary input first."""
        if self.config.check_spikes and bool((x * (x - 1)).any()):
            raise CrossbarInputError(
                f"layer '{layer}' is marked spikes=True but got non-binary input "
                f"(min {float(x.min()):g}, max {float(x.max()):g}); mark it spikes=False to use the DAC")
        self._count(layer, spikes_in=int(x.sum(dtype=torch.float64).item()))

    def matmul(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *,
               layer: str, spikes: bool) -> torch.Tensor:
        """y = x @ weight.T + bias on the arrays, for x of shape (M, K): M reads of K rows."""
        out = self.read(x.t().contiguous().unsqueeze(0), weight, bias, layer=layer, spikes=spikes)
        return out[0].t().contiguous()

    def read(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *,
             layer: str, spikes: bool) -> torch.Tensor:
        """Array reads for x of shape (B, K, L): B*L input vectors of K rows -> (B, N, L).

        This layout is what `unfold` gives for a convolution, so no transpose is needed.
        """
        cfg = self.config
        prog = self.programmed(layer, weight)
        batch, k, length = x.shape
        m, n = batch * length, prog.n
        dtype = prog.g_pos.dtype
        x = x.to(dtype)
        # DAC: pulses in [-1, 1]. `scale` maps them back; with an ideal DAC, no ADC and no read
        # noise the normalisation cancels exactly and is skipped.
        scale = None
        if not spikes:
            if cfg.dac_range > 0:
                scale = torch.tensor(cfg.dac_range, dtype=dtype, device=x.device)
                x = (x / scale).clamp(-1.0, 1.0)
            elif cfg.dac_bits or cfg.adc_bits or cfg.read_noise:
                scale = x.abs().amax(dim=1, keepdim=True)
                scale = torch.where(scale > 0, scale, torch.ones_like(scale))   # (B, 1, L)
                x = x / scale
            if cfg.dac_bits:
                q = 2 ** (cfg.dac_bits - 1) - 1
                x = torch.round(x * q) / q
        g_diff, g_sq = self._read_matrices(prog, need_sq=cfg.read_noise > 0)
        g_diff_t = g_diff.t()
        out = None
        driven = []
        rows = cfg.tile_rows
        ones = torch.ones(1, min(rows, k), dtype=dtype, device=x.device)
        for tile in range(prog.n_row_tiles):
            lo, hi = tile * rows, min((tile + 1) * rows, k)
            xs = x[:, lo:hi, :]
            current = torch.matmul(g_diff_t[:, lo:hi], xs)                    # (B, N, L)
            if cfg.read_noise:
                var = torch.matmul(g_sq[lo:hi].t(), xs * xs)
                noise = torch.randn(current.shape, generator=self._generator(x.device),
                                    device=x.device, dtype=dtype)
                current = current + cfg.read_noise * var.sqrt() * noise
            if cfg.adc_bits:
                q = 2 ** (cfg.adc_bits - 1) - 1
                lsb = prog.adc_range[tile].t() / q                             # (N, 1)
                current = torch.round(current / lsb).clamp_(-q, q) * lsb
            out = current if out is None else out.add_(current)
            if spikes:   # rows pulsed per read, as a product with ones (faster than a reduction)
                driven.append(torch.matmul(ones[:, : hi - lo], xs)[:, 0])      # (B, L)
        out = out * prog.w_scale
        if scale is not None:
            out = out * scale
        if bias is not None:
            out = out + bias.to(dtype)[:, None]

        # what ran. Spikes: only rows that spike get a pulse, and a tile with no spike in its
        # rows is not read at all (event-driven). DAC inputs: every row of every tile is driven
        # on every read (a zero is a 0 V level, as in ISAAC), so no pass over the data is needed.
        if spikes:
            driven_t = torch.stack(driven)                                     # (tiles, B, L)
            rows_driven = int(driven_t.sum(dtype=torch.float64).item())
            tiles_hit = driven_t > 0
            active = int(tiles_hit.sum().item())
            acc_adds = int((tiles_hit.sum(dim=0) - 1).clamp(min=0).sum().item()) * n
        else:
            rows_driven, active = m * k, m * prog.n_row_tiles
            acc_adds = m * (prog.n_row_tiles - 1) * n
        self._count(layer, xbar_read_vectors=m, xbar_tile_reads=active * prog.n_col_tiles,
                    xbar_rows_driven=rows_driven * prog.n_col_tiles,
                    xbar_cols_read=active * 2 * n, xbar_cells_read=rows_driven * 2 * n,
                    adc_conversions=active * n,
                    dac_conversions=0 if spikes else rows_driven * prog.n_col_tiles,
                    pulses=rows_driven * prog.n_col_tiles if spikes else 0,
                    acc_adds=acc_adds, scale_mults=m * n,
                    bias_adds=m * n if bias is not None else 0, outputs=m * n,
                    macs=m * k * n, macs_spiking=m * k * n if spikes else 0,
                    synops=rows_driven * n if spikes else 0)
        return out

    def linear(self, x, weight, bias, *, layer, spikes=False):
        if spikes:
            self._check_spikes(x, layer)
        lead = x.shape[:-1]
        out = self.matmul(x.reshape(-1, x.shape[-1]), weight, bias, layer=layer, spikes=spikes)
        return out.reshape(*lead, out.shape[-1])

    def conv2d(self, x, weight, bias, *, stride=1, padding=0, dilation=1, groups=1, layer,
               spikes=False):
        if spikes:
            self._check_spikes(x, layer)
        batch, channels, _, _ = x.shape
        out_ch, ch_per_group, kh, kw = weight.shape
        stride, dilation = _pair(stride), _pair(dilation)
        x, padding = _explicit_padding(x, padding, (kh, kw), dilation)
        h, w = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
        ho = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        wo = (w - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)
        k = ch_per_group * kh * kw
        og = out_ch // groups
        outs = []
        for g in range(groups):
            name = layer if groups == 1 else f"{layer}/g{g}"
            w_g = weight[g * og:(g + 1) * og].reshape(og, k)
            b_g = None if bias is None else bias[g * og:(g + 1) * og]
            outs.append(self.read(cols[:, g * k:(g + 1) * k], w_g, b_g, layer=name, spikes=spikes))
        out = outs[0] if groups == 1 else torch.cat(outs, dim=1)
        return out.view(batch, out_ch, ho, wo)


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    return (int(v[0]), int(v[1]))


def _explicit_padding(x: torch.Tensor, padding: Any, kernel: tuple[int, int],
                      dilation: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
    """Turn 'valid' / 'same' / int / pair padding into symmetric padding (pre-padding x if odd)."""
    if isinstance(padding, str):
        if padding == "valid":
            return x, (0, 0)
        if padding != "same":
            raise ValueError(f"unknown padding {padding!r}")
        total = [d * (kk - 1) for d, kk in zip(dilation, kernel, strict=True)]
        left = [t // 2 for t in total]
        right = [t - lft for t, lft in zip(total, left, strict=True)]
        if left == right:
            return x, (left[0], left[1])
        x = F.pad(x, (left[1], right[1], left[0], right[0]))
        return x, (0, 0)
    return x, _pair(padding)

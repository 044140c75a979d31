"""MSS-DepthNet: a multi-step spiking residual-attention U-Net for monocular depth from events.

Input: [T, B, 2, H, W] (ON/OFF channels per time step, from the spike-tensor or
cumulative-stacking encoders). Output: [T, B, 1, H, W] normalised log depth in [0, 1]
after each time step (E2Depth form, see `depth_to_log`), so the prediction can be read
out, and early-stopped, at any step.

Topology (`levels` = 3, `base` = C):

    head   conv5x5 2->C, BN                                       (current, full res)
    enc_i  LIF -> conv3x3 s2 C_i->C_{i+1} -> BN -> attention       (current, 1/2^i res)
    res_j  spiking residual blocks with a membrane shortcut        (bottleneck)
    dec_i  LIF -> nearest x2 -> conv3x3 C_{i+1}->C_i -> BN, + skip (sum skip from enc/head)
    pred   LIF -> conv1x1 C->1 -> time-mean read-out -> sigmoid

Shortcut choice: **membrane (pre-activation) shortcut**. Between blocks the network carries
real-valued input currents; every block starts with its own LIF, so each convolution
reads binary spikes, and the residual adds the block's input current to its output
current (`u + BN(conv(LIF(BN(conv(LIF(u))))))`). An identity path of currents is what
lets a deep multi-step SNN train without degradation (the block can be the identity by
zeroing its last BN), whereas a spike shortcut (SEW "ADD") sends 0/1/2 values into the
next convolution, breaking the binary-input property that makes synaptic operations
additions and lets a crossbar drive rows with read pulses. U-Net skips are summed
currents for the same reason.

Attention (on currents, before the next LIF; gates in (0, 1) scale how strongly a step,
channel or pixel drives the next neurons):
- temporal: a per-step descriptor (spatial-channel mean and max) through a *causal*
  (lower-triangular) linear map over time, so step t's gate depends on steps <= t only.
  Streaming one step at a time gives exactly the multi-step result.
- channel: avg- and max-pooled descriptors through a shared two-layer MLP (CBAM-style).
- spatial: channel mean and max through a 7x7 convolution.

The ANN twin (`DepthNet(cfg, spiking=False)`) is the same module tree, hence the same
parameter count, with ReLU in place of every LIF and no time: it is fed the time-mean of
the input ([1, B, 2, H, W]); its temporal attention then sees a one-step sequence (only
the diagonal entry of its causal matrix is used; the parameters still exist and count).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from evrt.snn import layer
from evrt.snn.neuron import LIF, MemoryModule

__all__ = ["DepthNetConfig", "DepthNet", "depth_to_log", "log_to_depth", "E2DEPTH_ALPHA",
           "E2DEPTH_DMAX", "count_parameters"]

E2DEPTH_DMAX = 80.0
E2DEPTH_ALPHA = 3.70378


def depth_to_log(depth: torch.Tensor, dmax: float = E2DEPTH_DMAX,
                 alpha: float = E2DEPTH_ALPHA) -> torch.Tensor:
    """Metric depth -> E2Depth log depth `1 + ln(D / Dmax) / alpha`, clipped to [0, 1] (NaN stays NaN)."""
    d = torch.clamp(depth, min=1e-6)
    return torch.clamp(1.0 + torch.log(d / dmax) / alpha, 0.0, 1.0)


def log_to_depth(log_depth: torch.Tensor, dmax: float = E2DEPTH_DMAX,
                 alpha: float = E2DEPTH_ALPHA) -> torch.Tensor:
    """E2Depth log depth -> metres: `Dmax * exp(alpha * (D_log - 1))`."""
    return dmax * torch.exp(alpha * (log_depth - 1.0))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass
class DepthNetConfig:
    """Size and neuron settings of MSS-DepthNet (saved with every checkpoint)."""

    in_channels: int = 2
    base_channels: int = 8
    levels: int = 3
    res_blocks: int = 2
    timesteps: int = 5            # the most steps the temporal attention is sized for
    decay: float = 0.5            # LIF membrane decay per step (tau = 2)
    threshold: float = 1.0
    reset: str = "hard"
    surrogate: str = "atan"
    surrogate_alpha: float = 2.0
    attention_reduction: int = 4
    input_spikes: bool = False    # True when the encoder emits binary spikes (marks the head conv)
    dmax: float = E2DEPTH_DMAX
    alpha: float = E2DEPTH_ALPHA
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DepthNetConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            from evrt.errors import ConfigError

            raise ConfigError(f"unknown depth model keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


class _Activation:
    """Builds the network's activation: a LIF (spiking) or a ReLU (ANN twin)."""

    def __init__(self, cfg: DepthNetConfig, spiking: bool) -> None:
        self.cfg, self.spiking = cfg, spiking

    def __call__(self) -> nn.Module:
        if not self.spiking:
            return nn.ReLU()
        from evrt.snn import surrogate as sg

        kind = self.cfg.surrogate
        param = self.cfg.surrogate_alpha
        sur = sg.get(kind, width=param) if kind.startswith("rect") else sg.get(kind, alpha=param)
        return LIF(self.cfg.decay, self.cfg.threshold, reset=self.cfg.reset, surrogate=sur)


class TemporalAttention(MemoryModule):
    """Causal per-step gate: g_t = sigmoid(sum_{s<=t} A_ts d_s + b_t), d = (mean, max) of step s.

    Keeps the descriptors of the steps already seen, so feeding a sample in chunks (or one step
    at a time) gives the same gates as one multi-step call; `reset()` forgets them.
    """

    def __init__(self, timesteps: int) -> None:
        super().__init__("m")
        self.timesteps = timesteps
        self.weight = nn.Parameter(torch.zeros(2, timesteps, timesteps))
        self.bias = nn.Parameter(torch.full((timesteps,), 2.0))  # gates start open (~0.88)
        self.register_buffer("mask", torch.tril(torch.ones(timesteps, timesteps)), persistent=False)
        self.history: torch.Tensor | None = None

    def reset(self) -> None:
        self.history = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            return self._gate(x.unsqueeze(0))[0]
        return self._gate(x)

    def _gate(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)
        desc = torch.stack([flat.mean(-1), flat.amax(-1)], dim=-1)  # [T, B, 2]
        start = 0 if self.history is None else self.history.shape[0]
        seq = desc if self.history is None else torch.cat([self.history, desc])
        if seq.shape[0] > self.timesteps:
            raise ValueError(f"temporal attention is sized for {self.timesteps} steps, got "
                             f"{seq.shape[0]}: reset the network between samples or raise timesteps")
        self.history = seq.detach() if not torch.is_grad_enabled() else seq
        pad = self.timesteps - seq.shape[0]
        seq = F.pad(seq, (0, 0, 0, 0, 0, pad))  # [Tmax, B, 2]
        w = self.weight * self.mask  # [2, Tmax(out), Tmax(in)]
        logits = torch.einsum("ksb,kts->tb", seq.permute(2, 0, 1), w) + self.bias[:, None]
        gate = torch.sigmoid(logits[start:start + x.shape[0]])  # [T, B]
        return x * gate.reshape(*gate.shape, *([1] * (x.dim() - 2)))


class ChannelAttention(nn.Module):
    """Per-step, per-channel gate from avg- and max-pooled descriptors through a shared MLP."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(2, channels // reduction)
        self.fc1 = layer.Linear(channels, hidden)
        self.fc2 = layer.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg, mx = x.mean((-2, -1)), x.amax((-2, -1))  # [T, B, C]
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(avg))) + self.fc2(F.relu(self.fc1(mx))))
        return x * gate[..., None, None]


class SpatialAttention(nn.Module):
    """Per-step, per-pixel gate from the channel mean and max through a 7x7 convolution."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = layer.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        desc = torch.stack([x.mean(2), x.amax(2)], dim=2)  # [T, B, 2, H, W]
        return x * torch.sigmoid(self.conv(desc))


class MultiDimAttention(nn.Module):
    """Temporal, then channel, then spatial attention on a [T, B, C, H, W] current."""

    def __init__(self, channels: int, timesteps: int, reduction: int) -> None:
        super().__init__()
        self.temporal = TemporalAttention(timesteps)
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(self.temporal(x)))


class SpikingResBlock(nn.Module):
    """`u + BN(conv(act(BN(conv(act(u))))))`: membrane shortcut, binary inputs to both convs."""

    def __init__(self, channels: int, act: _Activation) -> None:
        super().__init__()
        self.act1 = act()
        self.conv1 = layer.Conv2d(channels, channels, 3, padding=1, bias=False, spikes=act.spiking)
        self.bn1 = layer.BatchNorm2d(channels)
        self.act2 = act()
        self.conv2 = layer.Conv2d(channels, channels, 3, padding=1, bias=False, spikes=act.spiking)
        self.bn2 = layer.BatchNorm2d(channels)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        h = self.bn1(self.conv1(self.act1(u)))
        return u + self.bn2(self.conv2(self.act2(h)))


class EncoderStage(nn.Module):
    def __init__(self, c_in: int, c_out: int, act: _Activation, cfg: DepthNetConfig) -> None:
        super().__init__()
        self.act = act()
        self.conv = layer.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False, spikes=act.spiking)
        self.bn = layer.BatchNorm2d(c_out)
        self.attention = MultiDimAttention(c_out, cfg.timesteps, cfg.attention_reduction)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.attention(self.bn(self.conv(self.act(u))))


class DecoderStage(nn.Module):
    def __init__(self, c_in: int, c_out: int, act: _Activation) -> None:
        super().__init__()
        self.act = act()
        self.up = layer.Upsample(scale_factor=2, mode="nearest")
        self.conv = layer.Conv2d(c_in, c_out, 3, padding=1, bias=False, spikes=act.spiking)
        self.bn = layer.BatchNorm2d(c_out)

    def forward(self, u: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(self.up(self.act(u)))) + skip


class MeanReadout(MemoryModule):
    """Non-spiking read-out: the running time-mean of its input since `reset()`."""

    def __init__(self) -> None:
        super().__init__("m")
        self.total: torch.Tensor | None = None
        self.steps = 0

    def reset(self) -> None:
        self.total, self.steps = None, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            x = x.unsqueeze(0)
        csum = torch.cumsum(x, 0)
        if self.total is not None:
            csum = csum + self.total
        counts = torch.arange(self.steps + 1, self.steps + x.shape[0] + 1, device=x.device,
                              dtype=x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
        self.total, self.steps = csum[-1], self.steps + x.shape[0]
        out = csum / counts
        return out[0] if self.step_mode == "s" else out


class DepthNet(nn.Module):
    """MSS-DepthNet (`spiking=True`) or its same-size ANN twin (`spiking=False`). See module doc."""

    def __init__(self, cfg: DepthNetConfig | None = None, spiking: bool = True) -> None:
        super().__init__()
        self.cfg = cfg or DepthNetConfig()
        self.spiking = spiking
        c = self.cfg
        act = _Activation(c, spiking)
        widths = [c.base_channels * 2 ** i for i in range(c.levels + 1)]
        self.head = nn.Sequential(layer.Conv2d(c.in_channels, widths[0], 5, padding=2, bias=False,
                                               spikes=c.input_spikes and spiking),
                                  layer.BatchNorm2d(widths[0]))
        self.encoders = nn.ModuleList(EncoderStage(widths[i], widths[i + 1], act, c)
                                      for i in range(c.levels))
        self.res = nn.Sequential(*(SpikingResBlock(widths[-1], act) for _ in range(c.res_blocks)))
        self.decoders = nn.ModuleList(DecoderStage(widths[i + 1], widths[i], act)
                                      for i in reversed(range(c.levels)))
        self.pred_act = act()
        self.pred = layer.Conv2d(widths[0], 1, 1, spikes=spiking)
        self.readout = MeanReadout()

    @property
    def multiple(self) -> int:
        return 2 ** self.cfg.levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[T, B, C, H, W] -> [T, B, 1, H, W] log depth after each step (ANN twin: [1, B, 1, H, W]).

        Calls continue a sample (state is kept) until `evrt.snn.functional.reset_net(model)`.
        """
        if x.dim() != 5 or x.shape[2] != self.cfg.in_channels:
            raise ValueError(f"expected [T, B, {self.cfg.in_channels}, H, W], got {tuple(x.shape)}")
        if not self.spiking:
            x = x.mean(0, keepdim=True)
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x.flatten(0, 1), (0, pw, 0, ph), mode="replicate").reshape(
                *x.shape[:3], h + ph, w + pw)
        u = self.head(x)
        skips = [u]
        for enc in self.encoders:
            u = enc(u)
            skips.append(u)
        u = self.res(u)
        for dec, skip in zip(self.decoders, reversed(skips[:-1]), strict=True):
            u = dec(u, skip)
        out = self.readout(self.pred(self.pred_act(u)))
        return torch.sigmoid(out[..., :h, :w])

    def depth(self, log_depth: torch.Tensor) -> torch.Tensor:
        """Normalised log depth -> metres with this model's Dmax and alpha."""
        return log_to_depth(log_depth, self.cfg.dmax, self.cfg.alpha)


"""The digital backend: plain torch (CPU or CUDA), counting the work a digital accelerator would do.

Extends `base.DigitalBackend` with the counters the energy report needs, named as the crossbar
backend names them: `macs` (dense multiply-accumulates), `macs_spiking` (those of layers fed
by binary spikes), `synops` (exact accumulations an event-driven design performs: one per
non-zero input per output it reaches, borders and stride included), `spikes_in`,
`bias_adds` and `outputs`.
"""

from __future__ import annotations

from collections import Counter

import torch
import torch.nn.functional as F

from evrt.backends import base


class DigitalBackend(base.DigitalBackend):
    """Torch on the tensors' device; results identical to `base.DigitalBackend`, more counters."""

    name = "digital"

    def __init__(self) -> None:
        super().__init__()
        self.layer_counters: dict[str, Counter[str]] = {}

    def _count(self, layer: str, **counts: int) -> None:
        per_layer = self.layer_counters.setdefault(layer, Counter())
        for key, value in counts.items():
            if value:
                self.counters[key] += int(value)
                per_layer[key] += int(value)

    def linear(self, x, weight, bias, *, layer, spikes=False):
        out = F.linear(x, weight, bias)
        reads = x.numel() // x.shape[-1]
        n, k = weight.shape
        counts = dict(macs=reads * k * n, outputs=reads * n,
                      bias_adds=reads * n if bias is not None else 0)
        if spikes:
            nnz = int(torch.count_nonzero(x).item())
            counts.update(macs_spiking=reads * k * n, spikes_in=nnz, synops=nnz * n)
        self._count(layer, **counts)
        return out

    def conv2d(self, x, weight, bias, *, stride=1, padding=0, dilation=1, groups=1, layer,
               spikes=False):
        out = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
        out_ch, ch_per_group, kh, kw = weight.shape
        k = ch_per_group * kh * kw
        positions = out.numel() // out_ch
        counts = dict(macs=out.numel() * k, outputs=out.numel(),
                      bias_adds=out.numel() if bias is not None else 0)
        if spikes:
            # every non-zero input inside a receptive field feeds the group's out_ch/groups outputs
            ones = torch.ones(groups, ch_per_group, kh, kw, dtype=x.dtype, device=x.device)
            in_fields = F.conv2d((x != 0).to(x.dtype), ones, None, stride, padding, dilation, groups)
            synops = int(in_fields.sum().item()) * (out_ch // groups)
            counts.update(macs_spiking=out.numel() * k, synops=synops,
                          spikes_in=int(torch.count_nonzero(x).item()))
        del positions
        self._count(layer, **counts)
        return out

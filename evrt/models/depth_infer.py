"""Running a trained depth model on one window: weights, backend, early stop by convergence.

`DepthPredictor.predict(x)` feeds the window's T steps one at a time (the network's state
carries between calls, so this equals the multi-step forward) under the backends'
`EarlyStopController` with a `ConvergencePolicy`: it stops as soon as the mean absolute
change of the normalised log depth between successive steps is <= `tol` for `k` steps in a
row. Steps not run are compute not spent; `steps_used` says how many ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from evrt.errors import ConfigError
from evrt.models.depth import DepthNet, DepthNetConfig
from evrt.snn.functional import reset_net

__all__ = ["BUILTIN_WEIGHTS", "load_checkpoint", "save_checkpoint", "DepthPredictor"]

BUILTIN_WEIGHTS = Path(__file__).with_name("weights") / "depth_scene_snn.pt"


def save_checkpoint(path: str | Path, model: DepthNet, **extra: Any) -> None:
    """Model weights + its config + anything else (optimizer, epoch, data settings) in one file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".partial")
    from evrt.devices import to_cpu

    torch.save({"model": to_cpu(model.state_dict()), "config": model.cfg.to_dict(),
                "spiking": model.spiking, **extra}, tmp)
    tmp.replace(path)  # a checkpoint under its final name is always complete


def load_checkpoint(path: str | Path = "builtin", map_location: str = "cpu") -> tuple[DepthNet, dict]:
    """(model in eval mode, the whole checkpoint dict). `path='builtin'` loads the shipped weights."""
    p = BUILTIN_WEIGHTS if str(path) == "builtin" else Path(path)
    if not p.is_file():
        raise ConfigError(f"depth checkpoint {p} does not exist", key="weights")
    ckpt = torch.load(p, map_location=map_location, weights_only=False)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise ConfigError(f"{p} is not an evrt depth checkpoint (no 'model'/'config')", key="weights")
    model = DepthNet(DepthNetConfig.from_dict(ckpt["config"]), spiking=ckpt.get("spiking", True))
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


class DepthPredictor:
    """A depth model bound to a backend and an optional convergence early stop."""

    def __init__(self, model: DepthNet, backend: Any = None, early_stop: Any = None,
                 device: Any = None, min_steps: int = 2) -> None:
        """`early_stop`: a `ConvergencePolicy` (or None to always run all T steps).
        `device`: where the model runs (a `torch.device` or "cpu" / "cuda" / "cuda:N";
        None: where the model's weights already are)."""
        from evrt.backends.base import use_backend
        from evrt.devices import model_device

        self.device = torch.device(device) if device is not None else model_device(model)
        self.model = model.to(self.device).eval()
        self.backend = backend
        if backend is not None:
            use_backend(self.model, backend)
        self.early_stop = early_stop
        self.min_steps = min_steps
        self.last_result: Any = None

    @torch.no_grad()
    def predict(self, x: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, int]:
        """x [T, 2, H, W] (or [T, B, 2, H, W]) -> (log depth [.., H, W] in [0, 1], steps run)."""
        xt = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        batched = xt.dim() == 5
        if not batched:
            xt = xt.unsqueeze(1)
        reset_net(self.model)
        if not self.model.spiking:  # the ANN twin: one pass over the time-mean
            return self._squeeze(self.model(xt)[-1], batched), xt.shape[0]
        if self.early_stop is None:
            return self._squeeze(self.model(xt)[-1], batched), xt.shape[0]
        from evrt.backends.early_stop import EarlyStopController

        t_max = xt.shape[0]
        ctl = EarlyStopController(self.early_stop, t_max, xt.shape[1], device=self.device,
                                  min_steps=min(self.min_steps, t_max), backend=self.backend)
        outputs: dict[int, torch.Tensor] = {}
        while not ctl.done:
            # Every row keeps running until the last one stops (the network's state is not
            # compacted), so compute is saved exactly only for B = 1 (the node's case); each
            # row's output is taken at its own stopping step.
            out = self.model(xt[ctl.t:ctl.t + 1])[-1]  # [B, 1, H, W]
            for i in ctl.step(out[ctl.active]).tolist():
                outputs[i] = out[i]
            if ctl.done:
                break
        self.last_result = ctl.result()
        y = torch.stack([outputs[i] for i in range(xt.shape[1])])
        steps = int(self.last_result.steps.max())
        return self._squeeze(y, batched), steps

    @staticmethod
    def _squeeze(y: torch.Tensor, batched: bool) -> torch.Tensor:
        y = y[:, 0]  # drop the channel: [B, H, W]
        return y if batched else y[0]

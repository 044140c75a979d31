"""The `depth` graph node: event windows in, depth maps (metres) out, on the chosen backend.

Each window of events is encoded exactly as the model was trained (representation, steps,
spatial scale: stored in the checkpoint), then fed step by step to MSS-DepthNet with early
stop by convergence (`early_stop_tol` > 0). Encoded `spike_tensor` / `cumulative_stack`
tensors are accepted too when they match the training representation; other tensors (a
source's ground-truth depth, say) are ignored. Output: one `TensorMsg` per window, stream
`depth`, data float32 [H/scale, W/scale] metres, meta with timesteps used / available.

    [nodes.depth]
    type = "depth"
    inputs = ["source"]
    weights = "builtin"            # or a checkpoint from `evrt train depth`
    backend = "digital"            # or { name = "crossbar", adc_bits = 8, read_noise = 0.02 }
    early_stop_tol = 0.005
    device = "cpu"                 # "auto" (CUDA when torch sees a GPU), "cuda", "cuda:N"
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from evrt.devices import check_device
from evrt.errors import ConfigError, EventDataError
from evrt.events import EventPacket
from evrt.graph.node import Node
from evrt.messages import TensorMsg


class DepthNode(Node):
    """Runs MSS-DepthNet on each event window (or encoded tensor) and emits a depth map."""

    def __init__(self, weights: str = "builtin", backend: str | dict = "digital",
                 early_stop_tol: float = 0.0, early_stop_k: int = 1, window_us: int = 0,
                 device: str = "cpu", threads: int = 0, stream: str = "depth") -> None:
        if early_stop_tol < 0:
            raise ConfigError(f"early_stop_tol must be >= 0 (0 = off), got {early_stop_tol}",
                              key="early_stop_tol")
        if window_us < 0:
            raise ConfigError(f"window_us must be >= 0 (0 = as trained), got {window_us}",
                              key="window_us")
        self.weights, self.backend_spec = weights, backend
        self.device = check_device(device)
        self.early_stop_tol, self.early_stop_k = early_stop_tol, early_stop_k
        self.window_us, self.threads, self.stream = window_us, threads, stream
        self.windows = 0
        self.steps_used = 0

    def open(self, context: Any) -> None:
        super().open(context)
        import torch

        from evrt.backends.early_stop import ConvergencePolicy
        from evrt.backends.factory import backend_from_spec
        from evrt.devices import resolve_device
        from evrt.encoders.windowing import make_windower
        from evrt.models.depth_infer import DepthPredictor, load_checkpoint

        if self.threads:
            torch.set_num_threads(self.threads)
        model, ckpt = load_checkpoint(self.weights)
        data = (ckpt.get("train_config") or {}).get("data", {})
        self.representation = data.get("representation", "cumulative")
        self.scale = int(data.get("scale", 1))
        window = self.window_us or int(data.get("window_us", 50_000))
        self.windower = make_windower(window, 0, 0, 0, False)  # complete windows only
        self.geometry = None
        self.backend = backend_from_spec(self.backend_spec)
        policy = ConvergencePolicy(tol=self.early_stop_tol, k=self.early_stop_k) \
            if self.early_stop_tol > 0 else None
        self.model = model
        self.predictor = DepthPredictor(model, self.backend, policy,
                                        device=resolve_device(self.device))
        self.steps = model.cfg.timesteps

    def _predict(self, x: np.ndarray, t_start: int, t_end: int, events: int) -> TensorMsg:
        log_depth, used = self.predictor.predict(x)
        depth = self.model.depth(log_depth).cpu().numpy().astype(np.float32)
        self.windows += 1
        self.steps_used += used
        meta = {"timesteps": used, "timesteps_max": int(x.shape[0]), "events": events,
                "dmax": self.model.cfg.dmax, "alpha": self.model.cfg.alpha,
                "scale": self.scale, "backend": self.backend.name}
        return TensorMsg(depth, self.stream, t_start, t_end, meta)

    def _run_windows(self, windows: Iterable[Any]) -> list[TensorMsg]:
        from evrt.models.depth_data import _downsample_events, encode_window

        g = self.geometry
        w, h = g.width // self.scale, g.height // self.scale
        out = []
        for win in windows:
            ev = _downsample_events(win.events, self.scale)
            ev = ev[(ev["x"] < w) & (ev["y"] < h)]
            x = encode_window(ev, w, h, self.steps, win.t_start, win.t_end, self.representation)
            out.append(self._predict(x, win.t_start, win.t_end, int(len(win.events))))
        return out

    def process(self, message: Any) -> Iterable[Any] | None:
        if isinstance(message, EventPacket):
            self.geometry = message.geometry
            return self._run_windows(self.windower.push(message))
        if isinstance(message, TensorMsg) and "encoder" in message.meta:
            return [self._predict(self._from_tensor(message), message.t_start, message.t_end,
                                  int(message.meta.get("events", 0)))]
        return None

    def _from_tensor(self, message: TensorMsg) -> np.ndarray:
        """Accept a spike_tensor / cumulative_stack encoder output matching the model's training."""
        enc = message.meta.get("encoder")
        x = np.asarray(message.data, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != 2 or x.shape[0] != self.steps:
            raise EventDataError(f"depth: expected a [{self.steps}, 2, H, W] tensor, got {x.shape}")
        want = {"cumulative": "cumulative_stack", "spike_tensor": "spike_tensor"}[self.representation]
        if enc != want:
            raise EventDataError(f"depth: the model was trained on '{want}' input, got '{enc}'")
        return np.log1p(x) if self.representation == "cumulative" else x

    def finish(self) -> Iterable[Any] | None:
        if self.geometry is None:
            return None
        return self._run_windows(self.windower.finish())

    def close(self) -> None:
        if self.windows and hasattr(self, "context"):
            self.context.log.info("depth: %d windows, %.2f of %d steps on average", self.windows,
                                  self.steps_used / self.windows, self.steps)

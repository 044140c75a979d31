"""The `prime` graph node: event packets in, one `Prediction` (class, timesteps used) out each.

Each packet (or each `window_us` window of a stream) becomes a T x 2 x 34 x 34 binary spike
tensor over its time window, then the PRIME classifier runs step by step on the chosen
backend and stops as soon as max softmax(mean output / temperature) >= `threshold`
(`threshold = 1.0`: always the full T). Sensors larger than 34 x 34 (DVS128 Gesture-style
recordings) are binned down by x' = x * 34 // width; a model for them needs `classes` matching.

    [nodes.prime]
    type = "prime"
    inputs = ["source"]
    weights = "builtin"       # seed + masks .npz from `evrt train prime` (train.ship), or a .pt
    backend = "digital"       # or { name = "crossbar", read_noise = 0.02, adc_bits = 8 }
    threshold = 0.8
    temperature = 2.0
    device = "cpu"            # "auto" (CUDA when torch sees a GPU), "cuda", "cuda:N"

Output meta: `label` of the input packet (when the source gave one) as `true_label`, the
policy score, `compute_saved`, `backend`. At close the node logs accuracy and mean timesteps.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from evrt.devices import check_device
from evrt.errors import ConfigError
from evrt.events import EventPacket, copy_events
from evrt.graph.node import Node

SIZE = 34


class PrimeNode(Node):
    """Classifies each event packet (or time window) with a PRIME SNN, with confidence early stop."""

    def __init__(self, weights: str = "builtin", backend: str | dict = "digital",
                 threshold: float = 0.8, temperature: float = 2.0, steps: int = 10,
                 window_us: int = 0, threads: int = 0, stream: str = "prediction",
                 device: str = "cpu") -> None:
        if not 0.0 < threshold:
            raise ConfigError(f"threshold must be > 0 (>= 1 disables early stop), got {threshold}",
                              key="threshold")
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}", key="temperature")
        if steps < 1:
            raise ConfigError(f"steps must be >= 1, got {steps}", key="steps")
        if window_us < 0:
            raise ConfigError("window_us must be >= 0 (0 = one window per packet)",
                              key="window_us")
        self.weights, self.backend_spec = weights, backend
        self.threshold, self.temperature, self.steps = threshold, temperature, steps
        self.window_us, self.threads, self.stream = window_us, threads, stream
        self.device = check_device(device)
        self.count = 0
        self.correct = 0
        self.labelled = 0
        self.steps_used = 0

    def open(self, context: Any) -> None:
        super().open(context)
        import torch

        from evrt.backends.factory import backend_from_spec
        from evrt.devices import resolve_device
        from evrt.models.prime.train import load_model

        if self.threads:
            torch.set_num_threads(self.threads)
        self._device = resolve_device(self.device)
        self.model, _ = load_model(self.weights)
        self.model.to(self._device)
        self.backend = backend_from_spec(self.backend_spec)
        self.windower = None
        if self.window_us:
            from evrt.encoders.windowing import make_windower

            self.windower = make_windower(self.window_us, 0, 0, 0, False)

    def _events_34(self, packet: EventPacket) -> np.ndarray:
        ev = packet.events
        g = packet.geometry
        if (g.width, g.height) == (SIZE, SIZE):
            return ev
        out = copy_events(ev)
        out["x"] = (ev["x"].astype(np.int64) * SIZE // g.width).astype(out["x"].dtype)
        out["y"] = (ev["y"].astype(np.int64) * SIZE // g.height).astype(out["y"].dtype)
        return out

    def classify(self, events: np.ndarray, t_start: int, t_end: int, meta: dict) -> Any:
        import torch

        from evrt.encoders.functional.spike_tensor import spike_tensor
        from evrt.models.prime.infer import classify

        end = max(t_end, t_start + 1)
        x = spike_tensor(events, SIZE, SIZE, self.steps, t_start, end, binary=True)
        res = classify(self.model, torch.from_numpy(x)[:, None].to(self._device), backend=self.backend,
                       threshold=self.threshold, temperature=self.temperature)
        pred = res.predictions(self.stream, t_start, t_end)[0]
        pred.meta["backend"] = self.backend.name
        self.count += 1
        self.steps_used += pred.timesteps
        if "label" in meta:
            pred.meta["true_label"] = int(meta["label"])
            self.labelled += 1
            self.correct += int(pred.label == int(meta["label"]))
        for key in ("index", "split"):
            if key in meta:
                pred.meta[key] = meta[key]
        return pred

    def process(self, message: Any) -> Iterable[Any] | None:
        if not isinstance(message, EventPacket):
            return None
        events = self._events_34(message)
        if self.windower is None:
            return [self.classify(events, message.t_start, message.t_end, message.meta)]
        packet = EventPacket(events, message.geometry, message.stream, message.t_start,
                             message.t_end, message.meta)
        return [self.classify(w.events, w.t_start, w.t_end, message.meta)
                for w in self.windower.push(packet)]

    def summary(self) -> dict:
        return {"predictions": self.count,
                "accuracy": self.correct / self.labelled if self.labelled else None,
                "mean_timesteps": self.steps_used / self.count if self.count else None,
                "timesteps_max": self.steps}

    def close(self) -> None:
        if self.count:
            s = self.summary()
            acc = f"accuracy {s['accuracy']:.4f} on {self.labelled} labelled, " if self.labelled else ""
            print(f"prime: {self.count} predictions, {acc}mean timesteps "
                  f"{s['mean_timesteps']:.2f}/{self.steps}", file=sys.stderr)
        super().close()

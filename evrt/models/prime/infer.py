"""Running a PRIME classifier: full runs, confidence early stop on a backend, shipped masks.

Shipped masks (`weights/*.npz`) hold no weights: the weights are redrawn from the stored
seed (same draw order as `PrimeClassifier(seed=...)`), and each layer's mask is stored as
packed bits, so a file is about one bit per weight plus the settings and the measured
accuracy it was shipped with.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evrt.backends.base import Backend, use_backend
from evrt.backends.early_stop import ConfidencePolicy, EarlyStopResult, run_with_early_stop
from evrt.backends.energy import count
from evrt.devices import model_device
from evrt.errors import ConfigError
from evrt.models.prime.classifier import PrimeClassifier, compact_state, logits_full, step_logits
from evrt.models.prime.layers import export_masks, load_masks
from evrt.snn.functional import reset_net

__all__ = ["WEIGHTS_DIR", "BUILTIN", "save_masks", "load_prime", "batches", "classify",
           "evaluate_full", "predict_full"]

WEIGHTS_DIR = Path(__file__).with_name("weights")
BUILTIN = WEIGHTS_DIR / "digits_saccades.npz"


def save_masks(model: PrimeClassifier, path: str | Path, info: dict[str, Any]) -> Path:
    """Write seed + model settings + packed masks (+ `info`, e.g. accuracy) to an .npz."""
    masks = export_masks(model)
    settings = {"classes": model.classes, "seed": model.seed, "keep": model.keep,
                "std": model.std, "scale": model.scale, "decay": model.lif1.decay,
                "threshold": model.lif1.threshold, "surrogate_width": model.lif1.surrogate.width}
    arrays = {f"mask/{name}": np.packbits(m.numpy().ravel()) for name, m in masks.items()}
    shapes = {name: list(m.shape) for name, m in masks.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, settings=json.dumps(settings), shapes=json.dumps(shapes),
                        info=json.dumps(info), **arrays)
    return path


def load_prime(path: str | Path = "builtin") -> tuple[PrimeClassifier, dict[str, Any]]:
    """A `PrimeClassifier` with fixed masks from a shipped file ('builtin' = the default one)."""
    p = BUILTIN if str(path) == "builtin" else Path(path)
    if not p.is_file():
        raise ConfigError(f"PRIME mask file {p} does not exist", key="weights")
    f = np.load(p)
    settings = json.loads(str(f["settings"]))
    shapes = json.loads(str(f["shapes"]))
    info = json.loads(str(f["info"]))
    model = PrimeClassifier(**settings)
    masks = {}
    for name, shape in shapes.items():
        n = int(np.prod(shape))
        bits = np.unpackbits(f[f"mask/{name}"], count=n).astype(bool)
        masks[name] = torch.from_numpy(bits.reshape(shape))
    load_masks(model, masks)
    model.eval()
    return model, {"settings": settings, "info": info, "path": str(p)}


def batches(n: int, size: int) -> Iterator[slice]:
    for a in range(0, n, size):
        yield slice(a, min(a + size, n))


def classify(model: torch.nn.Module, x: torch.Tensor, *, backend: Backend | None = None,
             threshold: float = 0.8, temperature: float = 2.0,
             min_steps: int = 1) -> EarlyStopResult:
    """Confidence early stop over x [T, B, 2, H, W]: each sample runs until max softmax(mean/temp)
    >= threshold (threshold >= 1: the full T). Finished samples leave the batch.
    `backend=None` keeps whatever backend the layers were last given (pass one to be sure)."""
    if backend is not None:
        use_backend(model, backend)
    reset_net(model)
    model.eval()

    def step_fn(t: int, active: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        compact_state(model, keep)
        out = step_logits(model, x[t, active])
        if backend is not None:
            count(backend, neuron_updates=model.neuron_updates_per_step(int(active.numel())))
        return out

    with torch.no_grad():
        return run_with_early_stop(step_fn, x.shape[0], ConfidencePolicy(threshold, temperature),
                                   x.shape[1], device=x.device, backend=backend,
                                   min_steps=min_steps)


def predict_full(model: torch.nn.Module, x: np.ndarray, *, batch: int = 64,
                 backend: Backend | None = None) -> np.ndarray:
    """Class of each sample after full-T runs (logits = time-mean of the read-out membrane),
    computed on the model's device."""
    if backend is not None:
        use_backend(model, backend)
    model.eval()
    device = model_device(model)
    out = []
    with torch.no_grad():
        for s in batches(len(x), batch):
            xb = torch.from_numpy(np.ascontiguousarray(x[s])).to(device).float().transpose(0, 1)
            out.append(logits_full(model, xb).argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def evaluate_full(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, *, batch: int = 64,
                  backend: Backend | None = None) -> float:
    """Accuracy of full-T runs; x is N x T x 2 x H x W."""
    return float((predict_full(model, x, batch=batch, backend=backend) == y).mean()) if len(y) else 0.0

"""PRIME inpainting: a spiking convolutional autoencoder pruned from random weights.

Not FSVAE: a simpler deterministic spiking conv autoencoder (no latent sampling), because the
point reproduced here is "topology optimisation of random devices works for a generative,
dense-output task, and convergence early stop saves steps", not the VAE prior.

Data: scikit-learn digits (8x8) upsampled to 32x32 (bilinear), values in [0, 1]; the centre
8x8 is blanked (set to 0) in the input. Same train/test split as `digits_saccades`.
Network (direct input: the masked image drives the first layer at every one of T = 16 steps):

    conv 1->16 k3 s2 (32->16) -> LIF     conv 16->32 k3 s2 (16->8) -> LIF
    up x2 -> conv 32->16 k3 (16) -> LIF  up x2 -> conv 16->1 k3 (32) -> non-spiking read-out

LIF: decay 0.25, threshold 0.2, hard reset (FSVAE's tau and Vth). The image at step t is the
time-mean of the read-out current over steps 1..t (rate decoding), clamped to [0, 1]. Every conv is a
`PrunedConv2d` (keep 50%, frozen device weights, only scores trained). Device weights are
N(0, 6.35) times a per-layer scale 1.5 / (6.35 sqrt(fan_in)) (so currents reach threshold
with a 3x3 fan-in; the reference's 0.01 suits its own layer sizes).

Metrics over the masked 8x8 region: PSNR (data range 1), SSIM (7x7 Gaussian window, sigma 1.5,
computed on the whole image and averaged over the region's pixels), and an Inception-Score-
style score exp(E_x KL(p(y|x) || p(y))) from a scikit-learn logistic-regression digits classifier trained on
clean training images (2x2-pooled; 10 = perfectly confident and balanced, 1 = uninformative).
The inpainted image is the masked input outside the hole and the network's output inside it.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evrt.models.prime.layers import PrunedConv2d
from evrt.snn import layer as L
from evrt.snn.functional import reset_net, set_step_mode
from evrt.snn.neuron import LIF, Integrator
from evrt.snn.surrogate import Rectangular

SIZE = 32
HOLE = slice(12, 20)      # the centre 8x8


def digit_images(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 32 x 32 float32 in [0, 1], labels) of the digits split."""
    from scipy.ndimage import zoom

    from evrt.sources.synthetic.digits import digits_data, split_indices

    images, labels = digits_data()
    idx = split_indices(split)
    up = np.stack([np.clip(zoom(images[i], SIZE / 8, order=1), 0, 1) for i in idx])
    return up.astype(np.float32), labels[idx]


def mask_centre(x: np.ndarray | torch.Tensor) -> Any:
    y = x.copy() if isinstance(x, np.ndarray) else x.clone()
    y[..., HOLE, HOLE] = 0
    return y


class SpikingInpainter(nn.Module):
    """Pruned random-weight spiking conv autoencoder; forward x [T, B, 1, 32, 32] -> [T, B, 1, 32, 32]."""

    def __init__(self, *, seed: int = 0, keep: float = 0.5, std: float = 6.35, gain: float = 1.5,
                 decay: float = 0.25, threshold: float = 0.2, width: int = 16,
                 pruned: bool = True) -> None:
        """`pruned=False`: the weight-trained baseline (ordinary `Conv2d`, default init)."""
        super().__init__()
        self.seed, self.keep, self.std, self.gain = seed, keep, std, gain
        g = torch.Generator().manual_seed(seed)
        sg = Rectangular(width=0.5)

        def conv(cin: int, cout: int, stride: int, spikes: bool) -> nn.Module:
            if not pruned:
                torch.manual_seed(seed + cout * 100 + cin)
                return L.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False, spikes=spikes)
            scale = gain / (std * math.sqrt(cin * 9))
            return PrunedConv2d(cin, cout, 3, stride=stride, padding=1, generator=g, keep=keep,
                                std=std, scale=scale, spikes=spikes)

        def lif() -> LIF:
            return LIF(decay, threshold, reset="hard", surrogate=sg)

        self.enc1, self.lif1 = conv(1, width, 2, False), lif()
        self.enc2, self.lif2 = conv(width, 2 * width, 2, True), lif()
        self.up1 = L.Upsample(scale_factor=2, mode="nearest")
        self.dec1, self.lif3 = conv(2 * width, width, 1, True), lif()
        self.up2 = L.Upsample(scale_factor=2, mode="nearest")
        self.dec2, self.out = conv(width, 1, 1, True), Integrator(decay=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.lif1(self.enc1(x))
        s = self.lif2(self.enc2(s))
        s = self.lif3(self.dec1(self.up1(s)))
        return self.out(self.dec2(self.up2(s)))

    def neuron_updates_per_step(self, batch: int) -> int:
        return batch * (16 * 16 * 16 + 32 * 8 * 8 + 16 * 16 * 16 + SIZE * SIZE)


def reconstruct(model: nn.Module, masked: torch.Tensor, steps: int) -> torch.Tensor:
    """Full run: time-mean of the read-out over `steps` (not clamped); masked is [B, 1, 32, 32]."""
    set_step_mode(model, "m")
    reset_net(model)
    out = model(masked.unsqueeze(0).expand(steps, *masked.shape))
    return out.mean(0)


def composite(masked: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """The inpainted image: the known pixels, and the (clamped) reconstruction inside the hole."""
    out = masked.clone()
    out[..., HOLE, HOLE] = recon[..., HOLE, HOLE].clamp(0, 1)
    return out


def gaussian_window(size: int = 7, sigma: float = 1.5) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM of images [B, 1, H, W] in [0, 1] (Gaussian 7x7, sigma 1.5, reflect padding)."""
    w = gaussian_window().to(a.dtype)
    pad = w.shape[-1] // 2

    def blur(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(z, (pad,) * 4, mode="reflect"), w)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))


def hole_metrics(recon: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """PSNR and SSIM of the masked centre region, averaged over images."""
    r = recon.double().clamp(0, 1)
    t = target.double()
    mse = ((r - t)[..., HOLE, HOLE] ** 2).flatten(1).mean(1).clamp_min(1e-10)
    psnr = (10 * torch.log10(1.0 / mse)).mean()
    ssim = ssim_map(r, t)[..., HOLE, HOLE].flatten(1).mean(1).mean()
    return {"psnr": float(psnr), "ssim": float(ssim)}


def judge_features(images: np.ndarray) -> np.ndarray:
    """16x16 block means of 32x32 images (2x2 pooling), flattened: the judge's input."""
    x = np.asarray(images, np.float64).reshape(len(images), SIZE // 2, 2, SIZE // 2, 2)
    return x.mean(axis=(2, 4)).reshape(len(images), -1)


def digits_judge(seed: int = 0):
    """A logistic-regression digits classifier on clean training images (the Inception-Score judge)."""
    from sklearn.linear_model import LogisticRegression

    x, y = digit_images("train")
    clf = LogisticRegression(max_iter=300, C=1.0, random_state=seed)
    clf.fit(judge_features(x), y)
    return clf


def inception_score(judge: Any, images: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))) of the judge's class probabilities on `images`."""
    p = np.clip(judge.predict_proba(judge_features(images)), 1e-12, 1)
    py = p.mean(0, keepdims=True)
    return float(np.exp((p * (np.log(p) - np.log(py))).sum(1).mean()))


def train_inpainter(model: SpikingInpainter, x: np.ndarray, *, steps: int = 16, epochs: int = 3,
                    batch: int = 32, lr: float = 3e-3, seed: int = 0,
                    progress: bool = True) -> list[dict]:
    """Adam on the scores: MSE inside the hole plus 0.25 x the MSE of the whole reconstruction."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(seed)
    hist, t0 = [], time.monotonic()
    target_all = torch.from_numpy(x)[:, None]
    for ep in range(epochs):
        model.train()
        order = rng.permutation(len(x))
        tot, n = 0.0, 0
        for a in range(0, len(order), batch):
            tb = target_all[np.sort(order[a:a + batch])]
            rec = reconstruct(model, mask_centre(tb), steps)
            loss = F.mse_loss(rec[..., HOLE, HOLE], tb[..., HOLE, HOLE]) + 0.25 * F.mse_loss(rec, tb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(tb)
            n += len(tb)
            if progress:
                print(f"\r  inpainting epoch {ep + 1}/{epochs} {n}/{len(x)} loss {tot / n:.4f} "
                      f"({time.monotonic() - t0:.0f} s)", end="", file=sys.stderr, flush=True)
        hist.append({"epoch": ep + 1, "loss": tot / n, "seconds": time.monotonic() - t0})
        if progress:
            print(file=sys.stderr)
    model.eval()
    return hist


def inpaint(model: SpikingInpainter, masked: torch.Tensor, *, steps: int = 16,
            backend: Any = None, tol: float = 0.0, k: int = 3) -> Any:
    """Step-by-step inpainting with convergence early stop (PRIME: the L1 change between successive
    reconstructions falls `k` steps in a row and is <= tol; tol = 0 runs all steps).

    Returns the `EarlyStopResult`; `outputs` are the running-mean reconstructions [B, 1, 32, 32]
    at each sample's stop (clamp / composite them for metrics).
    """
    from evrt.backends.base import use_backend
    from evrt.backends.early_stop import ConvergencePolicy, run_with_early_stop
    from evrt.backends.energy import count
    from evrt.models.prime.classifier import compact_state

    if backend is not None:
        use_backend(model, backend)
    model.eval()
    reset_net(model)
    set_step_mode(model, "s")
    total: torch.Tensor | None = None

    def step_fn(t: int, active: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        nonlocal total
        compact_state(model, keep)
        out = model(masked[active])
        if backend is not None:
            count(backend, neuron_updates=model.neuron_updates_per_step(int(active.numel())))
        total = out.clone() if total is None else total[keep] + out
        return total / (t + 1)

    policy = ConvergencePolicy(tol=tol if tol > 0 else -1.0, k=k, decreasing=True)
    with torch.no_grad():
        return run_with_early_stop(step_fn, steps, policy, masked.shape[0], backend=backend)

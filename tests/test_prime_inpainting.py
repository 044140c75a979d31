"""PRIME inpainting: pruned spiking autoencoder, convergence early stop, hole metrics, IS score."""

from __future__ import annotations

import numpy as np
import torch

from evrt.models.prime.inpainting import (
    HOLE,
    SpikingInpainter,
    composite,
    hole_metrics,
    inception_score,
    inpaint,
    mask_centre,
    reconstruct,
    ssim_map,
)
from evrt.models.prime.layers import pruned_layers


def _images(n: int = 5, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 32, 32, generator=g)


def test_inpainter_is_pruned_random_weights_only_scores_train():
    torch.set_num_threads(1)
    model = SpikingInpainter(seed=1)
    layers = pruned_layers(model)
    assert len(layers) == 4
    assert {n for n, p in model.named_parameters() if p.requires_grad} == \
        {f"{n}.scores" for n, _ in layers}
    for _, layer in layers:
        assert int(layer.mask().sum()) == round(0.5 * layer.weight.numel())
    w0 = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    x = _images(4)
    loss = (reconstruct(model, mask_centre(x), 4) - x).pow(2).mean()
    loss.backward()
    assert all(layer.scores.grad is not None and layer.scores.grad.abs().sum() > 0
               for _, layer in layers)
    for n, p in model.named_parameters():
        if not p.requires_grad:
            assert torch.equal(p, w0[n]) and p.grad is None


def test_step_by_step_inpainting_equals_full_run_and_convergence_stops_early():
    torch.set_num_threads(1)
    model = SpikingInpainter(seed=2)
    masked = mask_centre(_images(6))
    with torch.no_grad():
        full = reconstruct(model, masked, 8)
    res = inpaint(model, masked, steps=8, tol=0.0)
    assert res.steps.tolist() == [8] * 6
    assert torch.allclose(res.outputs, full, atol=1e-5)
    loose = inpaint(model, masked, steps=8, tol=10.0, k=3)     # any change is "small"
    # needs 3 successive changes, each smaller than the one before: earliest stop at step 4
    assert all(4 <= s <= 8 for s in loose.steps.tolist())
    assert loose.steps.double().mean() < 8


def test_hole_metrics_and_ssim():
    x = _images(3)
    m = hole_metrics(x, x)
    assert m["psnr"] > 99 and abs(m["ssim"] - 1) < 1e-9
    # a constant offset of 0.1 in the hole (where it is not clipped) -> PSNR 20 dB
    flat = torch.full_like(x, 0.5)
    off = flat.clone()
    off[..., HOLE, HOLE] = 0.6
    assert abs(hole_metrics(off, flat)["psnr"] - 20.0) < 1e-4    # float32 0.6 - 0.5
    outside = off.clone()
    outside[..., :4, :4] = 0.0                                      # errors outside do not count
    assert hole_metrics(outside, flat) == hole_metrics(off, flat)
    s = ssim_map(x.double(), (x * 0.5).double())
    assert s.shape == x.shape and float(s.mean()) < 1
    # composite keeps the known pixels and only fills the hole
    c = composite(mask_centre(x), torch.ones_like(x))
    assert torch.equal(c[..., :12, :], x[..., :12, :])
    assert torch.all(c[..., HOLE, HOLE] == 1)


class _Judge:
    def __init__(self, p):
        self.p = p

    def predict_proba(self, feats):
        return self.p


def test_inception_score_bounds():
    sure = np.eye(10)[np.arange(100) % 10]
    assert abs(inception_score(_Judge(sure), np.zeros((100, 32, 32))) - 10) < 1e-6
    unsure = np.full((100, 10), 0.1)
    assert abs(inception_score(_Judge(unsure), np.zeros((100, 32, 32))) - 1) < 1e-9

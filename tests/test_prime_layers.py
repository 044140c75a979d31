"""PRIME layers and classifier: only scores train, exact mask density, straight-through gradient,
shipped-mask round trip, early stop behaviour, N-MNIST reader round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from evrt.backends import make_backend
from evrt.errors import FormatError
from evrt.events import make_events
from evrt.models.prime.classifier import PrimeClassifier, logits_full
from evrt.models.prime.infer import classify, load_prime, save_masks
from evrt.models.prime.layers import PrunedConv2d, PrunedLinear, export_masks, pruned_layers
from evrt.models.prime.nmnist import decode_nmnist, encode_nmnist, read_nmnist, write_nmnist


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _spikes(t: int = 4, b: int = 6, rate: float = 0.2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(t, b, 2, 34, 34, generator=g) < rate).float()


def test_only_scores_change_in_training():
    model = PrimeClassifier(seed=3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["conv1.scores", "conv2.scores", "fc.scores"]
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x, y = _spikes(), torch.arange(6) % 10
    for _ in range(3):
        loss = F.cross_entropy(logits_full(model, x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = dict(model.named_parameters())
    for name, p in after.items():
        if name.endswith("weight"):
            assert torch.equal(p, before[name]), name                 # bit-identical
            assert p.grad is None, name
        else:
            assert not torch.equal(p, before[name]), name             # the scores did move


def test_device_weights_follow_the_configured_distribution():
    g = torch.Generator().manual_seed(0)
    fc = PrunedLinear(2304, 100, generator=g)
    w = fc.weight.detach()
    assert abs(float(w.std()) - 6.35 * 0.01) < 0.002
    assert abs(float(w.mean())) < 0.001
    # the same seed draws the same devices
    assert torch.equal(PrimeClassifier(seed=5).fc.weight, PrimeClassifier(seed=5).fc.weight)
    assert not torch.equal(PrimeClassifier(seed=5).fc.weight, PrimeClassifier(seed=6).fc.weight)


@pytest.mark.parametrize("keep", [0.5, 0.3, 0.9])
def test_mask_density_equals_keep_per_layer(keep):
    model = PrimeClassifier(keep=keep)
    for name, layer in pruned_layers(model):
        m = layer.mask()
        assert set(torch.unique(m).tolist()) <= {0.0, 1.0}
        assert int(m.sum()) == round(keep * m.numel()), name
        # the kept entries are exactly the largest |score|
        s = layer.scores.detach().abs().flatten()
        kept = s[m.flatten() > 0]
        dropped = s[m.flatten() == 0]
        assert kept.min() >= dropped.max()
        ew = layer.effective_weight()
        assert torch.equal(ew, layer.weight * m)


def test_straight_through_gradient_reaches_the_scores():
    g = torch.Generator().manual_seed(1)
    conv = PrunedConv2d(2, 4, 3, generator=g, keep=0.5, step_mode="s")
    x = torch.rand(3, 2, 8, 8)
    out = conv(x)
    grad_out = torch.randn_like(out)
    (out * grad_out).sum().backward()
    # d(out)/d(W_eff) from the plain convolution, then STE: dL/ds = sign(s) * dL/dW_eff * W
    w_eff = (conv.weight * conv.mask()).detach().requires_grad_(True)
    (F.conv2d(x, w_eff) * grad_out).sum().backward()
    expected = torch.sign(conv.scores.detach()) * w_eff.grad * conv.weight.detach()
    assert torch.allclose(conv.scores.grad, expected, atol=1e-6)
    # pruned positions get a gradient too (straight through), not only the kept ones
    assert conv.scores.grad[conv.mask() == 0].abs().sum() > 0


def test_shipped_mask_file_round_trip(tmp_path):
    model = PrimeClassifier(seed=11)
    with torch.no_grad():
        for _, layer in pruned_layers(model):
            layer.scores.normal_()
    path = save_masks(model, tmp_path / "m.npz", {"test_acc": 0.5})
    assert path.stat().st_size < 20_000     # about one bit per weight (42 k weights), compressed
    loaded, meta = load_prime(path)
    assert meta["info"]["test_acc"] == 0.5
    for name, m in export_masks(model).items():
        assert torch.equal(export_masks(loaded)[name], m)
    x = _spikes()
    model.eval()
    with torch.no_grad():
        assert torch.equal(logits_full(model, x), logits_full(loaded, x))


def test_early_stop_threshold_one_equals_full_run_and_low_threshold_stops_at_step_one():
    model = PrimeClassifier(seed=2)
    model.eval()
    x = _spikes(t=6, b=8)
    with torch.no_grad():
        full = logits_full(model, x)
    res = classify(model, x, backend=make_backend("digital"), threshold=1.0)
    assert res.steps.tolist() == [6] * 8
    assert torch.allclose(res.outputs, full, atol=1e-5)
    assert torch.equal(res.prediction, full.argmax(1))
    # any max-softmax over 10 classes is >= 0.1: threshold 0.1 stops every sample at step 1
    res1 = classify(model, x, threshold=0.1)
    assert res1.steps.tolist() == [1] * 8
    with torch.no_grad():
        one = logits_full(model, x[:1])
    assert torch.allclose(res1.outputs, one, atol=1e-5)


def test_early_stop_samples_run_independently_of_the_batch():
    """A sample's steps and answer do not depend on which others share its batch."""
    model = PrimeClassifier(seed=4)
    x = _spikes(t=8, b=6, rate=0.3)
    together = classify(model, x, threshold=0.35, temperature=0.5)
    for i in range(6):
        alone = classify(model, x[:, i:i + 1], threshold=0.35, temperature=0.5)
        assert int(alone.steps[0]) == int(together.steps[i])
        assert torch.allclose(alone.outputs[0], together.outputs[i], atol=1e-5)


def test_crossbar_programs_the_masked_weights():
    model = PrimeClassifier(seed=2)
    model.eval()
    xb = make_backend("crossbar")
    x = _spikes(t=3, b=4)
    res_x = classify(model, x, backend=xb, threshold=1.0)
    res_d = classify(model, x, backend=make_backend("digital"), threshold=1.0)
    assert torch.allclose(res_x.outputs, res_d.outputs, atol=1e-3)   # ideal crossbar == digital
    g_pos, g_neg = xb.conductances("fc")
    diff = (g_pos - g_neg).T                                            # (N, K)
    mask = model.fc.mask() > 0
    assert torch.all(diff[~mask].abs() < 1e-6)                           # pruned devices: no current
    assert torch.all(diff[mask & (model.fc.weight.abs() > 1e-3)].abs() > 0)


def test_nmnist_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    n = 5000
    t = np.sort(rng.integers(0, (1 << 23) - 1, n))
    ev = make_events(t, rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n))
    path = tmp_path / "00001.bin"
    write_nmnist(path, ev)
    assert path.stat().st_size == 5 * n
    back = read_nmnist(path)
    for f in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(back[f], ev[f])
    assert back.tobytes() == ev.tobytes()         # padding bytes zeroed too


def test_nmnist_bit_layout_and_errors(tmp_path):
    # x=3, y=33, ON, t = 0x412345 µs: byte 2 = 0x80 | 0x41
    raw = bytes([3, 33, 0xC1, 0x23, 0x45])
    ev = decode_nmnist(raw)
    assert (int(ev["x"][0]), int(ev["y"][0]), int(ev["p"][0]), int(ev["t"][0])) == (3, 33, 1, 0x412345)
    assert encode_nmnist(ev) == raw
    bad = tmp_path / "bad.bin"
    bad.write_bytes(raw + b"\x01\x02")
    with pytest.raises(FormatError, match="5-byte"):
        read_nmnist(bad)


def test_training_reads_an_nmnist_folder(tmp_path):
    """`[data] kind = "nmnist"`: the trainer reads Train/<digit>/*.bin through the reader."""
    from evrt.models.prime.train import load_config, train

    rng = np.random.default_rng(1)
    for split in ("Train", "Test"):
        for digit in (0, 1):
            d = tmp_path / "nmnist" / split / str(digit)
            d.mkdir(parents=True)
            for k in range(2):
                n = 400
                t = np.sort(rng.integers(0, 300_000, n))
                x = rng.integers(0, 17, n) + 17 * digit       # digit 0 left half, 1 right half
                write_nmnist(d / f"{k:05d}.bin", make_events(t, x, rng.integers(0, 34, n),
                                                             rng.integers(0, 2, n)))
    cfg = load_config({"model": {"classes": 2}, "data": {"kind": "nmnist",
                                                          "root": str(tmp_path / "nmnist"),
                                                          "steps": 3},
                       "train": {"epochs": 1, "batch_size": 2, "out": str(tmp_path / "run")}})
    result = train(cfg, tmp_path / "run", progress=False)
    assert result["train_samples"] == 4 and result["test_samples"] == 4
    assert 0.0 <= result["test_acc"] <= 1.0
    assert (tmp_path / "run" / "last.pt").is_file()


def test_step_weighted_loss_uniform_equals_plain_mean_and_large_power_reads_step_one():
    from evrt.models.prime.train import classification_loss
    from evrt.snn.functional import reset_net, set_step_mode

    model = PrimeClassifier(seed=5)
    x, y = _spikes(t=4, b=3, rate=0.3), torch.tensor([1, 4, 7])
    set_step_mode(model, "m")
    reset_net(model)
    with torch.no_grad():
        v = model(x)
    running = v.cumsum(0) / torch.arange(1, 5, dtype=v.dtype)[:, None, None]
    per_step = [float(F.cross_entropy(running[t] / 2, y)) for t in range(4)]
    with torch.no_grad():
        uniform = classification_loss(model, x, y, "per_step", 2.0, 0.0)[1]
        early = classification_loss(model, x, y, "per_step", 2.0, 30.0)[1]
        w = torch.arange(1, 5, dtype=torch.float64) ** -1.0
        one = classification_loss(model, x, y, "per_step", 2.0, 1.0)[1]
    assert float(uniform) == pytest.approx(np.mean(per_step), rel=1e-5)
    assert float(early) == pytest.approx(per_step[0], rel=1e-4)      # 1/t^30: step 1 only
    assert float(one) == pytest.approx(float((torch.tensor(per_step, dtype=torch.float64)
                                               * w / w.sum()).sum()), rel=1e-5)

"""Early stop: never more than T steps, stops at once when confident, full run at threshold 1."""

from __future__ import annotations

import math

import pytest
import torch

from evrt.backends import BackendLinear, make_backend, use_backend
from evrt.backends.early_stop import (
    ConfidencePolicy,
    ConvergencePolicy,
    EarlyStopController,
    EntropyPolicy,
    MarginPolicy,
    run_with_early_stop,
)


def logits_stream(B=32, T=10, C=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(B, C, generator=g) * torch.linspace(0.0, 6.0, B)[:, None]
    return base[None] + torch.randn(T, B, C, generator=g)   # (T, B, C)


def recorder(stream):
    calls = []

    def step_fn(t, active):
        calls.append((t, active.clone()))
        return stream[t, active]

    return step_fn, calls


@pytest.mark.parametrize("policy", [ConfidencePolicy(0.8), ConfidencePolicy(0.999),
                                    MarginPolicy(0.6), EntropyPolicy(0.2)])
def test_never_more_than_T_and_finished_samples_dropped(policy):
    stream = logits_stream()
    step_fn, calls = recorder(stream)
    res = run_with_early_stop(step_fn, 10, policy, 32)
    assert len(calls) <= 10 and int(res.steps.max()) <= 10 and int(res.steps.min()) >= 1
    for i in range(32):   # sample i is passed exactly at steps 0 .. steps[i]-1
        seen = [t for t, active in calls if i in active.tolist()]
        assert seen == list(range(int(res.steps[i])))
    # the answer is the time-mean of the steps the sample ran
    for i in range(32):
        mean = stream[: int(res.steps[i]), i].mean(0)
        assert torch.allclose(res.outputs[i], mean, atol=1e-6)
        assert int(res.prediction[i]) == int(mean.argmax())
    assert torch.allclose(res.compute_saved, 1 - res.steps.double() / 10)


def test_stops_at_step_one_when_already_confident():
    stream = logits_stream()
    stream[:, :4] = 0.0
    stream[:, :4, 3] = 20.0       # softmax(20/2) over 10 classes: p_top ~ 0.9996 from step 1
    res = run_with_early_stop(lambda t, a: stream[t, a], 10, ConfidencePolicy(0.8), 32)
    assert torch.all(res.steps[:4] == 1)
    assert torch.all(res.prediction[:4] == 3)
    assert torch.all(res.score[:4] >= 0.8)


def test_threshold_one_equals_full_run():
    stream = logits_stream()
    stream[:, 0] = 0.0
    stream[:, 0, 1] = 1000.0       # softmax is exactly 1.0 in float32: still must not stop
    res = run_with_early_stop(lambda t, a: stream[t, a], 10, ConfidencePolicy(1.0), 32)
    assert torch.all(res.steps == 10)
    assert torch.equal(res.prediction, stream.mean(0).argmax(1))
    assert not bool(res.stopped_early.any())


def test_batched_equals_one_by_one():
    stream = logits_stream(B=12, seed=5)
    policy = ConfidencePolicy(0.7, temperature=2.0)
    batched = run_with_early_stop(lambda t, a: stream[t, a], 10, policy, 12)
    for i in range(12):
        alone = run_with_early_stop(lambda t, a, i=i: stream[t, i:i + 1], 10, policy, 1)
        assert int(alone.steps[0]) == int(batched.steps[i])
        assert int(alone.prediction[0]) == int(batched.prediction[i])


def test_confidence_matches_prime_rule():
    stream = logits_stream(B=16, seed=7)
    res = run_with_early_stop(lambda t, a: stream[t, a], 10, ConfidencePolicy(0.8, 2.0), 16)
    for i in range(16):
        conf = [float(torch.softmax(stream[: t + 1, i].mean(0) / 2.0, 0).max()) for t in range(10)]
        first = next((t + 1 for t, c in enumerate(conf) if c >= 0.8), 10)
        assert int(res.steps[i]) == first


def test_margin_and_entropy_rules():
    stream = logits_stream(B=16, seed=9)
    m = run_with_early_stop(lambda t, a: stream[t, a], 10, MarginPolicy(0.5, 1.0), 16)
    e = run_with_early_stop(lambda t, a: stream[t, a], 10, EntropyPolicy(0.4, 1.0), 16)
    for i in range(16):
        ps = [torch.softmax(stream[: t + 1, i].mean(0), 0) for t in range(10)]
        top = [p.topk(2).values for p in ps]
        first_m = next((t + 1 for t, v in enumerate(top) if float(v[0] - v[1]) >= 0.5), 10)
        ent = [float(-(p * p.log()).sum()) / math.log(10) for p in ps]
        first_e = next((t + 1 for t, h in enumerate(ent) if h <= 0.4), 10)
        assert int(m.steps[i]) == first_m
        assert int(e.steps[i]) == first_e


def test_convergence_policy_dense_outputs():
    # sample b converges geometrically with rate r_b: change at step t is (1 - r) r^t
    rates = torch.tensor([0.2, 0.5, 0.9])
    target = torch.ones(3, 4, 4)

    def step_fn(t, active):
        r = rates[active][:, None, None]
        return target[active] * (1 - r ** (t + 1))

    tol, k = 1e-2, 2
    res = run_with_early_stop(step_fn, 16, ConvergencePolicy(tol=tol, k=k), 3)
    for b, r in enumerate(rates.tolist()):
        changes = [(1 - r) * r ** t for t in range(1, 16)]  # change observed at step t+1
        streak, stop = 0, 16
        for t, ch in enumerate(changes, start=2):
            streak = streak + 1 if ch <= tol else 0
            if streak >= k:
                stop = t
                break
        assert int(res.steps[b]) == stop
    assert res.prediction is None
    assert torch.allclose(res.outputs[0], target[0] * (1 - 0.2 ** int(res.steps[0])))


def test_stateful_step_with_keep_and_energy():
    # a tiny spiking-style model whose membrane state must follow the active samples
    torch.manual_seed(0)
    fc = BackendLinear(20, 5, bias=False, spikes=True)
    xb = make_backend("crossbar", tile_rows=8, tile_cols=4)
    use_backend(fc, xb)
    x = (torch.rand(10, 6, 20) < 0.5).float()
    x[:, 0] = 0
    x[:, 0, :3] = 1                # sample 0 repeats one pattern: confident early
    v = torch.zeros(6, 5)

    def step_fn(t, active, keep):
        nonlocal v
        v = v[keep]
        assert v.shape[0] == active.numel()
        v = 0.8 * v + fc(x[t, active]).detach()
        return v * 10

    res = run_with_early_stop(step_fn, 10, ConfidencePolicy(0.9), 6, backend=xb)
    assert res.energy_kind == "crossbar"
    total = energy_total(xb)
    assert float(res.energy_pj.sum()) == pytest.approx(total, rel=1e-9)
    assert torch.all(res.energy_saved_pj >= 0)
    assert xb.counters["sample_steps"] == int(res.steps.sum())
    assert xb.counters["timesteps"] == int(res.steps.max())
    # saved energy is zero exactly for the samples that ran all T steps
    assert torch.all((res.energy_saved_pj == 0) == (res.steps == 10))
    preds = res.predictions(stream="cls", t_start=5, t_end=9)
    assert [p.timesteps for p in preds] == res.steps.tolist()
    assert all(p.timesteps_max == 10 for p in preds)


def energy_total(backend):
    from evrt.backends.energy import energy_report

    return energy_report(backend, inferences=1).crossbar_per_inference_pj


def test_streaming_controller_step_by_step():
    stream = logits_stream(B=8, seed=3)
    ctl = EarlyStopController(ConfidencePolicy(0.8), T=10, batch_size=8, min_steps=2)
    finished_order = []
    while not ctl.done:
        finished_order += ctl.step(stream[ctl.t, ctl.active]).tolist()
    res = ctl.result()
    assert sorted(finished_order) == list(range(8))
    assert int(res.steps.min()) >= 2
    with pytest.raises(RuntimeError):
        ctl.step(stream[0, :0])
    with pytest.raises(ValueError):
        EarlyStopController(ConfidencePolicy(), T=10, batch_size=2).step(torch.zeros(3, 10))

"""The `device` setting: training tables, model nodes, CLI; CUDA runs match the CPU (GPU only)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from evrt.cli import main as evrt_main
from evrt.devices import check_device, resolve_device, to_cpu
from evrt.errors import ConfigError

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device here")


# ------------------------------------------------------------------ the setting itself


@pytest.mark.parametrize("value", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_values_are_accepted_by_the_check(value):
    assert check_device(value) == value


@pytest.mark.parametrize("value", ["gpu", "CUDA", "cuda:", "cuda:x", "mps", "", 0, None])
def test_bad_device_values_name_the_key(value):
    with pytest.raises(ConfigError, match="train.device") as info:
        resolve_device(value, "train.device")
    assert info.value.key == "train.device"


def test_auto_resolves_to_cuda_only_when_torch_sees_a_gpu():
    assert resolve_device("auto") == torch.device("cuda" if CUDA else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(CUDA, reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_is_an_evrt_error_naming_the_key():
    with pytest.raises(ConfigError, match="sees no CUDA device") as info:
        resolve_device("cuda", "device")
    assert info.value.key == "device"


def test_to_cpu_copies_nested_state():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(3))])
    opt.param_groups[0]["params"][0].grad = torch.ones(3)
    opt.step()
    state = to_cpu({"a": [torch.zeros(2), (torch.ones(1), 3)], "opt": opt.state_dict()})
    assert state["a"][1][1] == 3 and state["a"][0].device.type == "cpu"
    assert state["opt"]["state"][0]["exp_avg"].device.type == "cpu"


# ------------------------------------------------------------------ training configs


def test_depth_train_device_key_defaults_to_auto_and_is_validated():
    from evrt.models.depth_train import load_config

    assert load_config({})["train"]["device"] == "auto"
    assert load_config({}, ["train.device=cpu"])["train"]["device"] == "cpu"
    with pytest.raises(ConfigError) as info:
        load_config({}, ["train.device=gpu"])
    assert info.value.key == "train.device"
    with pytest.raises(ConfigError) as info:
        load_config({"train": {"devise": "cpu"}})
    assert info.value.key == "train.devise"


def test_prime_train_device_key_defaults_to_auto_and_is_validated():
    from evrt.models.prime.train import load_config

    assert load_config(None)["train"]["device"] == "auto"
    with pytest.raises(ConfigError) as info:
        load_config({"train": {"device": "tpu"}})
    assert info.value.key == "train.device"


def test_train_commands_reject_a_bad_device(tmp_path, capsys):
    config = tmp_path / "t.toml"
    config.write_text('[train]\ndevice = "gpu"\n')
    assert evrt_main(["train", "depth", "--config", str(config)]) == 2
    assert "train.device" in capsys.readouterr().err
    assert evrt_main(["train", "prime", "--config", str(config)]) == 2
    assert "train.device" in capsys.readouterr().err
    assert evrt_main(["train", "twin", "hp", "--out", str(tmp_path / "x.pt"),
                      "--device", "gpu"]) == 2
    assert "--device" in capsys.readouterr().err


# ------------------------------------------------------------------ nodes


@pytest.mark.parametrize("type_name", ["depth", "prime", "twin"])
def test_model_nodes_take_a_device_and_reject_bad_ones(type_name):
    from evrt.graph import registry

    node = registry.build(type_name, {"device": "auto"}, node="m")
    assert node.device == "auto"
    with pytest.raises(ConfigError) as info:
        registry.build(type_name, {"device": "gpu0"}, node="m")
    assert "device" in str(info.value)


def test_twin_node_on_auto_matches_cpu_here():
    from evrt.messages import TensorMsg
    from evrt.models.twin.node import TwinNode

    msg = TensorMsg(np.sin(np.linspace(0, 3, 50)).astype(np.float32), "v", 0, 500_000,
                    {"dt": 0.01})
    outs = []
    for device in ("cpu", "auto"):
        node = TwinNode(kind="hp", device=device)
        node.open(_Context())
        outs.append(node.process(msg)[0].data)
    if not CUDA:
        assert np.array_equal(outs[0], outs[1])


class _Context:
    """The bits of a NodeContext the model nodes use in open()."""

    def __init__(self) -> None:
        import logging

        self.log = logging.getLogger("test")
        self.name = "m"


# ------------------------------------------------------------------ CUDA == CPU (GPU only)


@pytest.fixture
def strict_fp32():
    """TF32 off: CUDA convolutions/matmuls in full FP32, so thresholds flip as on the CPU."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


@needs_cuda
def test_depth_training_step_on_cuda_matches_cpu(strict_fp32):
    from evrt.models.depth import DepthNet, DepthNetConfig
    from evrt.models.depth_train import _batch_loss

    torch.manual_seed(0)
    cfg = DepthNetConfig(base_channels=4, levels=2, res_blocks=1, timesteps=3, dmax=20.0)
    cpu = DepthNet(cfg)
    gpu = copy.deepcopy(cpu).cuda()
    x = torch.log1p(torch.poisson(torch.full((2, 3, 2, 32, 48), 0.5)))
    d = torch.rand(2, 32, 48) * 15 + 1
    l_cpu = _batch_loss(cpu, x, d, 0.5)
    l_gpu = _batch_loss(gpu, x.cuda(), d.cuda(), 0.5)
    l_cpu.backward()
    l_gpu.backward()
    assert l_gpu.is_cuda and abs(l_gpu.item() - l_cpu.item()) <= 1e-3 * abs(l_cpu.item())
    # a membrane within rounding of the threshold may spike on one device only: compare all
    # gradients together, not element by element
    g_cpu = torch.cat([p.grad.flatten() for p in cpu.parameters()])
    g_gpu = torch.cat([p.grad.flatten() for p in gpu.parameters()])
    assert _rel(g_gpu, g_cpu) < 1e-2


@needs_cuda
def test_depth_train_on_cuda_writes_cpu_checkpoints(tmp_path):
    from test_depth_train import _tiny_sequence

    from evrt.models.depth_infer import load_checkpoint
    from evrt.models.depth_train import load_config, train

    data, gt, _, _ = _tiny_sequence(tmp_path)
    cfg = load_config({"model": {"base_channels": 4, "levels": 2, "res_blocks": 1, "timesteps": 3},
                       "data": {"kind": "mvsec", "train": [{"data": str(data), "gt": str(gt)}],
                                "val": [{"data": str(data), "gt": str(gt)}]},
                       "train": {"epochs": 1, "batch_size": 3, "crop": [16, 16],
                                 "device": "cuda"}})
    best = train(cfg, tmp_path / "run")
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=False)  # no map_location
    tensors = [v for v in ckpt["model"].values()]
    tensors += [v for s in ckpt["optimizer"]["state"].values() for v in s.values()
                if isinstance(v, torch.Tensor)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    model, _ = load_checkpoint(best)
    assert next(model.parameters()).device.type == "cpu"
    train(cfg, tmp_path / "run", resume=True)  # resumes onto the GPU from CPU tensors


@needs_cuda
def test_depth_inference_on_cuda_matches_cpu(strict_fp32):
    from evrt.backends.early_stop import ConvergencePolicy
    from evrt.models.depth_infer import DepthPredictor, load_checkpoint

    model, _ = load_checkpoint("builtin")
    x = torch.log1p(torch.poisson(torch.full((model.cfg.timesteps, 2, 64, 80), 0.3)))
    outs, steps = [], []
    for device in ("cpu", "cuda"):
        p = DepthPredictor(copy.deepcopy(model), early_stop=ConvergencePolicy(tol=1e-4, k=1),
                           device=device)
        y, used = p.predict(x)
        assert y.device.type == device
        outs.append(y.cpu())
        steps.append(used)
    diff = (outs[0] - outs[1]).abs()
    assert steps[0] == steps[1]
    assert float(diff.mean()) < 1e-4 and float((diff > 1e-3).float().mean()) < 0.01


@needs_cuda
def test_prime_training_step_and_inference_on_cuda_match_cpu(strict_fp32):
    from evrt.backends.factory import make_backend
    from evrt.models.prime.classifier import PrimeClassifier, logits_full
    from evrt.models.prime.infer import classify, load_prime
    from evrt.models.prime.train import classification_loss

    torch.manual_seed(0)
    x = (torch.rand(10, 8, 2, 34, 34) < 0.08).float()
    y = torch.randint(0, 10, (8,))
    cpu = PrimeClassifier(seed=7)
    gpu = copy.deepcopy(cpu).cuda()
    _, l_cpu = classification_loss(cpu, x, y, "per_step", 2.0, 1.0)
    _, l_gpu = classification_loss(gpu, x.cuda(), y.cuda(), "per_step", 2.0, 1.0)
    l_cpu.backward()
    l_gpu.backward()
    assert abs(l_gpu.item() - l_cpu.item()) <= 1e-3 * abs(l_cpu.item())
    assert _rel(gpu.conv1.scores.grad, cpu.conv1.scores.grad) < 5e-2

    model, _ = load_prime("builtin")
    model_gpu = copy.deepcopy(model).cuda()
    with torch.no_grad():
        a, b = logits_full(model, x), logits_full(model_gpu, x.cuda())
    assert b.is_cuda and float((a - b.cpu()).abs().mean()) < 1e-3 * float(a.abs().max())
    assert float((a.argmax(1) == b.cpu().argmax(1)).float().mean()) >= 0.875
    for backend in ("digital", "crossbar"):
        r_cpu = classify(model, x, backend=make_backend(backend))
        r_gpu = classify(model_gpu, x.cuda(), backend=make_backend(backend))
        assert r_gpu.outputs.is_cuda
        assert float((r_cpu.prediction == r_gpu.prediction).float().mean()) >= 0.875
        assert abs(float(r_cpu.steps.double().mean() - r_gpu.steps.double().mean())) <= 0.5


@needs_cuda
def test_twin_training_and_node_on_cuda_match_cpu(tmp_path):
    from evrt.messages import TensorMsg
    from evrt.models.twin import twins
    from evrt.models.twin.node import TwinNode

    cfg = twins.config_for("hp", pretrain_iters=30, iters=3, n_random_train=2)
    a = twins.train("hp", cfg, device="cpu")
    b = twins.train("hp", cfg, device="cuda")
    assert abs(a.info["final_loss"] - b.info["final_loss"]) <= 1e-3 * a.info["final_loss"] + 1e-9
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values(),
                            strict=True):
        assert q.is_cuda and float((p - q.cpu()).abs().max()) < 1e-3, name
    b.save(tmp_path / "hp.pt")
    assert twins.load(tmp_path / "hp.pt").kind == "hp"  # loads on the CPU

    msg = TensorMsg(np.sin(np.linspace(0, 3, 50)).astype(np.float32), "v", 0, 500_000,
                    {"dt": 0.01})
    outs = []
    for device in ("cpu", "cuda"):
        node = TwinNode(kind="hp", device=device)
        node.open(_Context())
        outs.append(node.process(msg)[0].data)
        outs.append(node.process(msg)[0].data)  # the state carries on the device
    assert np.abs(outs[0] - outs[2]).max() < 1e-4 and np.abs(outs[1] - outs[3]).max() < 1e-4

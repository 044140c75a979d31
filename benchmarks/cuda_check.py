"""CUDA paths vs the CPU, in one run: MSS-DepthNet, PRIME, the twins, the crossbar backend.

    PYTHONUNBUFFERED=1 python3 benchmarks/cuda_check.py --out DIR [--device cuda] [--quick]
        [--only depth,prime,twin,crossbar]

For each model, from the same initial weights and the same batch on the device under test
(`--device`, default cuda) and on the CPU:

(a) a few training steps: losses, max |grad| and max |param| differences;
(b) inference latency (batch 1 and 16; warm-up, then median and p90 of N timed runs, with
    torch.cuda.synchronize() around each), and the node path (batch 1, early stop);
(c) outputs on the device vs the CPU: max abs difference (TF32 off, i.e. strict FP32; the
    depth model also with torch's default TF32 setting);
(d) the crossbar backend (ideal, and noisy: read 0.02, prog 0.005, 8-bit DAC/ADC) vs digital
    on both devices (noisy runs draw from per-device generators, so they are compared by
    their error against digital, not element-wise);
(e) training throughput (samples/s over ~20 steps after warm-up).

Every section catches its own errors (recorded in the JSON, the run goes on). Results go to
OUT/cuda_check.json (written after every section) and OUT/cuda_check.md. `--device cpu`
compares the CPU with itself: a check of the script on a machine without a GPU (use --quick).
Timings of the CPU side use all cores (torch.set_num_threads(os.cpu_count())), recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
NOISY = {"read_noise": 0.02, "prog_noise": 0.005, "dac_bits": 8, "adc_bits": 8}
T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


# ---------------------------------------------------------------- helpers


class Run:
    """Results, written to OUT after every section; errors are recorded, never raised."""

    def __init__(self, out: Path, args: argparse.Namespace) -> None:
        self.out, self.args = out, args
        self.data: dict[str, Any] = {"args": vars(args), "env": {}, "sections": {}, "errors": {}}

    @contextlib.contextmanager
    def section(self, name: str):
        log(f"== {name}")
        start = time.perf_counter()
        store: dict[str, Any] = {}
        self.data["sections"][name] = store
        try:
            yield store
        except Exception as exc:  # noqa: BLE001 - record and go on
            tb = traceback.format_exc()
            self.data["errors"][name] = f"{type(exc).__name__}: {exc}\n{tb}"
            log(f"!! {name} failed: {type(exc).__name__}: {exc}")
            print(tb, flush=True)
        finally:
            store["seconds"] = round(time.perf_counter() - start, 2)
            log(f"== {name} done in {store['seconds']:.1f} s")
            self.save()

    def save(self) -> None:
        self.data["total_seconds"] = round(time.perf_counter() - T0, 1)
        (self.out / "cuda_check.json").write_text(json.dumps(self.data, indent=1, default=_json))
        (self.out / "cuda_check.md").write_text(markdown(self.data))


def _json(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, torch.device):
        return str(o)
    return str(o)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, warmup: int, runs: int) -> dict[str, float]:
    """Median / p90 / min of `runs` timed calls after `warmup` untimed ones, in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    t = np.asarray(times) * 1e3
    return {"median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90)),
            "min_ms": float(t.min()), "runs": runs}


def nruns(device: torch.device, q: bool, cpu: int = 5, gpu: int = 30) -> tuple[int, int]:
    """(warm-up, timed runs): fewer on the CPU, whose side of the comparison is the slow one."""
    if device.type == "cpu":
        return 1, (2 if q else cpu)
    return (1 if q else 3), (5 if q else gpu)


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double().cpu() - b.detach().double().cpu()).abs().max())


def reldiff(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


@contextlib.contextmanager
def tf32(enabled: bool | None):
    """None: torch's defaults; False: strict FP32 convolutions and matmuls."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    if enabled is not None:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def grad_param_diffs(cpu: torch.nn.Module, dut: torch.nn.Module) -> dict[str, float]:
    g_max = g_rel = 0.0
    for p, q in zip(cpu.parameters(), dut.parameters(), strict=True):
        if p.grad is not None and q.grad is not None:
            g_max = max(g_max, maxdiff(q.grad, p.grad))
            g_rel = max(g_rel, reldiff(q.grad, p.grad))
    return {"grad_max_abs_diff": g_max, "grad_max_rel_diff": g_rel}


def param_diff(cpu: torch.nn.Module, dut: torch.nn.Module) -> float:
    return max(maxdiff(q, p) for p, q in zip(cpu.parameters(), dut.parameters(), strict=True))


def compare_steps(make_model, step, batches, devices, lr: float) -> dict[str, Any]:
    """(a): the same init (one CPU draw, deep-copied) and batches on each device; Adam."""
    base = make_model()
    models, opts, losses = {}, {}, {}
    for name, dev in devices.items():
        models[name] = copy.deepcopy(base).to(dev)
        params = [p for p in models[name].parameters() if p.requires_grad]
        opts[name] = torch.optim.Adam(params, lr=lr)
        losses[name] = []
    out: dict[str, Any] = {}
    for k, batch in enumerate(batches):
        for name, dev in devices.items():
            loss = step(models[name], [b.to(dev) for b in batch])
            opts[name].zero_grad()
            loss.backward()
            losses[name].append(float(loss.detach()))
            if k == 0 and name == "dut":
                out.update(grad_param_diffs(models["cpu"], models["dut"]))
            opts[name].step()
    out["loss_cpu"] = losses["cpu"]
    out["loss_dut"] = losses["dut"]
    out["loss_max_rel_diff"] = max(abs(a - b) / max(abs(a), 1e-30)
                                   for a, b in zip(losses["cpu"], losses["dut"], strict=True))
    out["param_max_abs_diff_after"] = param_diff(models["cpu"], models["dut"])
    out["steps"] = len(batches)
    return out


def throughput(model: torch.nn.Module, step, batch_fn, device: torch.device, steps: int,
               lr: float, batch_size: int, warmup: int = 2) -> dict[str, float]:
    """(e): samples/s of forward + backward + Adam over `steps` steps after `warmup`."""
    model = model.to(device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    batches = [[b.to(device) for b in batch_fn(k)] for k in range(warmup + steps)]

    def one(batch):
        loss = step(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for b in batches[:warmup]:
        one(b)
    sync(device)
    start = time.perf_counter()
    for b in batches[warmup:]:
        one(b)
    sync(device)
    sec = time.perf_counter() - start
    return {"samples_per_s": steps * batch_size / sec, "ms_per_step": sec / steps * 1e3,
            "steps": steps, "batch": batch_size}


def throughput_section(run: Run, name: str, make_model, step, batch_fn,
                       devices: dict[str, torch.device], lr: float, batch_size: int,
                       q: bool) -> None:
    """(e) for one model: training throughput on each device (fewer steps on the CPU) and
    the device/CPU speed-up, as section `name`."""
    with run.section(f"{name}.e_train_throughput") as r:
        steps = 3 if q else 20
        for k, d in devices.items():
            r[k] = throughput(make_model(), step, batch_fn, d,
                              steps if d.type != "cpu" else max(2, steps // 4), lr,
                              batch_size, warmup=1 if q else 2)
        r["speedup"] = r["dut"]["samples_per_s"] / r["cpu"]["samples_per_s"]
        log(f"{name} (e): {json.dumps(r)}")


# ---------------------------------------------------------------- environment


def environment(run: Run, dut: torch.device) -> None:
    env = run.data["env"]
    env.update(python=sys.version.split()[0], platform=platform.platform(), torch=torch.__version__,
               numpy=np.__version__, cuda_available=torch.cuda.is_available(),
               torch_cuda=torch.version.cuda, device=str(dut),
               cpu_count=os.cpu_count(), cpu_threads=torch.get_num_threads(),
               tf32_default={"cudnn": torch.backends.cudnn.allow_tf32,
                             "matmul": torch.backends.cuda.matmul.allow_tf32},
               cudnn_benchmark=torch.backends.cudnn.benchmark)
    try:
        import numba

        env["numba"] = numba.__version__
    except Exception as exc:  # noqa: BLE001
        env["numba"] = f"unavailable: {exc}"
    if dut.type == "cuda":
        props = torch.cuda.get_device_properties(dut)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   capability=f"{props.major}.{props.minor}", sms=props.multi_processor_count)
        start = time.perf_counter()
        torch.zeros(1, device=dut)
        sync(dut)
        env["cuda_init_s"] = round(time.perf_counter() - start, 2)
    log(f"env: {json.dumps(env)}")


# ---------------------------------------------------------------- depth


def depth_section(run: Run, dut: torch.device, q: bool) -> None:
    from evrt.backends.base import use_backend
    from evrt.backends.early_stop import ConvergencePolicy
    from evrt.backends.factory import make_backend
    from evrt.models.depth import DepthNet, DepthNetConfig
    from evrt.models.depth_infer import DepthPredictor, load_checkpoint
    from evrt.models.depth_scene_data import one_scene
    from evrt.models.depth_train import _batch_loss, _random_crop, load_config
    from evrt.snn.functional import reset_net

    devices = {"cpu": torch.device("cpu"), "dut": dut}
    shipped, ckpt = load_checkpoint("builtin")
    data = {**ckpt["train_config"]["data"], "cache": ""}
    samples = []
    for scene in ((2000,) if q else (2000, 2001)):
        log(f"depth: simulating scene {scene}")
        samples += one_scene(scene, data, shipped.cfg.timesteps)
    x_all = np.stack([s[0] for s in samples]).astype(np.float32)   # [N, T, 2, H, W]
    d_all = np.stack([s[1] for s in samples]).astype(np.float32)
    n16 = min(16, len(x_all))
    log(f"depth: {len(x_all)} samples of {x_all.shape[1:]}")

    cfg = load_config(REPO / "configs" / "depth_train.toml")
    tr = cfg["train"]
    mcfg = DepthNetConfig.from_dict(cfg["model"])
    crop = tuple(int(c) for c in tr["crop"])
    bs = int(tr["batch_size"])
    rng = np.random.default_rng(0)

    def batch(k: int):
        idx = [(k * bs + i) % len(x_all) for i in range(bs)]
        pairs = [_random_crop(x_all[i], d_all[i], crop, rng) for i in idx]
        return [torch.from_numpy(np.stack([p[0] for p in pairs])),
                torch.from_numpy(np.stack([p[1] for p in pairs]))]

    def make_model():
        torch.manual_seed(0)
        return DepthNet(mcfg, spiking=bool(tr["spiking"]))

    def step(model, b):
        return _batch_loss(model, b[0], b[1], float(tr["step_weight"]))

    with run.section("depth.a_train_steps") as r:
        with tf32(False):
            r.update(compare_steps(make_model, step, [batch(k) for k in range(3)], devices,
                                   float(tr["lr"])))
        r["batch"], r["crop"] = bs, list(crop)
        log(f"depth (a): {r}")

    with run.section("depth.b_c_inference") as r:
        models = {n: copy.deepcopy(shipped).to(d).eval() for n, d in devices.items()}
        outs = {}
        for tf in (False, None):
            with tf32(tf), torch.no_grad():
                for n, d in devices.items():
                    x = torch.from_numpy(x_all[:n16]).transpose(0, 1).to(d)
                    reset_net(models[n])
                    outs[(n, tf)] = models[n](x)[-1].cpu()
        r["c_log_depth_max_abs_diff_fp32"] = maxdiff(outs[("dut", False)], outs[("cpu", False)])
        r["c_log_depth_max_abs_diff_tf32_default"] = maxdiff(outs[("dut", None)],
                                                             outs[("cpu", None)])
        metres = {k: shipped.depth(v) for k, v in outs.items()}
        r["c_depth_m_max_abs_diff_fp32"] = maxdiff(metres[("dut", False)], metres[("cpu", False)])
        r["c_depth_m_mean_abs_diff_fp32"] = float(
            (metres[("dut", False)] - metres[("cpu", False)]).abs().mean())
        r["samples"] = n16
        lat = {}
        for n, d in devices.items():
            for b in (1, n16):
                x = torch.from_numpy(x_all[:b]).transpose(0, 1).to(d)

                def fwd(model=models[n], x=x):
                    with torch.no_grad():
                        reset_net(model)
                        model(x)

                lat[f"{n}_batch{b}"] = timed(fwd, d, *nruns(d, q))
                lat[f"{n}_batch{b}"]["per_sample_ms"] = lat[f"{n}_batch{b}"]["median_ms"] / b
            pred = DepthPredictor(models[n], early_stop=ConvergencePolicy(tol=0.005, k=1),
                                  device=d)
            x1 = x_all[0]
            lat[f"{n}_node_path_batch1_early_stop"] = timed(lambda p=pred, x1=x1: p.predict(x1), d,
                                                            *nruns(d, q, 5, 20))
        r["b_latency"] = lat
        r["b_shape"] = list(x_all.shape[1:])
        log(f"depth (b, c): {json.dumps(r)}")

    with run.section("depth.d_crossbar") as r:
        b = 2
        for label, spec in (("digital", None), ("crossbar_ideal", {}), ("crossbar_noisy", NOISY)):
            row = {}
            for n, d in devices.items():
                model = copy.deepcopy(shipped).to(d).eval()
                backend = make_backend("digital") if spec is None else make_backend("crossbar",
                                                                                     **spec)
                use_backend(model, backend)
                x = torch.from_numpy(x_all[:b]).transpose(0, 1).to(d)
                with torch.no_grad(), tf32(False):
                    reset_net(model)
                    row[f"{n}_out"] = model(x)[-1].cpu()

                def fwd(model=model, x=x):
                    with torch.no_grad():
                        reset_net(model)
                        model(x)

                # the output run above was the warm-up
                row[f"{n}_latency"] = timed(fwd, d, 0, 2 if q or d.type == "cpu" else 10)
            r[label] = {"batch": b, "cpu_latency": row["cpu_latency"],
                        "dut_latency": row["dut_latency"],
                        "dut_vs_cpu_max_abs_diff": maxdiff(row["dut_out"], row["cpu_out"])}
            r.setdefault("_outs", {})[label] = row
        outs = r.pop("_outs")
        for label in ("crossbar_ideal", "crossbar_noisy"):
            for n in devices:
                r[label][f"{n}_mean_abs_err_vs_digital"] = float(
                    (outs[label][f"{n}_out"] - outs["digital"][f"{n}_out"]).abs().mean())
        log(f"depth (d): {json.dumps(r)}")

    throughput_section(run, "depth", make_model, step, batch, devices, float(tr["lr"]), bs, q)


# ---------------------------------------------------------------- PRIME


def prime_section(run: Run, dut: torch.device, q: bool) -> None:
    from evrt.backends.factory import make_backend
    from evrt.models.prime.classifier import build_classifier, logits_full
    from evrt.models.prime.data import encode
    from evrt.models.prime.infer import classify, load_prime, predict_full
    from evrt.models.prime.train import classification_loss, load_config, model_kwargs
    from evrt.sources.synthetic.digits import DigitsSaccades

    devices = {"cpu": torch.device("cpu"), "dut": dut}
    cfg = load_config(REPO / "configs" / "prime_train.toml")
    tr = cfg["train"]
    n = 32 if q else 96
    ds = DigitsSaccades("test", seed=0)
    log(f"prime: simulating {n} digits_saccades test samples")
    xs, ys = [], []
    for i in range(n):
        ev, label = ds[i]
        xs.append(encode(ev, cfg["data"]["steps"]))
        ys.append(label)
    x_all = np.stack(xs).astype(np.float32)      # [N, T, 2, 34, 34]
    y_all = np.asarray(ys, np.int64)
    bs = int(tr["batch_size"])

    def batch(k: int):
        idx = [(k * bs + i) % n for i in range(bs)]
        return [torch.from_numpy(x_all[idx]).transpose(0, 1).contiguous(),
                torch.from_numpy(y_all[idx])]

    def make_model():
        return build_classifier(cfg["model"]["kind"], **model_kwargs(cfg["model"]))

    def step(model, b):
        model.train()
        return classification_loss(model, b[0], b[1], tr["loss"], tr["temperature"],
                                   tr["step_weight_power"])[1]

    with run.section("prime.a_train_steps") as r:
        with tf32(False):
            r.update(compare_steps(make_model, step, [batch(k) for k in range(3)], devices,
                                   float(tr["lr"])))
        r["batch"] = bs
        log(f"prime (a): {r}")

    with run.section("prime.b_c_inference") as r:
        shipped, _ = load_prime("builtin")
        models = {k: copy.deepcopy(shipped).to(d).eval() for k, d in devices.items()}
        with tf32(False), torch.no_grad():
            logits = {k: logits_full(models[k], torch.from_numpy(x_all).transpose(0, 1).to(d)).cpu()
                      for k, d in devices.items()}
        preds = {k: predict_full(models[k], x_all) for k in devices}
        r["c_logits_max_abs_diff"] = maxdiff(logits["dut"], logits["cpu"])
        r["c_prediction_agreement"] = float((preds["dut"] == preds["cpu"]).mean())
        r["c_accuracy"] = {k: float((preds[k] == y_all).mean()) for k in devices}
        r["samples"] = n
        lat = {}
        for k, d in devices.items():
            for b in (1, 16, 64):
                x = torch.from_numpy(x_all[:b]).transpose(0, 1).contiguous().to(d)

                def fwd(model=models[k], x=x):
                    with torch.no_grad():
                        logits_full(model, x)

                lat[f"{k}_batch{b}"] = timed(fwd, d, *nruns(d, q))
                lat[f"{k}_batch{b}"]["per_sample_ms"] = lat[f"{k}_batch{b}"]["median_ms"] / b
            x1 = torch.from_numpy(x_all[:1]).transpose(0, 1).contiguous().to(d)
            backend = make_backend("digital")
            lat[f"{k}_node_path_batch1_early_stop_0.8"] = timed(
                lambda m=models[k], x1=x1, be=backend: classify(m, x1, backend=be, threshold=0.8),
                d, *nruns(d, q, 10, 30))
        r["b_latency"] = lat
        es = {k: classify(models[k], torch.from_numpy(x_all).transpose(0, 1).to(d),
                          backend=make_backend("digital"), threshold=0.8)
              for k, d in devices.items()}
        r["c_early_stop_steps_equal"] = bool(torch.equal(es["cpu"].steps, es["dut"].steps))
        r["c_early_stop_mean_steps"] = {k: float(v.steps.double().mean()) for k, v in es.items()}
        log(f"prime (b, c): {json.dumps(r)}")

    with run.section("prime.d_crossbar") as r:
        shipped, _ = load_prime("builtin")
        b = 32
        for label, spec in (("digital", None), ("crossbar_ideal", {}), ("crossbar_noisy", NOISY)):
            row: dict[str, Any] = {}
            for k, d in devices.items():
                model = copy.deepcopy(shipped).to(d).eval()
                backend = make_backend("digital") if spec is None else make_backend("crossbar",
                                                                                     **spec)
                x = torch.from_numpy(x_all[:b]).transpose(0, 1).contiguous().to(d)
                res = classify(model, x, backend=backend, threshold=1.0)
                row[f"{k}_accuracy"] = float((res.prediction.numpy() == y_all[:b]).mean())
                row[f"{k}_outputs"] = res.outputs.cpu()
                row[f"{k}_latency"] = timed(
                    lambda m=model, x=x, be=backend: classify(m, x, backend=be, threshold=1.0),
                    d, 0, 2 if q or d.type == "cpu" else 10)  # the run above warmed up
            r[label] = {"batch": b, "cpu_accuracy": row["cpu_accuracy"],
                        "dut_accuracy": row["dut_accuracy"], "cpu_latency": row["cpu_latency"],
                        "dut_latency": row["dut_latency"],
                        "dut_vs_cpu_max_abs_diff": maxdiff(row["dut_outputs"], row["cpu_outputs"])}
        log(f"prime (d): {json.dumps(r)}")

    throughput_section(run, "prime", make_model, step, batch, devices, float(tr["lr"]), bs, q)


# ---------------------------------------------------------------- twins


def twin_section(run: Run, dut: torch.device, q: bool) -> None:
    from evrt.backends import make_backend, use_backend
    from evrt.models.twin import hp_memristor as hp
    from evrt.models.twin import lorenz96 as l96
    from evrt.models.twin import twins
    from evrt.models.twin.node_ode import odeint_fixed

    devices = {"cpu": torch.device("cpu"), "dut": dut}
    for kind in ("hp", "lorenz96"):
        with run.section(f"twin.{kind}.a_e_train") as r:
            pre, its = (30, 3) if q else (300, 30)
            extra = {"n_random_train": 4} if kind == "hp" else {"train_time": 20.0}
            cfg = twins.config_for(kind, pretrain_iters=pre, iters=its, **extra)
            trained, rates = {}, {}
            for k, d in devices.items():
                marks: dict[str, list[float]] = {"pretrain": [], "solver": []}

                def progress(stage, it, total, loss, marks=marks, d=d):
                    sync(d)
                    marks[stage].append(time.perf_counter())

                trained[k] = twins.train(kind, cfg, progress, device=d)
                rates[k] = {stage: (len(m) - 1) / (m[-1] - m[0]) if len(m) > 1 else None
                            for stage, m in marks.items()}
            r.update(pretrain_iters=pre, solver_iters=its,
                     pretrain_batch=1024 if kind == "hp" else 256, solver_batch=cfg.batch,
                     iters_per_s=rates,
                     final_loss={k: t.info["final_loss"] for k, t in trained.items()},
                     pretrain_loss={k: t.info["pretrain_loss"] for k, t in trained.items()},
                     param_max_abs_diff_after=param_diff(trained["cpu"].model,
                                                         trained["dut"].model))
            for stage in ("pretrain", "solver"):
                c, g = rates["cpu"][stage], rates["dut"][stage]
                r[f"{stage}_speedup"] = g / c if c and g else None
            log(f"twin {kind} (a, e): {json.dumps(r)}")

        with run.section(f"twin.{kind}.b_c_d_inference") as r:
            twin = twins.load(kind=kind)
            cfg = twin.cfg
            steps = 400
            t_full = torch.arange(steps + 1, dtype=torch.float32) * cfg.dt
            if kind == "hp":
                x0 = twins.hp_x0(16, 5)
                drives = [hp.Sine(0.5 + 0.07 * i, 0.3 + 0.1 * i) for i in range(16)]
                v = np.stack([dr.voltage(t_full.numpy().astype(float)) for dr in drives])
                h0_all = torch.tensor(x0[:, None], dtype=torch.float32)
                u_all = torch.tensor(v, dtype=torch.float32)[..., None]
            else:
                x0 = l96.initial_state(cfg.n, cfg.forcing, batch=16, seed=4242, dt=cfg.dt)
                h0_all = torch.tensor(x0, dtype=torch.float32)
                u_all = None
            models = {k: copy.deepcopy(twin.model).to(d).eval() for k, d in devices.items()}

            def solve(k, b, n_steps, model=None, models=models, h0_all=h0_all, u_all=u_all,
                      t_full=t_full):
                d = devices[k]
                u = None if u_all is None else u_all[:b, :n_steps + 1].to(d)
                return odeint_fixed(model or models[k], h0_all[:b].to(d),
                                    t_full[:n_steps + 1].to(d), u, method="rk4")

            with torch.no_grad(), tf32(False):
                preds = {k: solve(k, 16, steps).cpu() for k in devices}
            r["c_max_abs_diff_50_steps"] = maxdiff(preds["dut"][:, :51], preds["cpu"][:, :51])
            r["c_max_abs_diff_400_steps"] = maxdiff(preds["dut"], preds["cpu"])
            lat = {}
            for k, d in devices.items():
                for b, n_steps, name in ((1, 50, "node_message_batch1_50steps"),
                                         (16, 200, "batch16_200steps")):
                    def fwd(k=k, b=b, n_steps=n_steps, solve=solve):
                        with torch.no_grad():
                            solve(k, b, n_steps)

                    lat[f"{k}_{name}"] = timed(fwd, d, 1, 3 if q or d.type == "cpu" else 10)
            r["b_latency"] = lat
            xb = {}
            xb_steps = 100  # a crossbar RK4 step is ~10x a digital one on the CPU
            for label, spec in (("crossbar_ideal", {}), ("crossbar_noisy", NOISY)):
                row: dict[str, Any] = {"steps": xb_steps, "batch": 16}
                for k, d in devices.items():
                    model = copy.deepcopy(twin.model).to(d).eval()
                    use_backend(model, make_backend("crossbar", **spec))
                    with torch.no_grad(), tf32(False):
                        out = solve(k, 16, xb_steps, model).cpu()
                    row[f"{k}_mean_abs_err_vs_digital"] = float(
                        (out - preds[k][:, :xb_steps + 1]).abs().mean())
                    row[f"{k}_out"] = out

                    def fwd(model=model, k=k, solve=solve, n=xb_steps):
                        with torch.no_grad():
                            solve(k, 16, n, model)

                    row[f"{k}_latency_batch16"] = timed(fwd, d, 0 if d.type == "cpu" else 1,
                                                        2 if q or d.type == "cpu" else 5)
                row["dut_vs_cpu_max_abs_diff"] = maxdiff(row.pop("dut_out"), row.pop("cpu_out"))
                xb[label] = row
            r["d_crossbar"] = xb
            log(f"twin {kind} (b, c, d): {json.dumps(r)}")


# ---------------------------------------------------------------- crossbar micro


def crossbar_section(run: Run, dut: torch.device, q: bool) -> None:
    import torch.nn.functional as F

    from evrt.backends.factory import make_backend

    devices = {"cpu": torch.device("cpu"), "dut": dut}
    with run.section("crossbar.layers") as r:
        g = torch.Generator().manual_seed(0)
        cases = {
            "linear_1024x1024_batch256": (torch.randn(256, 1024, generator=g),
                                          torch.randn(1024, 1024, generator=g) * 0.03, None),
            "conv_64to64_k3_32x32_batch16": (torch.randn(16, 64, 32, 32, generator=g),
                                             torch.randn(64, 64, 3, 3, generator=g) * 0.05, 1),
        }
        for name, (x, w, pad) in cases.items():
            row: dict[str, Any] = {}

            def apply(xb, xd, wd, pad=pad):
                with torch.no_grad():
                    if pad is None:
                        return xb.linear(xd, wd, None, layer="l")
                    return xb.conv2d(xd, wd, None, padding=pad, layer="c")

            ref = F.linear(x, w) if pad is None else F.conv2d(x, w, padding=pad)
            for label, spec in (("ideal", {}), ("noisy", NOISY)):
                for k, d in devices.items():
                    xb = make_backend("crossbar", **spec)
                    xd, wd = x.to(d), w.to(d)

                    def fwd(xb=xb, xd=xd, wd=wd, apply=apply):
                        return apply(xb, xd, wd)

                    with tf32(False):
                        out = fwd().cpu()
                    row[f"{label}_{k}_rel_err_vs_fp32"] = reldiff(out, ref)
                    row[f"{label}_{k}_latency"] = timed(fwd, d, 1, 3 if q else 10)
                row[f"{label}_speedup"] = (row[f"{label}_cpu_latency"]["median_ms"]
                                           / row[f"{label}_dut_latency"]["median_ms"])
            r[name] = row
        log(f"crossbar: {json.dumps(r)}")


# ---------------------------------------------------------------- report


def _ms(d: dict | None) -> str:
    if not d:
        return "-"
    return f"{d['median_ms']:.2f} / {d['p90_ms']:.2f}"


def _f(v: Any, fmt: str = ".3g") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, fmt)
    return str(v)


def markdown(data: dict) -> str:
    env, s = data["env"], data["sections"]
    lines = ["# CUDA paths check", "",
             f"Device under test: **{env.get('device')}** ({env.get('gpu', 'no GPU')}); "
             f"torch {env.get('torch')} (CUDA {env.get('torch_cuda')}), numba {env.get('numba')}, "
             f"python {env.get('python')}; CPU side: {env.get('cpu_threads')} threads of "
             f"{env.get('cpu_count')} cores. TF32 defaults {env.get('tf32_default')}. "
             f"Total {data.get('total_seconds')} s. Latency cells: median / p90 ms.", ""]
    lines += ["## (a) training steps, device vs CPU (same init and batches, TF32 off)", "",
              "| model | steps | loss CPU | loss device | max rel loss diff | max abs grad diff "
              "(step 1) | max rel grad diff | max abs param diff after |", "|---|---|---|---|---|---|---|---|"]
    for name in ("depth.a_train_steps", "prime.a_train_steps"):
        r = s.get(name)
        if r and "loss_cpu" in r:
            lines.append(f"| {name.split('.')[0]} | {r['steps']} | "
                         f"{' '.join(f'{v:.5g}' for v in r['loss_cpu'])} | "
                         f"{' '.join(f'{v:.5g}' for v in r['loss_dut'])} | {_f(r['loss_max_rel_diff'])} | "
                         f"{_f(r.get('grad_max_abs_diff'))} | {_f(r.get('grad_max_rel_diff'))} | "
                         f"{_f(r['param_max_abs_diff_after'])} |")
    for kind in ("hp", "lorenz96"):
        r = s.get(f"twin.{kind}.a_e_train")
        if r and "final_loss" in r:
            lines.append(f"| twin {kind} (evrt train path: {r['pretrain_iters']} + "
                         f"{r['solver_iters']} iters) | {r['solver_iters']} | "
                         f"{r['final_loss']['cpu']:.5g} | {r['final_loss']['dut']:.5g} | "
                         f"{_f(abs(r['final_loss']['cpu'] - r['final_loss']['dut']) / max(abs(r['final_loss']['cpu']), 1e-30))}"
                         f" | - | - | {_f(r['param_max_abs_diff_after'])} |")
    lines += ["", "## (b) inference latency (ms: median / p90)", "",
              "| model | case | CPU | device | speed-up (median) |", "|---|---|---|---|---|"]
    for name in ("depth.b_c_inference", "prime.b_c_inference", "twin.hp.b_c_d_inference",
                 "twin.lorenz96.b_c_d_inference"):
        lat = (s.get(name) or {}).get("b_latency") or {}
        for key in [k[4:] for k in lat if k.startswith("cpu_")]:
            c, g = lat.get(f"cpu_{key}"), lat.get(f"dut_{key}")
            sp = c["median_ms"] / g["median_ms"] if c and g else None
            lines.append(f"| {name.rsplit('.', 1)[0]} | {key} | {_ms(c)} | {_ms(g)} | {_f(sp)} |")
    lines += ["", "## (c) outputs, device vs CPU", "", "| model | measure | value |", "|---|---|---|"]
    for name in ("depth.b_c_inference", "prime.b_c_inference", "twin.hp.b_c_d_inference",
                 "twin.lorenz96.b_c_d_inference"):
        for k, v in (s.get(name) or {}).items():
            if k.startswith("c_"):
                lines.append(f"| {name.rsplit('.', 1)[0]} | {k[2:]} | {_f(v) if not isinstance(v, dict) else json.dumps(v)} |")
    lines += ["", "## (d) crossbar backend, device vs CPU", "",
              "| model | backend | CPU ms | device ms | device-vs-CPU max abs diff | notes |",
              "|---|---|---|---|---|---|"]
    for name in ("depth.d_crossbar", "prime.d_crossbar"):
        for label, r in (s.get(name) or {}).items():
            if not isinstance(r, dict):
                continue
            notes = ", ".join(f"{k} {_f(v)}" for k, v in r.items()
                              if k.endswith(("accuracy", "err_vs_digital")))
            lines.append(f"| {name.split('.')[0]} (batch {r.get('batch')}) | {label} | "
                         f"{_ms(r.get('cpu_latency'))} | {_ms(r.get('dut_latency'))} | "
                         f"{_f(r.get('dut_vs_cpu_max_abs_diff'))} | {notes} |")
    for kind in ("hp", "lorenz96"):
        for label, r in ((s.get(f"twin.{kind}.b_c_d_inference") or {}).get("d_crossbar") or {}).items():
            notes = ", ".join(f"{k} {_f(v)}" for k, v in r.items() if k.endswith("err_vs_digital"))
            lines.append(f"| twin {kind} (batch 16, {r.get('steps')} RK4 steps) | {label} | "
                         f"{_ms(r.get('cpu_latency_batch16'))} | {_ms(r.get('dut_latency_batch16'))} | "
                         f"{_f(r.get('dut_vs_cpu_max_abs_diff'))} | {notes} |")
    for case, r in (s.get("crossbar.layers") or {}).items():
        if not isinstance(r, dict):
            continue
        for label in ("ideal", "noisy"):
            lines.append(f"| layer {case} | crossbar_{label} | {_ms(r.get(f'{label}_cpu_latency'))} | "
                         f"{_ms(r.get(f'{label}_dut_latency'))} | - | rel err vs FP32: CPU "
                         f"{_f(r.get(f'{label}_cpu_rel_err_vs_fp32'))}, device "
                         f"{_f(r.get(f'{label}_dut_rel_err_vs_fp32'))}; speed-up "
                         f"{_f(r.get(f'{label}_speedup'))} |")
    lines += ["", "## (e) training throughput", "",
              "| model | batch | CPU samples/s | device samples/s | speed-up |", "|---|---|---|---|---|"]
    for name in ("depth.e_train_throughput", "prime.e_train_throughput"):
        r = s.get(name)
        if r and "cpu" in r and "dut" in r:
            lines.append(f"| {name.split('.')[0]} | {r['cpu']['batch']} | "
                         f"{r['cpu']['samples_per_s']:.3g} | {r['dut']['samples_per_s']:.3g} | "
                         f"{_f(r.get('speedup'))} |")
    for kind in ("hp", "lorenz96"):
        r = s.get(f"twin.{kind}.a_e_train")
        if r and "iters_per_s" in r:
            for stage, batch in (("pretrain", r["pretrain_batch"]), ("solver", r["solver_batch"])):
                c, g = r["iters_per_s"]["cpu"][stage], r["iters_per_s"]["dut"][stage]
                lines.append(f"| twin {kind} {stage} (iterations/s) | {batch} | {_f(c)} | {_f(g)} | "
                             f"{_f(r.get(f'{stage}_speedup'))} |")
    if data["errors"]:
        lines += ["", "## Errors", ""]
        for name, err in data["errors"].items():
            lines.append(f"- **{name}**: `{err.splitlines()[0]}`")
    sec = ", ".join(f"{k} {v.get('seconds')} s" for k, v in s.items())
    lines += ["", f"Section times: {sec}.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "reports/cuda_check"))
    ap.add_argument("--device", default="cuda", help="device under test (cuda, cuda:N, cpu)")
    ap.add_argument("--quick", action="store_true", help="fewer samples, steps and runs")
    ap.add_argument("--only", default="depth,prime,twin,crossbar",
                    help="comma-separated sections: depth, prime, twin, crossbar")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    run = Run(out, args)
    dut = torch.device(args.device)
    with run.section("env") as r:
        environment(run, dut)
        r["ok"] = True
    if dut.type == "cuda" and not torch.cuda.is_available():
        log("no CUDA device: nothing to compare (use --device cpu to check the script)")
        run.data["errors"]["env"] = "torch.cuda.is_available() is False"
        run.save()
        return 1
    sections = {"depth": depth_section, "prime": prime_section, "twin": twin_section,
                "crossbar": crossbar_section}
    for name in args.only.split(","):
        fn = sections.get(name.strip())
        if fn is None:
            log(f"unknown section {name!r}")
            continue
        try:
            fn(run, dut, args.quick)
        except Exception as exc:  # noqa: BLE001 - setup of a family failed: record, go on
            run.data["errors"][f"{name}.setup"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            log(f"!! {name} setup failed: {exc}")
            traceback.print_exc()
            run.save()
    run.save()
    log(f"wrote {out / 'cuda_check.json'} and {out / 'cuda_check.md'}; "
        f"{len(run.data['errors'])} section error(s)")
    print((out / "cuda_check.md").read_text(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Input-aware early stop around any multi-step model: each sample stops when its answer is certain.

The model author writes one function that runs timestep `t` for the samples still running::

    def step_fn(t: int, active: torch.Tensor) -> torch.Tensor:
        # active: sorted indices (into the original batch) of the samples still running
        return model_step(x[t, active])          # one output row per active sample

    result = run_with_early_stop(step_fn, T=10, policy=ConfidencePolicy(0.8), batch_size=B)
    result.prediction, result.steps, result.compute_saved, result.energy_saved_pj

Finished samples are dropped from the batch, so their remaining steps are never computed.
A stateful model (membrane potentials) must drop the same rows from its state: take a third
argument `keep` (positions, within the previous step's active set, of the samples still
running) and do `state = state[keep]` before the step::

    def step_fn(t, active, keep):
        nonlocal v
        v = v[keep]                              # compact the state to the active samples
        v, out = lif_step(v, x[t, active])
        return out

For streaming (one window at a time inside a graph node), drive `EarlyStopController`
yourself: `while not ctl.done: ctl.step(model(x[ctl.t, ctl.active]))`, then
`ctl.result().predictions(...)` gives `Prediction` messages with `timesteps` / `timesteps_max`.

Policies: `ConfidencePolicy` (PRIME: softmax of the time-averaged output / temperature,
top-1 >= threshold), `MarginPolicy` (top-1 minus top-2), `EntropyPolicy` (normalised entropy
<= bound) and `ConvergencePolicy` for dense outputs (mean change between successive outputs
<= tol for k steps in a row). A threshold that cannot be reached (confidence >= 1.0,
margin >= 1.0) never stops early, so the result equals the full run.
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from evrt.backends.base import Backend
from evrt.backends.energy import CostTable, energy_report
from evrt.messages import Prediction

State = dict[str, torch.Tensor]


class Policy:
    """A stopping rule. Per-sample state is a dict of tensors whose first dim is the sample."""

    classification = False

    def start(self, n: int, device: torch.device) -> State:
        return {}

    def update(self, state: State, t: int, out: torch.Tensor) -> torch.Tensor:
        """Fold the output of step `t` (0-based) into `state`; return a bool mask of samples done."""
        raise NotImplementedError

    def output(self, state: State) -> torch.Tensor:
        """Each sample's answer so far."""
        raise NotImplementedError

    def score(self, state: State) -> torch.Tensor:
        """The statistic the rule compares (confidence, margin, entropy, change), per sample."""
        raise NotImplementedError


class _AveragedSoftmax(Policy):
    """Shared by the classification rules: running mean of logits, softmax with temperature."""

    classification = True

    def __init__(self, temperature: float = 2.0) -> None:
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        self.temperature = temperature

    def start(self, n: int, device: torch.device) -> State:
        return {"steps": torch.zeros(n, device=device)}

    def update(self, state: State, t: int, out: torch.Tensor) -> torch.Tensor:
        out = out.reshape(out.shape[0], -1).float()
        state["sum"] = out.clone() if "sum" not in state else state["sum"] + out
        state["steps"] = state["steps"] + 1
        return self._done(self.score(state))

    def output(self, state: State) -> torch.Tensor:
        return state["sum"] / state["steps"][:, None]

    def probs(self, state: State) -> torch.Tensor:
        return torch.softmax(self.output(state) / self.temperature, dim=1)

    def _done(self, stat: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class ConfidencePolicy(_AveragedSoftmax):
    """Stop when max softmax(mean output / temperature) >= threshold (PRIME: 0.8, temperature 2)."""

    def __init__(self, threshold: float = 0.8, temperature: float = 2.0) -> None:
        super().__init__(temperature)
        self.threshold = threshold

    def score(self, state: State) -> torch.Tensor:
        return self.probs(state).amax(dim=1)

    def _done(self, stat: torch.Tensor) -> torch.Tensor:
        if self.threshold >= 1.0:   # a probability never reaches 1 (float rounding can): never stop
            return torch.zeros_like(stat, dtype=torch.bool)
        return stat >= self.threshold


class MarginPolicy(_AveragedSoftmax):
    """Stop when top-1 minus top-2 probability >= margin."""

    def __init__(self, margin: float = 0.5, temperature: float = 2.0) -> None:
        super().__init__(temperature)
        self.margin = margin

    def score(self, state: State) -> torch.Tensor:
        p = self.probs(state)
        if p.shape[1] < 2:
            return torch.ones(p.shape[0], device=p.device)
        top = p.topk(2, dim=1).values
        return top[:, 0] - top[:, 1]

    def _done(self, stat: torch.Tensor) -> torch.Tensor:
        if self.margin >= 1.0:
            return torch.zeros_like(stat, dtype=torch.bool)
        return stat >= self.margin


class EntropyPolicy(_AveragedSoftmax):
    """Stop when the entropy of the softmax (divided by log C when `normalized`) <= max_entropy."""

    def __init__(self, max_entropy: float = 0.3, temperature: float = 2.0,
                 normalized: bool = True) -> None:
        super().__init__(temperature)
        self.max_entropy = max_entropy
        self.normalized = normalized

    def score(self, state: State) -> torch.Tensor:
        p = self.probs(state)
        h = -(p * torch.log(p.clamp_min(1e-30))).sum(dim=1)
        if self.normalized and p.shape[1] > 1:
            h = h / math.log(p.shape[1])
        return h

    def _done(self, stat: torch.Tensor) -> torch.Tensor:
        if self.max_entropy <= 0:
            return torch.zeros_like(stat, dtype=torch.bool)
        return stat <= self.max_entropy


class ConvergencePolicy(Policy):
    """Dense outputs: stop when the change between successive outputs <= tol for k steps in a row.

    change = mean |out_t - out_{t-1}| over the sample's elements (`relative`: divided by
    mean |out_{t-1}|). With `decreasing`, a step also counts only if its change is smaller than
    the previous step's (PRIME inpainting: the change falls three steps in a row).
    """

    def __init__(self, tol: float = 1e-3, k: int = 3, relative: bool = False,
                 decreasing: bool = False) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.tol, self.k, self.relative, self.decreasing = tol, k, relative, decreasing

    def start(self, n: int, device: torch.device) -> State:
        return {"streak": torch.zeros(n, dtype=torch.long, device=device),
                "change": torch.full((n,), float("inf"), device=device)}

    def update(self, state: State, t: int, out: torch.Tensor) -> torch.Tensor:
        out = out.float()
        flat = out.reshape(out.shape[0], -1)
        if "last" in state:
            prev = state["last"].reshape(out.shape[0], -1)
            change = (flat - prev).abs().mean(dim=1)
            if self.relative:
                change = change / prev.abs().mean(dim=1).clamp_min(1e-12)
            ok = change <= self.tol
            if self.decreasing:
                ok = ok & (change < state["change"])
            state["streak"] = torch.where(ok, state["streak"] + 1, torch.zeros_like(state["streak"]))
            state["change"] = change
        state["last"] = out.clone()
        return state["streak"] >= self.k

    def output(self, state: State) -> torch.Tensor:
        return state["last"]

    def score(self, state: State) -> torch.Tensor:
        return state["change"]


@dataclass
class EarlyStopResult:
    """Per-sample outcome of an early-stopped run (all tensors indexed by original batch position)."""

    steps: torch.Tensor                 # (B,) timesteps used, 1..T
    T: int
    outputs: torch.Tensor               # (B, ...) the policy's output (time-mean logits / last output)
    score: torch.Tensor                 # (B,) the policy statistic when the sample stopped
    prediction: torch.Tensor | None     # (B,) argmax class for classification policies
    energy_pj: torch.Tensor | None      # (B,) projected energy spent (share of each step's work)
    energy_kind: str | None             # "crossbar" or "digital": which figure energy_pj holds

    @property
    def compute_saved(self) -> torch.Tensor:
        """Fraction of the T timesteps each sample did not run."""
        return 1.0 - self.steps.double() / self.T

    @property
    def energy_saved_pj(self) -> torch.Tensor | None:
        """Estimate: the sample's mean energy per step it ran, times the steps it skipped."""
        if self.energy_pj is None:
            return None
        return self.energy_pj / self.steps.double() * (self.T - self.steps).double()

    @property
    def stopped_early(self) -> torch.Tensor:
        return self.steps < self.T

    def summary(self) -> dict[str, Any]:
        out = {"samples": int(self.steps.numel()), "T": self.T,
               "mean_steps": float(self.steps.double().mean()),
               "compute_saved": float(self.compute_saved.mean()),
               "stopped_early": float(self.stopped_early.double().mean())}
        if self.energy_pj is not None:
            out.update(energy_kind=self.energy_kind,
                       energy_pj_mean=float(self.energy_pj.mean()),
                       energy_saved_pj_mean=float(self.energy_saved_pj.mean()))
        return out

    def predictions(self, stream: str = "prediction", t_start: int = 0, t_end: int = 0,
                    ) -> list[Prediction]:
        """One `Prediction` message per sample (classification policies)."""
        if self.prediction is None:
            raise ValueError("predictions() needs a classification policy")
        scores = self.outputs.detach().cpu().numpy()
        return [Prediction(label=int(self.prediction[i]), scores=np.asarray(scores[i]),
                           stream=stream, t_start=t_start, t_end=t_end,
                           timesteps=int(self.steps[i]), timesteps_max=self.T,
                           meta={"score": float(self.score[i]),
                                 "compute_saved": float(self.compute_saved[i])})
                for i in range(len(scores))]


class EarlyStopController:
    """Step-by-step driver: call `step(out)` with one output row per `active` sample until `done`.

    `active`: original indices still running; `keep`: their positions in the previous active
    set (use it to compact model state); `t`: steps taken. With `backend`, each step's counted
    work is turned into projected energy and shared equally among the samples that ran it.
    """

    def __init__(self, policy: Policy, T: int, batch_size: int, *,
                 device: torch.device | str | None = None, min_steps: int = 1,
                 backend: Backend | None = None, costs: CostTable | None = None) -> None:
        if T < 1 or batch_size < 1:
            raise ValueError("T and batch_size must be >= 1")
        if not 1 <= min_steps <= T:
            raise ValueError("min_steps must be in 1..T")
        self.policy, self.T, self.batch_size, self.min_steps = policy, T, batch_size, min_steps
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.active = torch.arange(batch_size, device=self.device)
        self.keep = self.active.clone()
        self.t = 0
        self._state = policy.start(batch_size, self.device)
        self._steps = torch.full((batch_size,), T, dtype=torch.long)
        self._outputs: torch.Tensor | None = None
        self._score = torch.zeros(batch_size)
        self.backend = backend
        self._costs = costs if costs is not None or backend is None else CostTable.load()
        self._energy = torch.zeros(batch_size, dtype=torch.float64) if backend is not None else None
        self._energy_kind: str | None = None
        self._snapshot = Counter(backend.counters) if backend is not None else None

    @property
    def done(self) -> bool:
        return self.active.numel() == 0

    def _step_energy(self, n_active: int) -> float:
        assert self.backend is not None and self._snapshot is not None
        now = Counter(self.backend.counters)
        delta = now - self._snapshot
        self._snapshot = now
        report = energy_report(delta, inferences=1, costs=self._costs,
                               adc_bits=getattr(getattr(self.backend, "config", None), "adc_bits", 0),
                               dac_bits=getattr(getattr(self.backend, "config", None), "dac_bits", 0))
        if hasattr(self.backend, "config"):   # a crossbar backend
            self._energy_kind = "crossbar"
            if report.crossbar_pj is None:     # no array read in this step: neurons only
                return report.digital_pj["neurons"] / n_active
            return report.crossbar_per_inference_pj / n_active
        self._energy_kind = "digital"
        return report.digital_per_inference_pj / n_active

    def step(self, out: torch.Tensor) -> torch.Tensor:
        """Feed the step's output for the active samples; returns the indices that stopped now."""
        if self.done:
            raise RuntimeError("every sample has stopped; call result()")
        n = self.active.numel()
        if out.shape[0] != n:
            raise ValueError(f"step {self.t}: expected {n} output rows (one per active sample), "
                             f"got {out.shape[0]}")
        if self.backend is not None:
            self.backend.counters["timesteps"] += 1
            self.backend.counters["sample_steps"] += n
            self._energy[self.active.cpu()] += self._step_energy(n)
        out = out.detach().to(self.device)
        stop = self.policy.update(self._state, self.t, out)
        self.t += 1
        if self.t < self.min_steps:
            stop = torch.zeros_like(stop)
        if self.t >= self.T:
            stop = torch.ones_like(stop)
        finished = self.active[stop]
        if finished.numel():
            rows = self.policy.output(self._state)[stop]
            if self._outputs is None:
                self._outputs = torch.zeros((self.batch_size, *rows.shape[1:]), dtype=rows.dtype,
                                            device=self.device)
            self._outputs[finished] = rows
            self._score[finished.cpu()] = self.policy.score(self._state)[stop].float().cpu()
            self._steps[finished.cpu()] = self.t
            self.keep = torch.nonzero(~stop).flatten()
            self.active = self.active[self.keep]
            self._state = {k: v[self.keep] for k, v in self._state.items()}
        else:
            self.keep = torch.arange(n, device=self.device)
        return finished

    def result(self) -> EarlyStopResult:
        if not self.done:
            raise RuntimeError(f"{self.active.numel()} samples are still running")
        assert self._outputs is not None
        prediction = self._outputs.argmax(dim=1).cpu() if self.policy.classification else None
        return EarlyStopResult(steps=self._steps.clone(), T=self.T, outputs=self._outputs,
                               score=self._score.clone(), prediction=prediction,
                               energy_pj=None if self._energy is None else self._energy.clone(),
                               energy_kind=self._energy_kind)


def run_with_early_stop(step_fn: Callable[..., torch.Tensor], T: int, policy: Policy,
                        batch_size: int, *, device: torch.device | str | None = None,
                        min_steps: int = 1, backend: Backend | None = None,
                        costs: CostTable | None = None) -> EarlyStopResult:
    """Run `step_fn(t, active[, keep])` for t = 0..T-1 on the samples still running.

    `keep` is passed when `step_fn` has a parameter named `keep` (or three required positional
    parameters). `step_fn` returns one output row per active sample (logits, or any dense output for
    `ConvergencePolicy`). It is never called with an empty `active` and never more than T times.
    """
    ctl = EarlyStopController(policy, T, batch_size, device=device, min_steps=min_steps,
                              backend=backend, costs=costs)
    wants_keep = _positional_arity(step_fn) >= 3
    while not ctl.done:
        out = step_fn(ctl.t, ctl.active, ctl.keep) if wants_keep else step_fn(ctl.t, ctl.active)
        ctl.step(out)
    return ctl.result()


def _positional_arity(fn: Callable[..., Any]) -> int:
    """3 when `fn` takes `keep`: a parameter named keep, *args, or three required positionals."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 2
    if any(p.name == "keep" or p.kind is p.VAR_POSITIONAL for p in params):
        return 3
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
               for p in params)

"""Seed 2: neural-ODE digital twins (HP memristor, Lorenz96) whose vector field runs on a backend.

Modules: `hp_memristor` (device simulator), `lorenz96` (system + Lyapunov exponent),
`node_ode` (backend MLP fields, fixed-step and adaptive solvers), `twins` (data, training,
evaluation, weight files), `metrics`, `projection` (projected energy/speed), `node` (graph
nodes `twin`, `hp_device`, `lorenz96_system`), `plots`.
"""

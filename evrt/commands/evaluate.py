"""`evrt eval FAMILY ...`: metrics of a trained model (the counterpart of `evrt train`)."""

from __future__ import annotations

import argparse
import importlib

from evrt.commands.train import CONFIG_FAMILIES, OWN_ARGS_FAMILIES, _run, add_common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained model (depth, twin, ...)")
    families = p.add_subparsers(dest="family", required=True)
    for name in CONFIG_FAMILIES:
        f = families.add_parser(name, help=f"evaluate a {name} checkpoint on the config's validation data")
        add_common(f)
        f.add_argument("--checkpoint", action="append", default=[],
                       help="checkpoint file, 'builtin' for the shipped weights; repeatable to compare")
        f.add_argument("--json", metavar="FILE", help="also write the results as JSON")
        f.add_argument("--early-stop", type=float, default=None, metavar="TOL",
                       help="also evaluate with early stop at this convergence tolerance")
        f.add_argument("--plots", metavar="DIR", help="write prediction / ground-truth images here")
        f.set_defaults(func=_run("eval_main"))
    for module in OWN_ARGS_FAMILIES.values():
        importlib.import_module(module).register_eval(families)

"""`evrt eval FAMILY --config FILE --checkpoint CKPT`: metrics of a trained model (see `evrt train`)."""

from __future__ import annotations

import argparse
import importlib

from evrt.commands.train import TRAINERS, add_common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained model (depth, ...)",
                       description="Evaluate a checkpoint on the config's validation data.")
    add_common(p)
    p.add_argument("--checkpoint", action="append", default=[],
                   help="checkpoint file, 'builtin' for the shipped weights; repeatable to compare")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--early-stop", type=float, default=None, metavar="TOL",
                   help="also evaluate with early stop at this convergence tolerance")
    p.add_argument("--plots", metavar="DIR", help="write prediction / ground-truth images here")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    return int(importlib.import_module(TRAINERS[args.family]).eval_main(args))

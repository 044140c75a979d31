"""`evrt train FAMILY --config FILE [--set section.key=value] [--out DIR] [--resume]`.

A dispatcher: each model family registers a module in `TRAINERS` that defines
`train_main(args) -> int` (and, for `evrt eval`, `eval_main(args) -> int`). Add a family by
adding one entry here; the module is imported only when its family is asked for.
"""

from __future__ import annotations

import argparse
import importlib

TRAINERS: dict[str, str] = {
    "depth": "evrt.models.depth_train",
    "prime": "evrt.models.prime.train",
}


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("family", choices=sorted(TRAINERS), help="model family")
    p.add_argument("--config", required=True, help="training TOML ([model], [data], [train] tables)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value; repeatable")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (depth, ...) from a TOML config",
                       description="Train a model family; progress goes to stderr, checkpoints "
                                   "to --out (resume with --resume).")
    add_common(p)
    p.add_argument("--out", help="checkpoint folder (default: [train] out in the config)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    return int(importlib.import_module(TRAINERS[args.family]).train_main(args))

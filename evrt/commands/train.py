"""`evrt train FAMILY ...`: train a model family.

Two kinds of family plug in here:
- config families (`CONFIG_FAMILIES`): `evrt train depth --config FILE [--set section.key=value]
  [--out DIR] [--resume]`; the module defines `train_main(args)` and `eval_main(args)`.
- families with their own arguments (`OWN_ARGS_FAMILIES`): the module defines
  `register_train(families)` and `register_eval(families)` adding their sub-parsers.
Modules are imported only when the parser is built (argument lists) or the family runs.
"""

from __future__ import annotations

import argparse
import importlib

CONFIG_FAMILIES: dict[str, str] = {
    "depth": "evrt.models.depth_train",
    "prime": "evrt.models.prime.train",
}
OWN_ARGS_FAMILIES: dict[str, str] = {
    "twin": "evrt.commands.twin",
}
TRAINERS = CONFIG_FAMILIES  # name kept for families written against the config interface


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="training TOML ([model], [data], [train] tables)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value; repeatable")


def _run(entry: str):
    def run(args: argparse.Namespace) -> int:
        return int(getattr(importlib.import_module(CONFIG_FAMILIES[args.family]), entry)(args))

    return run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (depth, twin, ...)",
                       description="Train a model family; progress goes to stderr, checkpoints "
                                   "to --out (resume with --resume).")
    families = p.add_subparsers(dest="family", required=True)
    for name in CONFIG_FAMILIES:
        f = families.add_parser(name, help=f"train the {name} model from a TOML config")
        add_common(f)
        f.add_argument("--out", help="checkpoint folder (default: [train] out in the config)")
        f.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
        f.set_defaults(func=_run("train_main"))
    for module in OWN_ARGS_FAMILIES.values():
        importlib.import_module(module).register_train(families)

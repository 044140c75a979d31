"""`evrt eval MODEL ...`: evaluate a trained model; each family adds a sub-command here."""

from __future__ import annotations

import argparse
import importlib

# model family -> module defining register_eval(subparsers)
EVALUATORS = {"twin": "evrt.commands.twin"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained model (twin, ...)")
    families = p.add_subparsers(dest="family", required=True)
    for module in EVALUATORS.values():
        importlib.import_module(module).register_eval(families)

"""`evrt train MODEL ...`: train a model family; each family adds a sub-command here."""

from __future__ import annotations

import argparse
import importlib

# model family -> module defining register_train(subparsers)
TRAINERS = {"twin": "evrt.commands.twin"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (twin, ...)")
    families = p.add_subparsers(dest="family", required=True)
    for module in TRAINERS.values():
        importlib.import_module(module).register_train(families)

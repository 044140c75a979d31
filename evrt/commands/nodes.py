"""`evrt nodes`: every registered node type with its parameters."""

from __future__ import annotations

import argparse

from evrt.errors import EvrtError
from evrt.graph import registry


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("nodes", help="list node types and their parameters")
    p.add_argument("name", nargs="?", help="show only this type")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    table = registry.available()
    names = [args.name] if args.name else list(table)
    for name in names:
        try:
            cls = registry.resolve(name)
        except EvrtError as exc:
            print(f"{name}: unavailable ({exc})")
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        print(f"{name}  [{cls.role}]  {table.get(name, name)}")
        if doc:
            print(f"    {doc[0]}")
        for p in registry.parameters(cls).values():
            print(f"      {p.describe()}")
    return 0

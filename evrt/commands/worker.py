"""`evrt worker` and `evrt keys`: run graphs across hosts."""

from __future__ import annotations

import argparse
import sys

from evrt.graph import remote


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="start node processes for runners on other hosts",
                       description="Serve `evrt run` graphs whose nodes name this host "
                                   "(host = \"HOST:PORT\", placement = \"hosts\").")
    p.add_argument("--listen", default="tcp://127.0.0.1:7777",
                   help="where runners reach this worker (default loopback only)")
    p.add_argument("--keys", help="CURVE key file from `evrt keys` (required off loopback)")
    p.set_defaults(func=_worker)
    k = sub.add_parser("keys", help="create a CURVE cluster keypair file for hosts placement")
    k.add_argument("path")
    k.set_defaults(func=_keys)


def _worker(args: argparse.Namespace) -> int:
    host = args.listen.rsplit("//", 1)[-1].rsplit(":", 1)[0]
    if not remote.is_loopback(host) and not args.keys:
        print("evrt: error: a worker listening off loopback needs --keys (see `evrt keys`)",
              file=sys.stderr)
        return 2
    print(f"evrt worker listening on {args.listen}", file=sys.stderr, flush=True)
    remote.serve(args.listen, args.keys)
    return 0


def _keys(args: argparse.Namespace) -> int:
    remote.write_keys(args.path)
    print(f"wrote CURVE keypair to {args.path}; copy it to every host of the graph")
    return 0

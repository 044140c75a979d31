"""`evrt run CONFIG [--set node.key=value]`: run a graph from TOML."""

from __future__ import annotations

import argparse
import sys

from evrt.graph import config as graph_config
from evrt.graph.runner import Runner


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a graph from a TOML config",
                       description="Run a dataflow graph. Live per-node stats go to stderr.")
    p.add_argument("config", help="graph TOML file (e.g. configs/demo.toml)")
    p.add_argument("--set", action="append", default=[], metavar="NODE.KEY=VALUE",
                   help="override a node parameter (or graph.KEY); repeatable")
    p.add_argument("--stats-json", metavar="FILE", help="write per-node stats as JSON lines")
    p.add_argument("--quiet", action="store_true", help="no live stats table")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    cfg = graph_config.load(args.config, args.set)
    result = Runner(cfg, live=not args.quiet, stats_json=args.stats_json).run()
    total = sum(s["events_in"] for n, s in result.nodes.items() if n in cfg.sinks())
    drops = sum(e["dropped"] for e in result.edges.values())
    print(f"graph '{cfg.name}' {result.status} in {result.duration_s:.2f} s: "
          f"{total} events reached the sinks, {drops} messages dropped", file=sys.stderr)
    return 0 if result.status == "completed" else 130

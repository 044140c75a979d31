"""`evrt view FILE` / `evrt view --synthetic PATTERN`: replay a stream straight into the viewer."""

from __future__ import annotations

import argparse
import sys

from evrt.errors import EvrtError
from evrt.graph import registry
from evrt.graph.api import Graph

FILE_NODE = "file"


def build_graph(args: argparse.Namespace) -> Graph:
    """source (file or synthetic) -> viewer, as a graph ready to run."""
    g = Graph("view", flow=args.flow, queue=args.queue, stats_interval=0.5)
    if args.synthetic:
        g.add("source", "synthetic", pattern=args.synthetic, duration=args.duration,
              speed=args.speed, noise_rate=args.noise_rate, window_us=args.window_us)
    else:
        if args.file is None:
            raise EvrtError("evrt view needs a FILE or --synthetic PATTERN")
        if FILE_NODE not in registry.available():
            raise EvrtError(f"cannot replay {args.file}: this install has no '{FILE_NODE}' source "
                            "node (the recorded-file readers in sources/files); "
                            "try `evrt view --synthetic moving_bar`")
        cls = registry.resolve(FILE_NODE, node="source")
        accepted = registry.parameters(cls)
        params = {"path": args.file}
        wanted = {"speed": args.speed, "window_us": args.window_us, "loop": args.loop}
        params.update({k: v for k, v in wanted.items() if k in accepted and v is not None})
        g.add("source", FILE_NODE, **params)
    g.add("viewer", "viewer", inputs=["source"], bind=args.bind, port=args.port, fps=args.fps,
          linger=args.linger, title=args.file or f"synthetic {args.synthetic}")
    return g


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="replay a recording (or a synthetic pattern) into the browser viewer",
                       description="Serve a live view on http://HOST:PORT/ while the stream replays.")
    p.add_argument("file", nargs="?", help="recording to replay (any format the 'file' node reads)")
    p.add_argument("--synthetic", metavar="PATTERN", help="moving_bar, rotating_disk or poisson")
    p.add_argument("--duration", type=float, default=30.0, help="synthetic stream length (s)")
    p.add_argument("--noise-rate", type=float, default=20000.0, help="synthetic noise (ev/s)")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed (1 = real time, 0 = flat out)")
    p.add_argument("--window-us", type=int, default=10_000,
                   help="recording packets of this many µs (smooth pacing)")
    p.add_argument("--loop", action="store_true", help="replay the recording forever (Ctrl-C ends)")
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default loopback only)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--fps", type=float, default=20.0)
    p.add_argument("--flow", choices=("realtime", "lossless"), default="realtime")
    p.add_argument("--queue", type=int, default=8)
    p.add_argument("--linger", type=float, default=0.0, help="keep serving N s after the end")
    p.add_argument("--live", action="store_true", help="also print the stats table to stderr")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    result = build_graph(args).run(live=args.live)
    print(f"view {result.status} in {result.duration_s:.1f} s: "
          f"{result.nodes['viewer']['events_in']} events shown", file=sys.stderr)
    return 0 if result.status == "completed" else 130

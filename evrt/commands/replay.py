"""`evrt replay FILE`: play a recording through a file -> stats graph, paced, with progress."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from evrt.graph.node import Sink


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a recorded file through a graph",
                       description="Replay FILE (file -> stats) at real time, a speed factor or "
                                   "as fast as possible, printing progress and lag.")
    p.add_argument("file")
    p.add_argument("--speed", type=float, default=1.0,
                   help="1 = real time, 2 = twice as fast, 0 = as fast as possible (default 1)")
    p.add_argument("--start", type=float, default=-1, help="start time in s from the first event")
    p.add_argument("--end", type=float, default=-1, help="end time in s from the first event")
    p.add_argument("--loop", action="store_true", help="replay forever (Ctrl-C stops)")
    p.add_argument("--window-us", type=int, default=10_000, help="packet window (default 10000)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=main)


class ProgressSink(Sink):
    """Counts what arrives and prints progress through the recording and the replay lag."""

    def __init__(self, t_first: int = 0, duration_us: int = 0, speed: float = 1.0,
                 quiet: bool = False) -> None:
        self.t_first, self.duration_us, self.speed, self.quiet = t_first, duration_us, speed, quiet
        self.events = 0
        self.messages = 0
        self.wall0: float | None = None
        self.t0 = 0
        self.last_print = 0.0
        self.max_lag_ms = 0.0

    def process(self, message: Any) -> None:
        now = time.monotonic()
        if self.wall0 is None:
            self.wall0, self.t0 = now, message.t_start
        self.messages += 1
        self.events += len(getattr(message, "events", ()))
        if self.speed > 0:
            lag = (now - self.wall0) - (message.t_end - self.t0) / 1e6 / self.speed
            self.max_lag_ms = max(self.max_lag_ms, lag * 1e3)
        if not self.quiet and now - self.last_print > 0.5:
            self.last_print = now
            self._line(message.t_end, now)

    def _line(self, t: int, now: float) -> None:
        done = (t - self.t_first) / self.duration_us * 100 if self.duration_us else 0.0
        rate = self.events / max(now - (self.wall0 or now), 1e-9) / 1e6
        lag = f", lag {self.max_lag_ms:.1f} ms max" if self.speed > 0 else ""
        print(f"\r{done % 100.0001:5.1f}%  {self.events:,} events  {rate:.2f} Mev/s{lag}   ",
              end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if not self.quiet:
            print("", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    import evrt
    from evrt.sources.files import open_file

    with open_file(args.file) as reader:
        info = reader.info()
    start = int(args.start * 1e6) if args.start >= 0 else -1
    end = int(args.end * 1e6) if args.end >= 0 else -1
    span_end = end if end >= 0 else info["duration_us"]
    progress = ProgressSink(info["t_first"] or 0, span_end, args.speed, args.quiet)
    graph = evrt.Graph("replay")
    graph.add("file", "file", path=args.file, window_us=args.window_us, start_us=start,
              end_us=end, loop=args.loop, speed=args.speed)
    graph.add("progress", progress, inputs=["file"])
    t0 = time.monotonic()
    result = graph.run()
    wall = time.monotonic() - t0
    lag = result.nodes.get("file", {}).get("lag_ms", 0.0)
    print(f"replayed {progress.events:,} events in {progress.messages} messages from "
          f"{info['format']} {args.file} in {wall:.2f} s ({result.status}); "
          f"source lag at end {lag:.1f} ms, max lag seen {progress.max_lag_ms:.1f} ms",
          file=sys.stderr)
    return 0 if result.status == "completed" else 130

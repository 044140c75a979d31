"""`evrt info FILE`: format, sensor size, streams, event count, time range and event rate."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a recorded event file",
                       description="Detect the format from the content and summarise the file.")
    p.add_argument("file", help="recording (AEDAT 2/3.1/4, Prophesee RAW/DAT, MVSEC, DSEC)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=main)


def describe(info: dict) -> str:
    """The summary as aligned text lines."""
    lines = [
        f"file        {info['path']}",
        f"format      {info['format']}",
        f"sensor      {info['width']} x {info['height']}",
        "streams     " + ", ".join(f"{n} ({k}: {info['counts'].get(n, 0)})"
                                   for n, k in info["streams"].items()),
        f"events      {info['events']:,}",
    ]
    if info.get("t_first") is not None:
        lines += [
            f"time range  {info['t_first']} .. {info['t_last']} us "
            f"({info['duration_us'] / 1e6:.6f} s)",
            f"event rate  {info['event_rate_hz'] / 1e6:.3f} Mev/s",
        ]
    extra = {k: v for k, v in info.items() if k not in {
        "path", "format", "width", "height", "streams", "counts", "events", "t_first", "t_last",
        "duration_us", "event_rate_hz"} and v not in (None, "")}
    for k, v in extra.items():
        lines.append(f"{k:<11} {v}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from evrt.sources.files import open_file

    with open_file(args.file) as reader:
        info = reader.info()
    print(json.dumps(info, indent=2) if args.json else describe(info))
    return 0

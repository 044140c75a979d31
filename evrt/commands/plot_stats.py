"""`evrt plot-stats STATS.jsonl OUT.png`: a run's `--stats-json` output as a picture.

Each JSON line holds cumulative per-node counters; rates are the change between
consecutive lines, so the plot shows how throughput and latency moved during the run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evrt.errors import FormatError


def read_stats(path: str | Path) -> list[dict]:
    """The records of a `--stats-json` file; a broken line is a FormatError at its byte offset."""
    records = []
    offset = 0
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise FormatError(path, offset + exc.pos, f"expected a JSON object per line: {exc.msg}") from None
                if not isinstance(rec, dict) or "time" not in rec or "nodes" not in rec:
                    raise FormatError(path, offset, "expected a stats record with 'time' and 'nodes'")
                records.append(rec)
            offset += len(line)
    if not records:
        raise FormatError(path, 0, "no stats records (write them with `evrt run --stats-json FILE`)")
    return records


def series(records: list[dict]) -> dict[str, dict[str, list[float]]]:
    """Per node: times (s since the first record), events/s, msgs/s, latency p50/p99 (ms), drops."""
    t0 = records[0]["time"]
    out: dict[str, dict[str, list[float]]] = {}
    prev: dict[str, dict] = {}
    for rec in records:
        edges = rec.get("edges", {})
        for name, s in rec["nodes"].items():
            d = out.setdefault(name, {k: [] for k in ("t", "events_per_s", "msgs_per_s",
                                                      "p50_ms", "p99_ms", "drops")})
            p = prev.get(name)
            events = s["events_in"] or s["events_out"]
            msgs = s["msgs_in"] or s["msgs_out"]
            if p is not None and s["elapsed_s"] > p["elapsed_s"]:
                dt = s["elapsed_s"] - p["elapsed_s"]
                ev_rate = (events - (p["events_in"] or p["events_out"])) / dt
                msg_rate = (msgs - (p["msgs_in"] or p["msgs_out"])) / dt
            elif p is not None:
                continue  # a repeated snapshot (e.g. the final record) adds no information
            else:
                ev_rate, msg_rate = s["events_per_s"], s["msgs_per_s"]
            prev[name] = s
            d["t"].append(rec["time"] - t0)
            d["events_per_s"].append(ev_rate)
            d["msgs_per_s"].append(msg_rate)
            nan = float("nan")
            d["p50_ms"].append(s["latency_p50_ms"] if s["latency_p50_ms"] is not None else nan)
            d["p99_ms"].append(s["latency_p99_ms"] if s["latency_p99_ms"] is not None else nan)
            d["drops"].append(sum(e.get("dropped", 0) for lbl, e in edges.items()
                                  if lbl.endswith("->" + name)))
    return out


def plot(records: list[dict], out: str | Path, title: str = "") -> None:
    """Three panels over run time: events/s, latency p50 (solid) / p99 (dashed), drops."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = series(records)
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for i, (name, d) in enumerate(data.items()):
        colour = f"C{i % 10}"
        axes[0].plot(d["t"], d["events_per_s"], color=colour, marker=".", label=name)
        axes[1].plot(d["t"], d["p50_ms"], color=colour, marker=".", label=f"{name} p50")
        axes[1].plot(d["t"], d["p99_ms"], color=colour, linestyle="--", label=f"{name} p99")
        axes[2].plot(d["t"], d["drops"], color=colour, marker=".", label=name)
    axes[0].set_ylabel("events / s")
    axes[1].set_ylabel("latency from source (ms)")
    axes[2].set_ylabel("messages dropped into node")
    axes[2].set_xlabel("run time (s)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(title or f"evrt run stats ({len(records)} records)")
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot-stats", help="plot a run's --stats-json file (rates, latency, drops)")
    p.add_argument("stats", help="JSON lines written by `evrt run --stats-json FILE`")
    p.add_argument("out", help="image to write (.png, .svg, .pdf)")
    p.add_argument("--title", default="")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    records = read_stats(args.stats)
    plot(records, args.out, args.title)
    print(f"wrote {args.out} ({len(records)} records)", file=sys.stderr)
    return 0

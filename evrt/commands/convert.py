"""`evrt convert IN OUT`: any readable recording -> AEDAT 4.0 (.aedat4) or DSEC-layout HDF5 (.h5)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from typing import Any

from evrt.errors import ConfigError
from evrt.graph import registry
from evrt.graph.node import NodeContext


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a recording to AEDAT4 or HDF5",
                       description="Read IN (format detected from its content) and write OUT; "
                                   "the output format follows OUT's extension: .aedat4, .h5/.hdf5.")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(func=main)


def make_sink(path: str, reader: Any) -> Any:
    """The writer sink for `path`'s extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".aedat4":
        from evrt.sinks.aedat4 import Aedat4Sink

        g = reader.geometry
        return Aedat4Sink(path, g.width, g.height, camera=getattr(reader, "camera", "") or "evrt")
    if ext in (".h5", ".hdf5"):
        return _hdf5_sink(path)
    raise ConfigError(f"cannot tell the output format from '{ext or path}': use .aedat4, .h5 "
                      "or .hdf5", key="output")


def _hdf5_sink(path: str) -> Any:
    """The DSEC-layout HDF5 writer from `evrt.sinks.hdf5`, imported only when asked for."""
    try:
        module = importlib.import_module("evrt.sinks.hdf5")
    except ImportError as exc:
        raise ConfigError(f"HDF5 output needs the evrt.sinks.hdf5 writer, which is not "
                          f"installed in this build ({exc})", key="output") from None
    from evrt.graph.node import Sink

    target = registry.available().get("hdf5", "")
    cls = None
    if target.startswith("evrt.sinks.hdf5:"):
        cls = getattr(module, target.split(":", 1)[1], None)
    if cls is None:  # else the module's only Sink subclass
        found = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Sink)
                 and v is not Sink and v.__module__ == module.__name__]
        cls = found[0] if len(found) == 1 else None
    if cls is None:
        raise ConfigError("evrt.sinks.hdf5 has no single writer sink class to use", key="output")
    return cls(path=path)


def convert(src: str, dst: str, *, progress: bool = False) -> dict:
    """Stream `src` into `dst`; returns counts per stream."""
    from evrt.sources.files import open_file

    counts: dict[str, int] = {}
    with open_file(src) as reader:
        total = reader.info()["events"] or 1
        sink = make_sink(dst, reader)
        sink.open(NodeContext("convert"))
        done = 0
        last = 0.0
        try:
            for m in reader.packets():
                sink.process(m)
                n = len(getattr(m, "events", ())) or len(getattr(m, "samples", ())) or \
                    len(getattr(m, "triggers", ())) or 1
                counts[m.stream] = counts.get(m.stream, 0) + n
                done += len(getattr(m, "events", ()))
                if progress and time.monotonic() - last > 0.5:
                    last = time.monotonic()
                    print(f"\r{done / total * 100:5.1f}%  {done:,} events", end="",
                          file=sys.stderr, flush=True)
            finish = sink.finish()
            for m in finish or ():
                sink.process(m)
        finally:
            sink.close()
    if progress:
        print("", file=sys.stderr)
    return counts


def main(args: argparse.Namespace) -> int:
    if os.path.exists(args.output) and not args.force:
        raise ConfigError(f"{args.output} exists; use --force to overwrite", key="output")
    t0 = time.monotonic()
    counts = convert(args.input, args.output, progress=True)
    summary = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    print(f"wrote {args.output} in {time.monotonic() - t0:.2f} s: {summary}", file=sys.stderr)
    return 0

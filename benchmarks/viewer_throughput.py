"""Does the viewer slow a graph? Unpaced throughput of source -> sink with a null sink, the
viewer with no browser, and the viewer with headless chromium watching it, in both flows.

The source replays one pre-made packet of `--packet` Poisson events as fast as it can, so
the sink side, not event generation, limits the rate. Reported: median events/s reaching
the sink over `--repeats` runs, its ratio to the null sink of the same flow, and the
pictures the viewer drew and dropped.

    .venv/bin/python benchmarks/viewer_throughput.py --events 20000000 --repeats 3
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import numpy as np
from evrt.sinks.viewer.node import ViewerSink

import evrt
from evrt.events import EVENT_DTYPE, EventPacket, Geometry
from evrt.graph.node import Source


class ReplaySource(Source):
    """The same packet, with advancing timestamps, `count` times."""

    def __init__(self, packet: int = 10_000, count: int = 100) -> None:
        rng = np.random.default_rng(0)
        self.events = np.zeros(packet, EVENT_DTYPE)
        self.events["t"] = np.sort(rng.integers(0, 10_000, packet))
        self.events["x"] = rng.integers(0, 346, packet)
        self.events["y"] = rng.integers(0, 260, packet)
        self.events["p"] = rng.integers(0, 2, packet)
        self.count = count

    def messages(self) -> Iterator[EventPacket]:
        g = Geometry(346, 260)
        for k in range(self.count):
            ev = self.events.copy()
            ev["t"] += k * 10_000
            yield EventPacket(ev, g, "events", k * 10_000, (k + 1) * 10_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(flow: str, mode: str, packet: int, count: int) -> tuple[float, int, int]:
    g = evrt.Graph(f"bench-{mode}", flow=flow)
    g.add("source", ReplaySource(packet, count))
    viewer = None
    if mode == "null":
        g.add("sink", "null", inputs=["source"])
    else:
        viewer = ViewerSink(port=free_port(), fps=20.0)
        g.add("sink", viewer, inputs=["source"])
    browser_stop = threading.Event()
    browser_ready = threading.Event()
    browser_thread = None
    if mode == "viewer+browser":  # launched first, so it watches from the start of the run
        browser_thread = threading.Thread(target=watch, args=(viewer, browser_ready, browser_stop),
                                          daemon=True)
        browser_thread.start()
        browser_ready.wait(60)
    result = g.run()
    browser_stop.set()
    if browser_thread:
        browser_thread.join(30)
    s = result.nodes["sink"]
    rate = s["events_in"] / max(result.nodes["source"]["elapsed_s"], 1e-9)
    if viewer is None:
        return rate, 0, 0
    st = viewer.state.images.get("events")
    return rate, (st.frames_rendered if st else 0), (st.frames_dropped if st else 0)


def watch(viewer: ViewerSink, ready: threading.Event, stop: threading.Event) -> None:
    """Headless chromium showing the viewer page for the whole run."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=shutil.which("chromium"), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--no-first-run", "--disable-component-update", "--disable-sync"])
        page = b.new_page()
        ready.set()
        while not viewer.url and not stop.is_set():
            time.sleep(0.005)
        try:
            page.goto(f"http://127.0.0.1:{viewer.port}/", timeout=10_000)
            while not stop.is_set():
                page.wait_for_timeout(50)
        except Exception:  # the graph ended and the server went away
            pass
        b.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000_000)
    ap.add_argument("--packet", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    count = args.events // args.packet
    modes = ["null", "viewer", "viewer+browser"] if shutil.which("chromium") else ["null", "viewer"]
    print(f"{args.events / 1e6:.0f} M events in packets of {args.packet}, threads placement, "
          f"median of {args.repeats}")
    print(f"{'flow':<10}{'sink':<16}{'Mev/s':>8}{'vs null':>9}{'drawn':>7}{'dropped':>9}")
    for flow in ("lossless", "realtime"):
        runs: dict[str, list] = {m: [] for m in modes}
        for _ in range(args.repeats):  # interleaved, so drifts in machine load hit every mode
            for mode in modes:
                runs[mode].append(run_once(flow, mode, args.packet, count))
        base = statistics.median(r[0] for r in runs["null"])
        for mode in modes:
            rate = statistics.median(r[0] for r in runs[mode])
            drawn = int(statistics.median(r[1] for r in runs[mode]))
            dropped = int(statistics.median(r[2] for r in runs[mode]))
            spread = (max(r[0] for r in runs[mode]) - min(r[0] for r in runs[mode])) / 1e6
            print(f"{flow:<10}{mode:<16}{rate / 1e6:8.2f}{rate / base:9.2f}{drawn:7d}{dropped:9d}"
                  f"   (spread {spread:.2f})", flush=True)

if __name__ == "__main__":
    main()

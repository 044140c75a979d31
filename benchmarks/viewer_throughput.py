"""Does the viewer slow a graph? Unpaced throughput of source -> sink with a null sink, the
viewer with no browser, and the viewer with headless chromium watching it, in both flows.

The source replays one pre-made packet of `--packet` Poisson events as fast as it can, so
the sink side, not event generation, limits the rate. Reported: median events/s reaching
the sink over `--repeats` runs, its ratio to the null sink of the same flow, and the
pictures the viewer drew and dropped.

    .venv/bin/python benchmarks/viewer_throughput.py --events 20000000 --repeats 5

Wall-clock rates swing with machine load, so two load-robust figures follow: the CPU time
the Python process spent per delivered event in each unpaced run (chromium excluded), the
CPU time the viewer's `process()` spends per 10k-event packet (thread CPU time, no cap), and a
1 Mev/s stream paced at real time for `--paced-s` seconds: the source's lag behind real
time and the CPU seconds the whole Python process used, null sink against viewer.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import numpy as np

import evrt
from evrt.events import EVENT_DTYPE, EventPacket, Geometry
from evrt.graph.node import Source
from evrt.sinks.viewer.node import ViewerSink


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


def run_once(flow: str, mode: str, packet: int, count: int) -> tuple[float, int, int, float]:
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
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    result = g.run()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    browser_stop.set()
    if browser_thread:
        browser_thread.join(30)
    s = result.nodes["sink"]
    rate = s["events_in"] / max(result.nodes["source"]["elapsed_s"], 1e-9)
    cpu_ns = ((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)) * 1e9 / max(s["events_in"], 1)
    if viewer is None:
        return rate, 0, 0, cpu_ns
    st = viewer.state.images.get("events")
    return rate, (st.frames_rendered if st else 0), (st.frames_dropped if st else 0), cpu_ns


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


def process_cost(packet: int, n: int = 300) -> tuple[float, float]:
    """Thread CPU µs per packet of NullSink.process and ViewerState.add (budget cap off)."""
    from evrt.sinks.basic import NullSink
    from evrt.sinks.imaging import warm_up
    from evrt.sinks.viewer.state import ViewerState

    warm_up()
    src = ReplaySource(packet, n)
    packets = list(src.messages())
    null, state = NullSink(), ViewerState(20.0, "png", "turbo", "bench", max_busy=1.0)
    out = []
    for fn in (null.process, state.add):
        t = time.thread_time_ns()
        for m in packets:
            fn(m)
        out.append((time.thread_time_ns() - t) / 1e3 / n)
    return out[0], out[1]


def paced(mode: str, seconds: float) -> tuple[float, float, int]:
    """1 Mev/s Poisson stream at real time: (source lag ms, process CPU s, events at sink)."""
    g = evrt.Graph(f"paced-{mode}", flow="lossless")
    g.add("source", "synthetic", pattern="poisson", rate=1e6, duration=seconds, speed=1.0)
    viewer = ViewerSink(port=free_port(), fps=20.0) if mode != "null" else None
    g.add("sink", viewer or "null", inputs=["source"])
    stop, ready = threading.Event(), threading.Event()
    thread = None
    if mode == "viewer+browser":
        thread = threading.Thread(target=watch, args=(viewer, ready, stop), daemon=True)
        thread.start()
        ready.wait(60)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    result = g.run()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    stop.set()
    if thread:
        thread.join(30)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    return result.nodes["source"]["lag_ms"], cpu, result.nodes["sink"]["events_in"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000_000)
    ap.add_argument("--packet", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--paced-s", type=float, default=5.0)
    args = ap.parse_args()
    count = args.events // args.packet
    modes = ["null", "viewer", "viewer+browser"] if shutil.which("chromium") else ["null", "viewer"]
    print(f"{args.events / 1e6:.0f} M events in packets of {args.packet}, threads placement, "
          f"median of {args.repeats}")
    print(f"{'flow':<10}{'sink':<16}{'Mev/s':>8}{'vs null':>9}{'drawn':>7}{'dropped':>9}"
          f"{'CPU ns/ev':>11}")
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
            cpu = statistics.median(r[3] for r in runs[mode])
            print(f"{flow:<10}{mode:<16}{rate / 1e6:8.2f}{rate / base:9.2f}{drawn:7d}{dropped:9d}"
                  f"{cpu:11.1f}   (spread {spread:.2f} Mev/s)", flush=True)
    null_us, viewer_us = process_cost(args.packet)
    print(f"\nCPU per {args.packet}-event packet: null sink {null_us:.1f} µs, viewer "
          f"{viewer_us:.1f} µs ({viewer_us * 1e3 / args.packet:.1f} ns/event); at 1 Mev/s the "
          f"viewer's counting needs {viewer_us * 1e6 / args.packet / 1e6 * 100:.1f}% of a core")
    print(f"\n1 Mev/s paced at real time for {args.paced_s:.0f} s (lossless):")
    print(f"{'sink':<16}{'lag ms':>8}{'CPU s':>8}{'events':>11}")
    for mode in modes:
        lag, cpu, events = paced(mode, args.paced_s)
        print(f"{mode:<16}{lag:8.1f}{cpu:8.2f}{events:11d}", flush=True)

if __name__ == "__main__":
    main()

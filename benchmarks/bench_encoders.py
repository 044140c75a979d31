"""Encoders and filters: evrt (numba) vs tonic (numpy / Python) vs dv-processing (C++), same events.

    .venv/bin/python benchmarks/bench_encoders.py [--events 2000000] [--tonic-events 60000] [--repeat 3]
        [--only "histogram node"] [--sizes 1280x720]

Inputs are real recordings tiled in time to `--events` events (each copy shifted by the
recording's duration, so time still increases): the DAVIS346 sample (346x260, AEDAT4,
read with dv-processing) and the Gen4.1 EVT3 sample (1280x720, read with expelliarmus; its EVT3 times over-count
TIME_LOW wraps, see shared/data/SOURCES.md, but stay sorted, which is all a speed test needs).
Every number is Mev/s = events / best-of-5 wall time, all contenders of a row taking
turns in the same rounds (the machine's memory speed drifts by up to 1.7x between
identical runs seconds apart), and the table
shows the median over `--repeat` whole passes with the per-pass ratio range, because the
shared machine is noisy (2x between passes). The peers get their native input
prepared outside the timer (a tonic structured array; a dv `EventStore`). tonic's
Python-loop filters run on the first `--tonic-events` events only (they take ~µs/event);
its numpy-vectorised frame, voxel grid and time surface get all the events.
The memory-bandwidth ceiling is a plain numpy copy of the same event array's bytes (16 B/event
read and written; copied as int64 words, since numpy's copy of the padded record dtype is
4-5x slower than the memory).
Node rows stream the events in packets of 5000 and drop each output once made (or keep the
last 3 alive, one row), so the node's BufferRing recycles output arrays as in a pipeline.
The last lines run two encoder jobs on two threads vs one thread doing both (see
`_serial_vs_threads` for the load-robust CPU-share figure).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from _data import shared_data  # benchmarks/ is the script folder, so _data is importable

from evrt.encoders import functional as E
from evrt.encoders.nodes import HistogramEncoder, TimeSurfaceEncoder, VoxelGridEncoder
from evrt.events import EventPacket, Geometry, concat_events, from_dv, make_events, to_tonic
from evrt.filters import functional as F

DATA = shared_data()


PACKET_EVENTS = 5000  # node benchmarks: events per input packet


def load_davis() -> tuple[np.ndarray, Geometry]:
    import dv_processing as dv

    rec = dv.io.MonoCameraRecording(str(DATA / "aedat4" / "aestream_davis.aedat4"))
    chunks = []
    while (batch := rec.getNextEventBatch()) is not None:
        chunks.append(from_dv(batch).copy())
    return concat_events(chunks), Geometry(*rec.getEventResolution())


def load_gen4() -> tuple[np.ndarray, Geometry]:
    import expelliarmus

    raw = expelliarmus.Wizard(encoding="evt3").read(str(DATA / "evt3" / "expelliarmus_evt3_sample.raw"))
    return make_events(raw["t"], raw["x"], raw["y"], raw["p"]), Geometry(1280, 720)


def tile(events: np.ndarray, n: int) -> np.ndarray:
    span = int(events["t"][-1] - events["t"][0]) + 1
    reps = -(-n // events.shape[0])
    out = concat_events([events] * reps)[:n].copy()
    offsets = np.repeat(np.arange(reps, dtype=np.int64) * span, events.shape[0])[:n]
    out["t"] += offsets
    return out


def interleaved(fns: list, n_events: list[int], rounds: int = 5) -> list[float]:
    """Mev/s per function, best of `rounds`, the contenders taking turns in every round so
    that load from other processes on a shared machine hits them alike."""
    best_s = [float("inf")] * len(fns)
    for fn in fns:
        fn()  # warm-up (numba compile or cache load, first-touch of buffers)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best_s[i] = min(best_s[i], time.perf_counter() - t0)
    return [n / s / 1e6 for n, s in zip(n_events, best_s, strict=True)]


def dv_store(events: np.ndarray):
    """A dv EventStore holding `events` (built through dv's own packet path, outside timers)."""
    import dv_processing as dv

    store = dv.EventStore()
    # EventStore has no from-array constructor in 2.0.4: push per event (slow, untimed).
    push = store.push_back
    for t, x, y, p in zip(events["t"].tolist(), events["x"].tolist(), events["y"].tolist(),
                          events["p"].tolist(), strict=True):
        push(t, x, y, bool(p))
    return store


def run_geometry(label: str, events: np.ndarray, g: Geometry, tonic_n: int,
                 only: tuple[str, ...] = ()) -> list[tuple]:
    import dv_processing as dv
    import tonic.functional as tf

    n = events.shape[0]
    W, H = g.width, g.height
    t_first, t_last = int(events["t"][0]), int(events["t"][-1])
    rows: list[tuple] = []

    # The ceiling copies the events' bytes as int64 words. np.copyto of the structured array
    # itself is 4-5x slower (41 vs 7.5-9 ms for 2 M events here): numpy copies records whose
    # dtype has padding through its per-field transfer path, which is not a memory bound.
    src_words = events.view(np.int64)
    dst_words = np.empty_like(src_words)

    def copy_events() -> None:
        np.copyto(dst_words, src_words)

    (copy,) = interleaved([copy_events], [n], rounds=7)
    print(f"[{label}] {n} events; numpy copy {copy:.0f} Mev/s = {copy * 16 / 1000:.2f} GB/s read",
          file=sys.stderr)

    tev = to_tonic(events)
    tsmall = to_tonic(events[:tonic_n])
    store = dv_store(events)
    window = 10_000

    def timed(name, ours, tonic_fn=None, tonic_events=n, dv_fn=None, note=""):
        if only and not any(part in name for part in only):
            return
        fns, counts = [ours, copy_events], [n, n]
        if dv_fn:
            fns.append(dv_fn)
            counts.append(n)
        if tonic_fn:  # tonic takes its turn in the same rounds: the machine's memory speed drifts
            fns.append(tonic_fn)
            counts.append(tonic_events)
        rates = interleaved(fns, counts)
        mine, copy_now = rates[0], rates[1]
        d = rates[2] if dv_fn else None
        t = rates[-1] if tonic_fn else None
        rows.append((label, name, mine, t, d, note, copy_now))
        print(f"  {name:30s} evrt {mine:8.1f}  tonic {t or 0:8.2f}  dv {d or 0:8.1f}  copy {copy_now:6.1f}",
              file=sys.stderr)

    # --- encoders ---
    acc = dv.Accumulator((W, H), dv.Accumulator.Decay.NONE, 0.0, False, 1.0, 1e9, 0.0, -1e9, False)

    def dv_accumulate():
        acc.clear()
        acc.accept(store)
        acc.getPotentialSurface()

    timed("histogram int32 (2xHxW counts)", lambda: E.histogram(events, W, H),
          lambda: tf.to_frame_numpy(tev, (W, H, 2), n_time_bins=1), n, dv_accumulate,
          "dv: Accumulator, no decay (ON-OFF potential)")
    whole = EventPacket(events, g)
    packets = [whole[i:i + PACKET_EVENTS] for i in range(0, n, PACKET_EVENTS)]

    def node_run(make, hold: int = 0):
        """Stream the events through a node as a camera would deliver them (packets of
        PACKET_EVENTS). The consumer drops each output once made, or with `hold` > 0 keeps
        the last `hold` outputs alive (a downstream queue), which the node's buffer ring
        must not overwrite."""
        def go():
            node = make()
            held: list = []
            for packet in packets:
                for msg in node.process(packet):
                    if hold:
                        held = [*held[-hold + 1:], msg] if hold > 1 else [msg]
            for _ in node.finish():
                pass
        return go

    timed("histogram int16 (2xHxW counts)", lambda: E.histogram(events, W, H, dtype=np.int16),
          lambda: tf.to_frame_numpy(tev, (W, H, 2), n_time_bins=1), n, dv_accumulate,
          "int16 like tonic; as many bytes as dv's float32 plane")
    reused = np.zeros((2, H, W), np.int16)

    def into_reused():
        reused.fill(0)
        E.histogram(events, W, H, out=reused)

    timed("histogram int16 into a reused, cleared out=", into_reused, None, n, dv_accumulate,
          "like dv's clear()+accept: both reuse their frame")
    timed("histogram node (int16), 10 ms windows", node_run(lambda: HistogramEncoder(window_us=window)),
          lambda: tf.to_frame_numpy(tev, (W, H, 2), time_window=window), n, None,
          "tonic: to_frame(time_window), int16 frames")
    timed("histogram node (int16), consumer holds 3",
          node_run(lambda: HistogramEncoder(window_us=window), 3),
          lambda: tf.to_frame_numpy(tev, (W, H, 2), time_window=window), n, None,
          "downstream keeps the last 3 outputs alive")
    timed("histogram node (int32), 10 ms windows",
          node_run(lambda: HistogramEncoder(window_us=window, dtype="int32")),
          lambda: tf.to_frame_numpy(tev, (W, H, 2), time_window=window), n, None,
          "twice tonic's bytes per frame")
    # tonic's voxel grid and time surface are numpy-vectorised: they get all n events. The
    # voxel grid rewrites polarity 0 as -1 in its input; after its first call on `tvox` (the
    # warm-up) every call does the same work and gives the same grid, so no copy is timed
    tvox = tev.copy()
    timed("voxel grid (5 bins)", lambda: E.voxel_grid(events, W, H, 5, t_first, t_last),
          lambda: tf.to_voxel_grid_numpy(tvox, (W, H, 2), 5), n)

    ts = dv.TimeSurface((W, H))
    timed("voxel grid node, 10 ms windows", node_run(lambda: VoxelGridEncoder(bins=5, window_us=window)),
          None, n)
    timed("time surface node, 50 ms windows",
          node_run(lambda: TimeSurfaceEncoder(tau_us=50_000.0, window_us=50_000)),
          lambda: tf.to_timesurface_numpy(tev, (W, H, 2), dt=50_000, tau=50_000.0,
                                          include_incomplete=True), n, None,
          "decaying state: an exp per event, a multiply per cell and window (dv has no such surface)")
    merged = E.new_time_state(W, H, polarities=1)
    timed("time-state update, 1 plane", lambda: E.update_time_state(events, merged),
          None, n, lambda: ts.accept(store), "dv: TimeSurface.accept (one int64 plane, too)")
    state = E.new_time_state(W, H)
    timed("time-state update, 2 planes", lambda: E.update_time_state(events, state),
          None, n, lambda: ts.accept(store), "per polarity: twice dv's state")
    timed("spike tensor T=10 binary", lambda: E.spike_tensor(events, W, H, 10, t_first, t_last + 1))
    timed("cumulative stack T=10", lambda: E.cumulative_stack(events, W, H, 10, t_first, t_last + 1))
    edge = dv.EdgeMapAccumulator((W, H), 1.0, True, 0.0, 1.0)

    def dv_edges():
        edge.accept(store)
        edge.generateFrame()

    timed("event image (RGB)", lambda: E.event_image(events, W, H), None, n, dv_edges,
          "dv: EdgeMapAccumulator + generateFrame")

    # --- filters ---
    def dv_filter(make):
        def go():
            f = make()
            f.accept(store)
            f.generateEvents()
        return go

    timed("denoise 8-nbr (BA, 2 ms)",
          lambda: F.select(events, F.background_activity(events, F.new_pixel_times(W, H), 2000, 8)), None, n,
          dv_filter(lambda: dv.noise.BackgroundActivityNoiseFilter((W, H), timedelta(microseconds=2000))),
          "dv: noise.BackgroundActivityNoiseFilter")
    timed("denoise 4-nbr (tonic, 2 ms)",
          lambda: F.select(events, F.background_activity(events, F.new_pixel_times(W, H), 2000, 4)),
          lambda: tf.denoise_numpy(tsmall, filter_time=2000), tonic_n)
    timed("refractory 1 ms", lambda: F.select(events, F.refractory_period(events, F.new_pixel_times(W, H), 1000)),
          lambda: tf.refractory_period_numpy(tsmall, 1000), tonic_n)
    mask = np.full((H, W), 255, np.uint8)
    hot = [(i * 7 % W, i * 13 % H) for i in range(50)]
    for x, y in hot:
        mask[y, x] = 0
    timed("hot pixels (50 listed)", lambda: F.select(events, F.hot_pixels(events, F.HotPixelState(W, H, 0, 0, hot))),
          None, n, dv_filter(lambda: dv.EventMaskFilter(mask)), "dv: EventMaskFilter")
    roi = (W // 4, H // 4, W // 2, H // 2)
    timed("ROI (centre half)", lambda: F.roi(events, *roi, shift=False), None, n,
          dv_filter(lambda: dv.EventRegionFilter(roi)), "dv: EventRegionFilter")
    timed("polarity (ON)", lambda: F.polarity(events, True), None, n,
          dv_filter(lambda: dv.EventPolarityFilter(True)), "dv: EventPolarityFilter")
    timed("downsample x2", lambda: F.downsample(events, 2))
    timed("rotate 90 + flip", lambda: F.orient(events, W, H, True, False, 1))
    if not only:
        rows.append((label, "numpy copy (bandwidth ceiling)", copy, None, None,
                     "np.copyto of the event array's bytes (as int64 words)", copy))
    return rows


def _serial_vs_threads(jobsets: dict[str, object], rounds: int = 7) -> dict[str, dict[str, float]]:
    """Per named job: two copies on one thread vs on two threads, `rounds` times. Within a
    round every job set takes its turn (serial, then threaded), so all see the same load.

    Wall-time speed-up depends on how much CPU the machine's other processes leave us. The
    CPU share (process CPU time / wall time while threaded, divided by the same while
    serial) shows whether the two threads really ran at once: about 2 if they did and a
    second core was free, about 1 if they serialised or no second core was free. Linux's
    autogroup scheduler gives a session the same share however many threads it runs, so on
    a busy machine compare against the GIL-holding control in the same rounds, and see the
    GIL probe. Medians and ranges over the rounds."""
    for job in jobsets.values():
        job()  # warm
    speedups = {name: [] for name in jobsets}
    shares = {name: [] for name in jobsets}
    for _ in range(rounds):
        for name, job in jobsets.items():
            c0, t0 = time.process_time(), time.perf_counter()
            job()
            job()
            serial_wall = time.perf_counter() - t0
            serial_share = (time.process_time() - c0) / serial_wall
            threads = [threading.Thread(target=job) for _ in range(2)]
            c0, t0 = time.process_time(), time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            speedups[name].append(serial_wall / wall)
            shares[name].append((time.process_time() - c0) / wall / serial_share)
    return {name: {"speedup": float(np.median(speedups[name])), "speedup_min": min(speedups[name]),
                   "speedup_max": max(speedups[name]), "share": float(np.median(shares[name])),
                   "share_min": min(shares[name]), "share_max": max(shares[name])}
            for name in jobsets}


def _gil_probe(call, rounds: int = 5, calls: int = 3) -> tuple[float, float, float]:
    """How fast a GIL-needing Python loop turns while `call` runs on another thread,
    relative to its speed beside a thread that merely sleeps (median, min, max over rounds).

    The probe counts only the turns it makes while the worker is inside `call` (the worker
    raises a flag around each call and sums the time spent inside). Near 0: the call holds
    the GIL. Well above 0: other Python threads keep running meanwhile. Unlike a wall-time
    speed-up this needs no idle second core: sharing one core, the probe still gets its part."""
    call()  # warm
    inside = [False, 0.0]

    def job():
        for _ in range(calls):
            t0 = time.perf_counter()
            inside[0] = True
            call()
            inside[0] = False
            inside[1] += time.perf_counter() - t0

    ratios = []
    interval = sys.getswitchinterval()
    # a GIL-holding call hands the GIL over only when it returns, before the flag drops: a
    # short switch interval keeps that hand-over (counted as 'inside') to a sliver
    sys.setswitchinterval(0.0005)
    for _ in range(rounds):
        t0 = time.perf_counter()
        job()
        duration = time.perf_counter() - t0
        sleeper = threading.Thread(target=time.sleep, args=(duration,))
        n, t0 = 0, time.perf_counter()
        sleeper.start()
        while sleeper.is_alive():
            n += 1
        idle_rate = n / (time.perf_counter() - t0)
        inside[1] = 0.0
        worker = threading.Thread(target=job)
        n = 0
        worker.start()
        while worker.is_alive():
            if inside[0]:
                n += 1
        ratios.append(n / inside[1] / idle_rate)
    sys.setswitchinterval(interval)
    return float(np.median(ratios)), min(ratios), max(ratios)


def bench_threads(events: np.ndarray, g: Geometry) -> dict[str, dict[str, float]]:
    """Two encoder jobs on one thread vs on two threads (numba releases the GIL): the bare
    kernel on the whole array, the same kernel compiled WITHOUT nogil as a control, and
    nodes fed packets of 5000 and of 50 000 events."""
    import numba

    from evrt.encoders.functional._common import records
    from evrt.encoders.functional.voxel_grid import _voxel_kernel

    t0, t1 = int(events["t"][0]), int(events["t"][-1])
    holds_gil = numba.njit(nogil=False)(_voxel_kernel.py_func)
    rec = records(events)

    def kernel():
        E.voxel_grid(events, g.width, g.height, 5, t0, t1)

    def control():
        holds_gil(rec, np.int64(t0), np.int64(t1), np.zeros((5, g.height, g.width), np.float32))

    def node_job(size):
        whole = EventPacket(events, g)
        packets = [whole[i:i + size] for i in range(0, len(whole), size)]

        def job():
            node = VoxelGridEncoder(bins=5, window_us=10_000)
            for p in packets:
                for _ in node.process(p):
                    pass
            for _ in node.finish():
                pass
        return job

    jobs = {"voxel_grid kernel (nogil), whole array": kernel,
            "control: same kernel compiled without nogil": control,
            f"voxel_grid node, {PACKET_EVENTS}-event packets, 10 ms windows": node_job(PACKET_EVENTS),
            "voxel_grid node, 50000-event packets, 10 ms windows": node_job(50_000)}
    out = _serial_vs_threads(jobs)
    out["GIL probe"] = {name: _gil_probe(job, calls=3 if "node" not in name else 1)
                        for name, job in jobs.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--tonic-events", type=int, default=60_000)
    ap.add_argument("--repeat", type=int, default=3, help="whole passes; figures are medians over them")
    ap.add_argument("--only", action="append", default=[], metavar="TEXT",
                    help="run only the rows whose name contains TEXT (repeatable); skips the thread test")
    ap.add_argument("--sizes", default="346x260,1280x720", help="comma-separated: 346x260, 1280x720")
    args = ap.parse_args()
    only = tuple(args.only)
    data = {}
    for label, loader in (("346x260", load_davis), ("1280x720", load_gen4)):
        if label not in args.sizes.split(","):
            continue
        base, g = loader()
        data[label] = (tile(base, args.events), g)
    runs = []  # one list of rows per repeat; figures are reported as the median over repeats
    for rep in range(args.repeat):
        print(f"--- repeat {rep + 1}/{args.repeat}", file=sys.stderr)
        runs.append([row for label, (events, g) in data.items()
                     for row in run_geometry(label, events, g, args.tonic_events, only)])
    threads = bench_threads(*data["346x260"]) if not only and "346x260" in data else {}

    def med(values):
        values = [v for v in values if v]
        return float(np.median(values)) if values else None

    def spread(values):
        # decimals by the smallest value, so a range that reaches below a target (10x tonic,
        # 1x dv) never prints as if it did not: [9.6-11] is not [10-11], [0.96-2.1] not [1.0-2.1]
        digits = 2 if min(values) < 2 else 1 if min(values) < 10 else 0
        return f" [{min(values):.{digits}f}-{max(values):.{digits}f}]" if len(values) > 1 else ""

    rows = []
    for i, first in enumerate(runs[0]):
        same = [run[i] for run in runs]
        mine, t, d, copy_now = (med([r[k] for r in same]) for k in (2, 3, 4, 6))
        tonic_ratios = [r[2] / r[3] for r in same if r[3]]
        dv_ratios = [r[2] / r[4] for r in same if r[4]]
        rows.append((first[0], first[1], mine, t, d, first[5], copy_now, tonic_ratios, dv_ratios))

    load = os.getloadavg()
    print(f"\nCPU: {os.cpu_count()} logical cores visible, load average {load[0]:.1f} / {load[1]:.1f} "
          f"(1/5 min) at the end; events per run: {args.events}; repeats: {args.repeat} "
          "(Mev/s: median of the repeats' best-of-rounds; ratios: median of the per-repeat ratios "
          "[min-max])\n")
    print("| sensor | operation | evrt Mev/s | tonic Mev/s | evrt/tonic | dv-processing Mev/s "
          "| evrt/dv | copy Mev/s (same rounds) | note |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for label, name, mine, t, d, note, copy_now, trs, drs in rows:
        ts = f"{t:.2f}" if t else "-"
        tr = f"{np.median(trs):.{0 if np.median(trs) >= 10 else 1}f}x{spread(trs)}" if trs else "-"
        ds = f"{d:.1f}" if d else "-"
        dr = f"{np.median(drs):.2f}x{spread(drs)}" if drs else "-"
        print(f"| {label} | {name} | {mine:.1f} | {ts} | {tr} | {ds} | {dr} | {copy_now:.1f} | {note} |")
    for label in data:
        hist = next((r for r in rows if r[0] == label and r[1].startswith("histogram int32")), None)
        if hist:
            print(f"\n{label}: histogram {hist[2]:.0f} Mev/s vs a numpy copy of the events in the same "
                  f"rounds {hist[6]:.0f} Mev/s: ratio copy/histogram = {hist[6] / hist[2]:.2f} (target <= 3)")
    if not threads:
        return
    print(f"\nTwo jobs on 346x260, {args.events} events each: one thread vs two threads, "
          "7 interleaved rounds, median [min-max]")
    probe = threads.pop("GIL probe")
    for name, r in threads.items():
        print(f"- {name}: wall speed-up {r['speedup']:.2f}x [{r['speedup_min']:.2f}-{r['speedup_max']:.2f}]; "
              f"CPU share threaded/serial {r['share']:.2f}x [{r['share_min']:.2f}-{r['share_max']:.2f}]")
    print("\nGIL probe: a pure-Python loop's progress while the job runs on another thread, relative "
          "to beside a sleeping thread (5 rounds, median [min-max]; ~0 = GIL held)")
    for name, (med, lo, hi) in probe.items():
        print(f"- {name}: {med:.2f} [{lo:.2f}-{hi:.2f}]")
    try:
        autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        autogroup = False
    if autogroup:
        print("(Linux scheduler autogroup is on: CPU is shared per session, so a second thread "
              "gets no extra CPU share on a busy machine; wall speed-ups need idle cores.)")


if __name__ == "__main__":
    main()

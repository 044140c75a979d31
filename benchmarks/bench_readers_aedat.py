"""Decode throughput of evrt's AEDAT readers against their peers, and streaming memory.

    .venv/bin/python benchmarks/bench_readers_aedat.py [--repeat 15] [--data ../shared/data]

Throughput: each reader decodes every event of the file into numpy arrays (packet by packet,
as each library streams); `--repeat` rounds after one untimed warm-up round (file in the page
cache, numba compiled), the readers taking turns in a rotating order within each round.
Reported per reader: median and best wall time as Mev/s, the spread (min-max Mev/s) and the
median process CPU time (all threads), which the load of other processes inflates less.
Peers: dv-processing and `aedat` (AEDAT 4.0), a vectorised numpy decode (AEDAT 2.0, DVS
events only, no IMU/time checks). Inputs are the samples repeated 10x into a temp file (time
shifted so it keeps increasing; AEDAT4 rewritten by dv-processing, as a real recording),
~1.1-3.7 M events per run.

Memory: tracemalloc peak while streaming the sample and the 10x file packet by packet
(numpy and Python buffers are traced); the 10x file must stay within 20% of the sample.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from _data import shared_data  # benchmarks/ is the script folder, so _data is importable

from evrt.events import EventPacket
from evrt.sources.files import open_file
from evrt.sources.files.aedat2 import parse_header

REPEAT = 10


def repeat_aedat4(src: Path, dst: Path, times: int) -> None:
    """The events of `src` repeated `times` times (later copies shifted in time), written by
    dv-processing like a real recording (LZ4 frames with linked blocks, no content size)."""
    from evrt.graph.node import NodeContext
    from evrt.sinks.aedat4 import Aedat4Sink
    from evrt.sources.files.base import copy_events

    with open_file(src) as r:
        packets = [m for m in r.packets(streams=["events"])]
        geometry = r.geometry
    t0, t1 = packets[0].t_start, packets[-1].t_end
    sink = Aedat4Sink(str(dst), geometry.width, geometry.height)
    sink.open(NodeContext("bench"))
    for k in range(times):
        for m in packets:
            ev = copy_events(m.events)
            ev["t"] += k * (t1 - t0)
            sink.process(EventPacket(ev, geometry))
    sink.close()


def repeat_aedat4_packets(src: Path, dst: Path, times: int) -> None:
    """The event packets of `src` repeated as they are (same packet sizes; payload re-compressed
    with python-lz4 after shifting time), for the memory comparison."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import lz4.frame
    from aedat_helpers import aedat4_packets, rebuild

    from evrt.sources.files import flatbuf

    header, packets = aedat4_packets(src)
    raws = [bytearray(lz4.frame.decompress(pl)) for _, sid, pl in packets if sid == 0]
    views = []
    for raw in raws:
        t = flatbuf.root(raw, b"EVTS", size_prefixed=True)
        start, n = t.vector(0, 16)
        views.append(np.frombuffer(raw, np.int64, count=2 * n, offset=start)[::2])
    span = int(views[-1][-1]) - int(views[0][0]) + 1
    out = []
    for _ in range(times):
        for raw, view in zip(raws, views, strict=True):
            out.append((0, lz4.frame.compress(bytes(raw))))
            view += span  # the next copy is one span later
    dst.write_bytes(rebuild(header, out))


def repeat_aedat2(src: Path, dst: Path, times: int) -> None:
    with open(src, "rb") as f:
        start, _ = parse_header(str(src), f)
    data = src.read_bytes()
    rec = np.frombuffer(data[start:], ">i4").reshape(-1, 2)
    span = int(rec[-1, 1]) - int(rec[0, 1]) + 1
    with open(dst, "wb") as f:
        f.write(data[:start])
        for k in range(times):
            r = rec.copy()
            r[:, 1] += k * span
            f.write(r.tobytes())


def interleaved(readers: list[tuple[str, object]], repeat: int) -> list[tuple[str, int, list, list]]:
    """Wall and CPU times of each reader over `repeat` rounds, after one untimed warm-up
    round; in each round the readers take turns, starting one later than the round before
    (so neither load from other processes nor cache state favours a fixed position)."""
    walls: dict[str, list[float]] = {label: [] for label, _ in readers}
    cpus: dict[str, list[float]] = {label: [] for label, _ in readers}
    counts: dict[str, int] = {}
    for label, fn in readers:
        counts[label] = fn()
    if len(set(counts.values())) != 1:
        raise SystemExit(f"readers disagree on the event count: {counts}")
    for r in range(repeat):
        k = r % len(readers)
        for label, fn in readers[k:] + readers[:k]:
            c, t = time.process_time(), time.perf_counter()
            fn()
            walls[label].append(time.perf_counter() - t)
            cpus[label].append(time.process_time() - c)
    return [(label, counts[label], walls[label], cpus[label]) for label, _ in readers]


def ours(path: Path, **kw):
    def run() -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_file(path, **kw) as r:
                return sum(len(m) for m in r.packets(streams=["events"]))
    return run


def dv_reader(path: Path):
    def run() -> int:
        import dv_processing as dv

        rec = dv.io.MonoCameraRecording(str(path))
        n = 0
        while rec.isRunning():
            batch = rec.getNextEventBatch()
            if batch is None:
                break
            n += batch.numpy().shape[0]  # into numpy, as a user of events would
        return n
    return run


def aedat_reader(path: Path):
    def run() -> int:
        import aedat

        n = 0
        for packet in aedat.Decoder(str(path)):
            if "events" in packet:
                n += packet["events"].shape[0]
        return n
    return run


def numpy_aedat2(path: Path):
    with open(path, "rb") as f:
        start, _ = parse_header(str(path), f)

    def run() -> int:
        raw = np.fromfile(path, dtype=">u4", offset=start)
        raw = raw[: raw.size // 2 * 2].reshape(-1, 2)
        a, t = raw[:, 0], raw[:, 1].astype(np.int64)
        dvs = ((a >> 31) == 0) & (((a >> 10) & 1) == 0)
        a, t = a[dvs], t[dvs]
        out = np.zeros(a.size, np.dtype({"names": ["t", "x", "y", "p"],
                                         "formats": ["<i8", "<i2", "<i2", "i1"],
                                         "offsets": [0, 8, 10, 12], "itemsize": 16}))
        out["t"], out["x"] = t, (a >> 12) & 0x3FF
        out["y"], out["p"] = (a >> 22) & 0x1FF, (a >> 11) & 1
        return out.size
    return run


def stream_peak(path: Path) -> tuple[int, int]:
    """(events, tracemalloc peak bytes) while streaming every message of the file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracemalloc.start()
        n = 0
        with open_file(path) as r:
            for m in r.packets():
                if isinstance(m, EventPacket):
                    n += len(m)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return n, peak


_RSS_CODE = """
import os, sys, warnings
warnings.simplefilter("ignore")
from evrt.sources.files import open_file
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
n, base, peak = 0, 0, 0
with open_file(sys.argv[1]) as r:
    for i, m in enumerate(r.packets()):
        n += len(getattr(m, "events", ()))
        if i == 2:
            base = rss()
        elif i > 2:
            peak = max(peak, rss())
print(n, peak - base)
"""


def stream_rss(path: Path) -> tuple[int, int]:
    """(events, growth of the resident set after the first packets) while streaming `path` in
    a fresh process (Linux): counts the memory-mapped file pages that tracemalloc misses."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", _RSS_CODE, str(path)], capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--data", default=str(shared_data()))
    args = ap.parse_args()
    data = Path(args.data)
    if not data.is_dir():
        data = Path("/work/shared/data")
    tmp = Path(tempfile.mkdtemp(prefix="evrt-bench-"))
    ours(data / "aedat2/PyAedatTools_IMU_rotDisk.aedat")()  # numba compile / cache load
    rows = []
    for name in ("aedat4/aestream_davis.aedat4", "aedat4/tonic_sample.aedat4"):
        big = tmp / (Path(name).stem + "_x10.aedat4")
        repeat_aedat4(data / name, big, REPEAT)
        readers = [("evrt", ours(big)), ("evrt threads=2", ours(big, threads=2)),
                   ("dv-processing", dv_reader(big)), ("aedat", aedat_reader(big))]
        rows += [(name + " x10", *r) for r in interleaved(readers, args.repeat)]
    for name in ("aedat2/PyAedatTools_IMU_rotDisk.aedat", "aedat2/PyAedatTools_IMU_translBoxes.aedat"):
        big = tmp / (Path(name).stem + "_x10.aedat")
        repeat_aedat2(data / name, big, REPEAT)
        readers = [("evrt", ours(big)), ("numpy (vectorised)", numpy_aedat2(big))]
        rows += [(name + " x10", *r) for r in interleaved(readers, args.repeat)]
    print(f"{args.repeat} rounds; Mev/s from the median and the best wall time; spread = "
          "slowest..fastest round; CPU = median process CPU ms; evrt/peer = ratio of the "
          "median rates (best rates)")
    print(f"{'file':48s} {'reader':20s} {'events':>9s} {'med Mev/s':>9s} {'best':>6s} "
          f"{'spread':>11s} {'CPU ms':>7s} {'evrt/peer':>15s}")
    ref: dict[str, tuple[float, float]] = {}
    for f, label, n, walls, cpus in rows:
        med, best = n / statistics.median(walls) / 1e6, n / min(walls) / 1e6
        if label == "evrt":
            ref[f] = (med, best)
        ratio = "" if label == "evrt" else f"{ref[f][0] / med:.2f} ({ref[f][1] / best:.2f})"
        print(f"{f:48s} {label:20s} {n:9d} {med:9.2f} {best:6.2f} "
              f"{n / max(walls) / 1e6:5.1f}..{best:<5.1f} {statistics.median(cpus) * 1e3:7.1f} "
              f"{ratio:>15s}")
    print()
    from evrt.events import to_dv

    with open_file(data / "aedat4/tonic_sample.aedat4") as r:
        ev = r.read_all()
    t = time.perf_counter()
    to_dv(ev)
    dt = time.perf_counter() - t
    print(f"evrt.events.to_dv (EventStore.push_back per event, the AEDAT4 writer's input): "
          f"{ev.size / dt / 1e6:.2f} Mev/s")
    print()
    print(f"{'streamed file':48s} {'events':>10s} {'peak MiB':>9s} {'ratio':>6s}")
    for name, maker, suffix in (("aedat4/aestream_davis.aedat4", repeat_aedat4_packets, ".aedat4"),
                                ("aedat4/tonic_sample.aedat4", repeat_aedat4_packets, ".aedat4"),
                                ("aedat2/PyAedatTools_IMU_rotDisk.aedat", repeat_aedat2, ".aedat")):
        small = tmp / (Path(name).stem + "_mem_x1" + suffix)  # same encoding, 1x and 10x
        big = tmp / (Path(name).stem + "_mem_x10" + suffix)
        maker(data / name, small, 1)
        maker(data / name, big, REPEAT)
        n1, p1 = stream_peak(small)
        n2, p2 = stream_peak(big)
        print(f"{name:48s} {n1:10d} {p1 / 2**20:9.2f}")
        print(f"{name + ' x10':48s} {n2:10d} {p2 / 2**20:9.2f} {p2 / p1:6.2f}")
    if Path("/proc/self/statm").exists():
        print()
        print(f"{'streamed file (resident set, fresh process)':48s} {'events':>10s} {'MiB':>9s}")
        name = "aedat4/aestream_davis.aedat4"
        for times in (REPEAT, 10 * REPEAT):
            path = tmp / f"rss_x{times}.aedat4"
            repeat_aedat4_packets(data / name, path, times)
            n, grow = stream_rss(path)
            print(f"{name + f' x{times} ({path.stat().st_size / 1e6:.0f} MB)':48s} {n:10d} "
                  f"{grow / 2**20:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

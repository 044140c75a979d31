"""Decode throughput of evrt's Prophesee (EVT 2.0, EVT 3.0, DAT) and HDF5 (MVSEC, DSEC) readers
against expelliarmus and a read-everything h5py baseline, measured in one run; plus peak
memory while streaming a file 10x longer than the sample.

Long files repeat the sample's data words with the time base moved forward on each copy
(TIME_HIGH words / DAT timestamps shifted), so they stay valid recordings.

    .venv/bin/python benchmarks/bench_readers_prophesee.py [--repeat 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from _data import shared_data  # benchmarks/ is the script folder, so _data is importable

from evrt.events import make_events
from evrt.sources.files import open_file
from evrt.sources.files.prophesee_header import read_header

DATA = shared_data()
SAMPLES = {
    "evt2": DATA / "evt2/expelliarmus_evt2_sample.raw",
    "evt3": DATA / "evt3/expelliarmus_evt3_sample.raw",
    "dat": DATA / "dat/expelliarmus_dat_test_NCARS.dat",
}


def repeat_file(src: Path, dst: Path, fmt: str, repeat: int) -> None:
    """Write `src` with its data words repeated `repeat` times, time moved on per copy."""
    header = read_header(src)
    raw = src.read_bytes()
    if fmt == "dat":
        head, body = raw[: header.length + 2], raw[header.length + 2 :]
        rec = np.frombuffer(body[: len(body) // 8 * 8], "<u4").reshape(-1, 2)
        span = int(rec[-1, 0]) - int(rec[0, 0]) + 1
        parts = []
        for k in range(repeat):
            r = rec.copy()
            r[:, 0] += np.uint32(k * span)
            parts.append(r)
        dst.write_bytes(head + np.concatenate(parts).tobytes())
        return
    dtype, kind_shift, mask = ("<u4", 28, (1 << 28) - 1) if fmt == "evt2" else ("<u2", 12, 0xFFF)
    head, body = raw[: header.length], raw[header.length :]
    words = np.frombuffer(body, dtype)
    is_high = (words >> kind_shift) == 8
    highs = (words[is_high] & mask).astype(np.int64)
    span = int(highs.max() - highs.min()) + 1
    parts = []
    for k in range(repeat):
        w = words.copy()
        w[is_high] = (w[is_high] & ~np.asarray(mask, w.dtype)) | ((highs + k * span) & mask).astype(w.dtype)
        parts.append(w)
    dst.write_bytes(head + np.concatenate(parts).tobytes())


def all_times(fns, runs: int) -> list[tuple[list[float], object]]:
    """Wall times of each function over `runs` runs, the functions interleaved run by run
    (starting one later each run) so that a shared machine's load hits them alike."""
    times: list[list[float]] = [[] for _ in fns]
    outs: list[object] = [None] * len(fns)
    for r in range(runs):
        k = r % len(fns)
        for i in list(range(k, len(fns))) + list(range(k)):
            outs[i] = None
            gc.collect()
            t0 = time.perf_counter()
            outs[i] = fns[i]()
            times[i].append(time.perf_counter() - t0)
    return list(zip(times, outs, strict=True))


def best_times(fns, runs: int) -> list[tuple[float, object]]:
    """Best wall time of each function (interleaved as in `all_times`)."""
    return [(min(t), out) for t, out in all_times(fns, runs)]


def evrt_read(path: Path):
    with open_file(path) as reader:
        return reader.read_all()


def evrt_stream(path: Path) -> int:
    """Stream the file as its own blocks (bounded memory), counting events."""
    n = 0
    with open_file(path) as reader:
        for m in reader.packets():
            n += len(getattr(m, "events", ()))
    return n


def expelliarmus_read(path: Path, fmt: str):
    from expelliarmus import Wizard

    return Wizard(encoding=fmt).read(str(path))


def stream_peak(path: Path, window_us: int | None) -> tuple[int, int]:
    """Peak traced bytes while streaming the whole file (file blocks or windows); events seen."""
    gc.collect()
    tracemalloc.start()
    n = 0
    with open_file(path) as reader:
        for m in reader.packets(window_us=window_us):
            n += len(getattr(m, "events", ()))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=10, help="copies of the sample in the long file")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per reader")
    args = ap.parse_args()
    missing = [str(p) for p in SAMPLES.values() if not p.is_file()]
    if missing:
        print(f"samples missing ({missing}); set EVRT_SHARED_DATA", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="evrt-bench-"))
    print(f"# decode throughput, {args.runs} interleaved runs; long files = sample x{args.repeat} "
          f"(DAT x{args.repeat * 50})\n")
    print("Mev/s from the median wall time (best in brackets); spread = slowest..fastest run\n")
    print("| format | events | evrt read_all Mev/s | evrt streaming Mev/s | expelliarmus Mev/s "
          "| read_all spread | expelliarmus spread | evrt read_all / expelliarmus |")
    print("|---|---|---|---|---|---|---|---|")
    long_files = {}
    for fmt, src in SAMPLES.items():
        repeat = args.repeat * (50 if fmt == "dat" else 1)
        dst = tmp / f"long_{fmt}{src.suffix}"
        repeat_file(src, dst, fmt, repeat)
        long_files[fmt] = dst
        evrt_read(dst)  # numba compile / cache load outside the timing
        (w_ours, ev), (w_stream, n_stream), (w_peer, pv) = all_times(
            [lambda d=dst: evrt_read(d), lambda d=dst: evrt_stream(d),
             lambda d=dst, f=fmt: expelliarmus_read(d, f)], args.runs)
        assert len(pv) == ev.size == n_stream, (fmt, len(pv), ev.size, n_stream)
        assert np.array_equal(pv["x"], ev["x"]) and np.array_equal(pv["y"], ev["y"])
        n = ev.size

        def rate(w: list[float], n: int = n) -> str:
            return f"{n / statistics.median(w) / 1e6:.1f} ({n / min(w) / 1e6:.1f})"

        def spread(w: list[float], n: int = n) -> str:
            return f"{n / max(w) / 1e6:.1f}..{n / min(w) / 1e6:.1f}"

        print(f"| {fmt} | {n:,} | {rate(w_ours)} | {rate(w_stream)} | {rate(w_peer)} | "
              f"{spread(w_ours)} | {spread(w_peer)} | "
              f"{statistics.median(w_peer) / statistics.median(w_ours):.2f}x "
              f"({min(w_peer) / min(w_ours):.2f}x) |")

    print(f"\n# peak memory (tracemalloc) streaming the sample and the sample x{args.repeat}\n")
    print("| format | packets | short: events, peak MiB | long: events, peak MiB | long / short |")
    print("|---|---|---|---|---|")
    for fmt, src in SAMPLES.items():
        dst = tmp / f"mem_{fmt}{src.suffix}"
        repeat_file(src, dst, fmt, args.repeat)
        for window in (None, 1000):
            p_short, n_short = stream_peak(src, window)
            p_long, n_long = stream_peak(dst, window)
            assert n_long == n_short * args.repeat
            kind = "file blocks" if window is None else f"{window} us windows"
            print(f"| {fmt} | {kind} | {n_short:,}, {p_short / 2**20:.1f} | "
                  f"{n_long:,}, {p_long / 2**20:.1f} | {p_long / p_short:.2f} |")

    # HDF5 layouts, written from the long EVT 2.0 events
    import h5py
    import hdf5plugin  # noqa: F401

    from evrt.sinks.hdf5 import write_dsec
    from evrt.sources.files.mvsec import rows_to_events
    from evrt.sources.files.mvsec_writer import write_mvsec_data

    ev = evrt_read(long_files["evt2"])
    ev = make_events(ev["t"], ev["x"] % 346, ev["y"] % 260, ev["p"])
    dsec_path, mvsec_path = tmp / "events.h5", tmp / "seq_data.hdf5"
    write_dsec(str(dsec_path), ev)
    write_mvsec_data(mvsec_path, {"left": ev})

    def h5py_dsec_whole():
        with h5py.File(dsec_path, "r") as f:
            off = int(f["t_offset"][()])
            return make_events(f["events/t"][()].astype(np.int64) + off, f["events/x"][()],
                               f["events/y"][()], f["events/p"][()])

    def h5py_mvsec_whole():
        with h5py.File(mvsec_path, "r") as f:
            return rows_to_events(f["davis/left/events"][()])

    print(f"\n# HDF5 read throughput ({ev.size:,} events), best of {args.runs}\n")
    print("| layout | evrt streaming Mev/s | h5py read-all + numpy Mev/s | evrt / baseline |")
    print("|---|---|---|---|")
    for name, path, base in (("DSEC (Blosc/ZSTD)", dsec_path, h5py_dsec_whole),
                             ("MVSEC (gzip float64)", mvsec_path, h5py_mvsec_whole)):
        (t_ours, got), (t_base, want) = best_times([lambda p=path: evrt_read(p), base], args.runs)
        assert got.tobytes() == want.tobytes()
        print(f"| {name} | {ev.size / t_ours / 1e6:.1f} | {ev.size / t_base / 1e6:.1f} | "
              f"{t_base / t_ours:.2f}x |")
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

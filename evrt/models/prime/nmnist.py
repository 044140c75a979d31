"""N-MNIST / N-Caltech101 `.bin` files: 5 bytes per event, big-endian bit order.

    byte 0: x (8 bits)     byte 1: y (8 bits)
    bytes 2-4: polarity in the top bit (1 = ON), then a 23-bit timestamp in microseconds

`read_nmnist(path)` gives EVENT_DTYPE events (p: 0 = OFF, 1 = ON) and `write_nmnist` the
inverse (used for the round-trip test and to hand digits_saccades samples to tools that read
N-MNIST). A PRIME model reads such a sample through `encode` like any 34 x 34 packet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evrt.errors import EventDataError, FormatError
from evrt.events import EVENT_DTYPE, Geometry

__all__ = ["NMNIST_GEOMETRY", "read_nmnist", "write_nmnist", "decode_nmnist", "encode_nmnist"]

NMNIST_GEOMETRY = Geometry(34, 34)
TS_MAX = (1 << 23) - 1


def decode_nmnist(raw: bytes | np.ndarray, path: object = "<bytes>") -> np.ndarray:
    """Events from the raw bytes of an N-MNIST file."""
    b = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw
    if b.size % 5:
        raise FormatError(path, b.size - b.size % 5,
                          f"a whole number of 5-byte events (file has {b.size} bytes, "
                          f"{b.size % 5} trailing)")
    rec = b.reshape(-1, 5).astype(np.int64)
    events = np.zeros(rec.shape[0], EVENT_DTYPE)
    events["x"] = rec[:, 0]
    events["y"] = rec[:, 1]
    events["p"] = rec[:, 2] >> 7
    t = ((rec[:, 2] & 0x7F) << 16) | (rec[:, 3] << 8) | rec[:, 4]
    events["t"] = t
    if t.size > 1 and np.any(np.diff(t) < 0):
        bad = int(np.argmax(np.diff(t) < 0)) + 1
        raise FormatError(path, bad * 5, "timestamps that do not decrease (23-bit field, no wrap "
                                         "in an N-MNIST sample)")
    return events


def read_nmnist(path: str | Path) -> np.ndarray:
    """Events of one N-MNIST `.bin` sample (t in µs from the file's clock, 34 x 34)."""
    p = Path(path)
    return decode_nmnist(p.read_bytes(), p)


def encode_nmnist(events: np.ndarray) -> bytes:
    """The 5-byte records of `events` (x, y < 256, 0 <= t < 2^23 µs)."""
    ev = np.asarray(events)
    t = ev["t"].astype(np.int64)
    x = ev["x"].astype(np.int64)
    y = ev["y"].astype(np.int64)
    if ev.size and (t.min() < 0 or t.max() > TS_MAX):
        raise EventDataError(f"N-MNIST timestamps must lie in [0, {TS_MAX}] µs")
    if ev.size and (x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 255):
        raise EventDataError("N-MNIST coordinates must lie in [0, 255]")
    rec = np.empty((ev.size, 5), np.uint8)
    rec[:, 0] = x
    rec[:, 1] = y
    rec[:, 2] = ((ev["p"].astype(np.int64) != 0) << 7) | (t >> 16)
    rec[:, 3] = (t >> 8) & 0xFF
    rec[:, 4] = t & 0xFF
    return rec.tobytes()


def write_nmnist(path: str | Path, events: np.ndarray) -> None:
    Path(path).write_bytes(encode_nmnist(events))


def nmnist_folder(root: str | Path, split: str) -> list[tuple[Path, int]]:
    """(file, label) of an extracted N-MNIST tree: ROOT/Train|Test/<digit>/*.bin, sorted."""
    base = Path(root) / {"train": "Train", "test": "Test"}.get(split, split)
    if not base.is_dir():
        raise FormatError(base, None, "an N-MNIST folder with Train/ and Test/ subfolders")
    items = [(f, int(d.name)) for d in sorted(base.iterdir()) if d.is_dir() and d.name.isdigit()
             for f in sorted(d.glob("*.bin"))]
    if not items:
        raise FormatError(base, None, "<digit>/*.bin files")
    return items


def load_nmnist_tensors(root: str | Path, split: str, steps: int, limit: int = 0,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spike tensors (N x steps x 2 x 34 x 34 uint8) of an N-MNIST split, each sample binned over
    [0, its last timestamp]; `limit` takes a fixed random subset. Third item: file positions."""
    from evrt.encoders.functional.spike_tensor import spike_tensor

    items = nmnist_folder(root, split)
    order = np.arange(len(items))
    if limit and limit < len(items):
        order = np.sort(np.random.default_rng(seed).permutation(len(items))[:limit])
    x = np.zeros((len(order), steps, 2, 34, 34), np.uint8)
    y = np.zeros(len(order), np.int64)
    for k, i in enumerate(order):
        path, label = items[i]
        ev = read_nmnist(path)
        end = int(ev["t"][-1]) + 1 if ev.size else 1
        x[k] = spike_tensor(ev, 34, 34, steps, 0, end, binary=True, dtype=np.uint8)
        y[k] = label
    return x, y, order

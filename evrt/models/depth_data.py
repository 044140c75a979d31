"""Depth training samples: (event representation [T, 2, H, W], ground-truth depth [H, W] metres).

A sample is the window of events that ends at a ground-truth depth timestamp, encoded with
the spike-tensor or cumulative-stacking encoder (`evrt.encoders.functional`). Sources:

- MVSEC-format HDF5 (`<seq>_data.hdf5` + `<seq>_gt.hdf5`, see FORMATS.md), read with h5py by
  time range (binary search on the time column, never the whole file);
- the synthetic `depth_scene` (ground-truth depth per frame), see `scene_samples`.

`write_mvsec` writes the same layout, so any event stream with depth can be stored and
re-read through exactly the path used for real MVSEC recordings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evrt.errors import ConfigError, FormatError
from evrt.events import EVENT_DTYPE, copy_events

__all__ = ["REPRESENTATIONS", "encode_window", "MvsecDepthFile", "write_mvsec", "DepthSamples",
           "stack_samples"]

REPRESENTATIONS = ("cumulative", "spike_tensor")


def encode_window(events: np.ndarray, width: int, height: int, steps: int, t_start: int,
                  t_end: int, representation: str = "cumulative") -> np.ndarray:
    """Events of [t_start, t_end) -> float32 [steps, 2, height, width] network input.

    `cumulative`: frame k holds log(1 + count) of all events in [t_start, t_start + (k+1)D/T)
    (cumulative stacking: every step sees everything so far, finer for later steps);
    `spike_tensor`: binary, 1 where a pixel fired in step k's bin.
    """
    from evrt.encoders.functional import cumulative_stack, spike_tensor

    if representation == "cumulative":
        out = cumulative_stack(events, width, height, steps, t_start, t_end, binary=False)
        return np.log1p(out, out=out)
    if representation == "spike_tensor":
        return spike_tensor(events, width, height, steps, t_start, t_end, binary=True)
    raise ConfigError(f"unknown representation {representation!r}; expected one of {REPRESENTATIONS}",
                      key="representation")


@dataclass
class DepthSamples:
    """Encoded samples held in memory: x [N, T, 2, H, W] float32, depth [N, H, W] float32 (NaN unknown)."""

    x: np.ndarray
    depth: np.ndarray
    times: np.ndarray  # [N] µs, the depth timestamps

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, idx: np.ndarray | slice) -> DepthSamples:
        return DepthSamples(self.x[idx], self.depth[idx], self.times[idx])


def stack_samples(samples: list[tuple[np.ndarray, np.ndarray, int]]) -> DepthSamples:
    if not samples:
        raise ConfigError("no depth samples: the data source yielded no ground-truth frames with events")
    xs, ds, ts = zip(*samples, strict=True)
    return DepthSamples(np.stack(xs), np.stack(ds).astype(np.float32), np.asarray(ts, np.int64))


def _downsample_depth(depth: np.ndarray, scale: int) -> np.ndarray:
    """NaN-aware block mean: a block is valid if any of its pixels is."""
    if scale == 1:
        return depth.astype(np.float32)
    h, w = depth.shape[0] // scale, depth.shape[1] // scale
    blocks = depth[: h * scale, : w * scale].reshape(h, scale, w, scale)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(blocks)
        total = np.where(valid, blocks, 0).sum((1, 3))
        count = valid.sum((1, 3))
        return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


def _downsample_events(events: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return events
    out = copy_events(events)
    out["x"] //= scale
    out["y"] //= scale
    return out


class MvsecDepthFile:
    """One MVSEC sequence: events from `<seq>_data.hdf5`, depth from `<seq>_gt.hdf5`."""

    WIDTH, HEIGHT = 346, 260

    def __init__(self, data_path: str | Path, gt_path: str | Path, side: str = "left",
                 depth_key: str = "depth_image_rect") -> None:
        import h5py

        self.data_path, self.gt_path = Path(data_path), Path(gt_path)
        for p in (self.data_path, self.gt_path):
            if not p.is_file():
                raise ConfigError(f"MVSEC file {p} does not exist", key="data")
        self._data = h5py.File(self.data_path, "r")
        self._gt = h5py.File(self.gt_path, "r")
        ev_key = f"davis/{side}/events"
        d_key = f"davis/{side}/{depth_key}"
        if ev_key not in self._data:
            raise FormatError(self.data_path, None, f"no '{ev_key}' dataset (an MVSEC *_data.hdf5 has one)")
        if d_key not in self._gt or d_key + "_ts" not in self._gt:
            raise FormatError(self.gt_path, None, f"no '{d_key}' with '{d_key}_ts' (an MVSEC *_gt.hdf5 has them)")
        self.events = self._data[ev_key]
        if self.events.ndim != 2 or self.events.shape[1] != 4:
            raise FormatError(self.data_path, None,
                              f"'{ev_key}' must be N x 4 (x, y, t, p); got shape {self.events.shape}")
        self.depth = self._gt[d_key]
        self.depth_ts = np.asarray(self._gt[d_key + "_ts"][:], dtype=np.float64)
        self.height, self.width = self.depth.shape[1:]

    def close(self) -> None:
        self._data.close()
        self._gt.close()

    def __enter__(self) -> MvsecDepthFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _search(self, t_s: float) -> int:
        """First event index with time >= t_s: binary search reading single elements (O(log N) reads)."""
        lo, hi = 0, self.events.shape[0]
        while lo < hi:
            mid = (lo + hi) // 2
            if self.events[mid, 2] < t_s:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def events_between(self, t0_s: float, t1_s: float) -> np.ndarray:
        """Events with t in [t0_s, t1_s) seconds as evrt events (t in µs from the file's zero)."""
        i0, i1 = self._search(t0_s), self._search(t1_s)
        raw = self.events[i0:i1]
        out = np.zeros(len(raw), EVENT_DTYPE)
        out["t"] = np.round(raw[:, 2] * 1e6).astype(np.int64)
        out["x"] = raw[:, 0].astype(np.int16)
        out["y"] = raw[:, 1].astype(np.int16)
        out["p"] = (raw[:, 3] > 0).astype(np.int8)
        return out

    def samples(self, *, window_us: int, steps: int, representation: str = "cumulative",
                scale: int = 1, start: int = 0, stop: int | None = None, stride: int = 1,
                min_events: int = 1) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        """(x [T, 2, H/scale, W/scale], depth [H/scale, W/scale], t_us) for depth frames [start:stop:stride]."""
        w, h = self.width // scale, self.height // scale
        for i in range(start, stop if stop is not None else len(self.depth_ts), stride):
            t1 = self.depth_ts[i]
            ev = self.events_between(t1 - window_us / 1e6, t1)
            if len(ev) < min_events:
                continue
            t_end = int(round(t1 * 1e6))
            ev = _downsample_events(ev, scale)
            x = encode_window(ev, w, h, steps, t_end - window_us, t_end, representation)
            yield x, _downsample_depth(np.asarray(self.depth[i]), scale)[:h, :w], t_end


def write_mvsec(data_path: str | Path, gt_path: str | Path, events: np.ndarray,
                depth: np.ndarray, depth_ts_us: np.ndarray, side: str = "left",
                depth_key: str = "depth_image_rect") -> None:
    """Write evrt events + depth frames (metres, NaN unknown) as an MVSEC data/gt file pair."""
    import h5py

    raw = np.empty((len(events), 4), np.float64)
    raw[:, 0], raw[:, 1] = events["x"], events["y"]
    raw[:, 2] = events["t"] / 1e6
    raw[:, 3] = np.where(events["p"] > 0, 1.0, -1.0)
    with h5py.File(data_path, "w") as f:
        f.create_dataset(f"davis/{side}/events", data=raw, chunks=(min(len(raw), 65536) or 1, 4))
    with h5py.File(gt_path, "w") as f:
        f.create_dataset(f"davis/{side}/{depth_key}", data=depth.astype(np.float32))
        f.create_dataset(f"davis/{side}/{depth_key}_ts", data=np.asarray(depth_ts_us) / 1e6)

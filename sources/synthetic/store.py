"""Simulated datasets written once to HDF5, so training does not re-simulate every epoch.

Layout (one file per dataset, written under `OUT.partial` and renamed when complete):
- attrs: `evrt_dataset` (format version 1), `scene`, `seed`, `split`, `width`, `height`,
  `samples`, `config` (JSON of every generation parameter)
- `events/t` int64 µs, `events/x` int16, `events/y` int16, `events/p` int8: all samples
  concatenated; sample i is rows `offsets[i]:offsets[i+1]`, its times start at 0
- digits_saccades: `label`, `index` (digit index in scikit-learn's order)
- depth_scene: `depth` float32 [N, T, H, W] metres (NaN = nothing hit), `depth_t` int64 [N, T] µs;
  attrs `intrinsics` (JSON: fx, fy, cx, cy, width, height)
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from evrt.errors import ConfigError, FormatError
from evrt.events import EVENT_DTYPE

SCENES = ("digits_saccades", "depth_scene")
FORMAT_VERSION = 1


def _progress(i: int, n: int, events: int, t0: float) -> None:
    rate = (i + 1) / max(time.monotonic() - t0, 1e-9)
    print(f"\r  sample {i + 1}/{n}  {events} events  {rate:.2f} samples/s", end="",
          file=sys.stderr, flush=True)


def write_dataset(scene: str, out: str, *, samples: int = 0, seed: int = 0, split: str = "train",
                  duration: float = 1.0, width: int = 346, height: int = 260,
                  depth_rate: float = 20.0, progress: bool = True) -> dict:
    """Simulate `samples` samples of `scene` into the HDF5 file `out`; returns a summary."""
    import h5py

    if scene not in SCENES:
        raise ConfigError(f"unknown scene {scene!r}; expected one of {', '.join(SCENES)}")
    config: dict[str, Any] = {"scene": scene, "seed": seed}
    if scene == "digits_saccades":
        from evrt.sources.synthetic.digits import DEFAULT_SIM, GEOMETRY, DigitsSaccades

        data = DigitsSaccades(split, seed=seed)
        n = len(data) if samples <= 0 else min(samples, len(data))
        geometry = GEOMETRY
        config.update(split=split, simulator=DEFAULT_SIM)
    else:
        from evrt.sources.synthetic.depth_scene import DEFAULT_SIM, DepthScenes, make_scene

        n = samples if samples > 0 else 10
        data = DepthScenes(n, seed=seed, duration=duration, depth_rate=depth_rate, width=width,
                           height=height)
        geometry = data.geometry
        split = "all"
        config.update(duration=duration, depth_rate=depth_rate, simulator=DEFAULT_SIM)
    os.makedirs(os.path.dirname(os.path.abspath(out)) or ".", exist_ok=True)
    partial = out + ".partial"
    t0 = time.monotonic()
    total = 0
    with h5py.File(partial, "w") as f:
        f.attrs.update(evrt_dataset=FORMAT_VERSION, scene=scene, seed=seed, split=split,
                       width=geometry.width, height=geometry.height, samples=n,
                       config=json.dumps(config))
        cols = {name: f.create_dataset(f"events/{name}", (0,), EVENT_DTYPE[name].newbyteorder("<"),
                                       maxshape=(None,), chunks=(1 << 16,), compression="lzf")
                for name in ("t", "x", "y", "p")}
        offsets = [0]
        labels, indices = [], []
        depth_ds = depth_t_ds = None
        for i in range(n):
            item = data[i]
            events = item[0]
            a = offsets[-1]
            for name, ds in cols.items():
                ds.resize((a + events.size,))
                ds[a:] = events[name]
            offsets.append(a + events.size)
            total += events.size
            if scene == "digits_saccades":
                labels.append(item[1])
                indices.append(int(data.indices[i]))
            else:
                _, depth_t, depth = item
                if depth_ds is None:
                    depth_ds = f.create_dataset("depth", (n, *depth.shape), np.float32,
                                                chunks=(1, 1, *depth.shape[1:]), compression="lzf")
                    depth_t_ds = f.create_dataset("depth_t", (n, depth_t.shape[0]), np.int64)
                    f.attrs["intrinsics"] = json.dumps(
                        make_scene(seed, 0, width=width, height=height).intrinsics())
                depth_ds[i] = depth
                depth_t_ds[i] = depth_t
            if progress:
                _progress(i, n, total, t0)
        f.create_dataset("offsets", data=np.array(offsets, np.int64))
        if scene == "digits_saccades":
            f.create_dataset("label", data=np.array(labels, np.int64))
            f.create_dataset("index", data=np.array(indices, np.int64))
    os.replace(partial, out)
    if progress:
        print(file=sys.stderr)
    return {"path": out, "samples": n, "events": total, "seconds": time.monotonic() - t0}


class StoredDataset:
    """Read a dataset written by `write_dataset` / `evrt dataset`; items match the live datasets.

    digits_saccades: `ds[i]` -> (events, label); depth_scene: `ds[i]` -> (events, depth_t, depth).
    """

    def __init__(self, path: str, transform: Callable | None = None) -> None:
        import h5py

        self.path = path
        self.transform = transform
        try:
            self.file = h5py.File(path, "r")
        except OSError as exc:
            raise FormatError(path, 0, f"an HDF5 file written by `evrt dataset` ({exc})") from exc
        f = self.file
        if f.attrs.get("evrt_dataset") != FORMAT_VERSION or "offsets" not in f:
            raise FormatError(path, 0, f"an evrt dataset (attribute evrt_dataset={FORMAT_VERSION} "
                                       "and an 'offsets' dataset)")
        self.scene = str(f.attrs["scene"])
        self.config = json.loads(f.attrs["config"])
        self.offsets = f["offsets"][()]
        self.labels = f["label"][()] if "label" in f else None
        self.indices = f["index"][()] if "index" in f else None
        from evrt.events import Geometry

        self.geometry = Geometry(int(f.attrs["width"]), int(f.attrs["height"]))

    def __len__(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def events(self, i: int) -> np.ndarray:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        out = np.zeros(b - a, EVENT_DTYPE)
        for name in ("t", "x", "y", "p"):
            out[name] = self.file[f"events/{name}"][a:b]
        return out

    def __getitem__(self, i: int) -> tuple:
        if not 0 <= i < len(self):
            raise IndexError(i)
        events = self.events(i)
        if self.transform is not None:
            events = self.transform(events)
        if self.labels is not None:
            return events, int(self.labels[i])
        return events, self.file["depth_t"][i], self.file["depth"][i]

    def close(self) -> None:
        self.file.close()


def write_preview(path: str, out_png: str, count: int = 4) -> str:
    """A PNG of the first samples: event counts (ON red, OFF blue) and, for depth, the last depth map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = StoredDataset(path)
    n = min(count, len(ds))
    rows = 1 if ds.labels is not None else 2
    fig, axes = plt.subplots(rows, max(n, 1), figsize=(3 * max(n, 1), 3 * rows), squeeze=False)
    h, w = ds.geometry.shape
    for i in range(n):
        item = ds[i]
        ev = item[0]
        img = np.zeros((h, w, 3))
        np.add.at(img[..., 0], (ev["y"][ev["p"] == 1], ev["x"][ev["p"] == 1]), 1.0)
        np.add.at(img[..., 2], (ev["y"][ev["p"] == 0], ev["x"][ev["p"] == 0]), 1.0)
        img /= max(np.percentile(img[img > 0], 99), 1.0) if (img > 0).any() else 1.0
        axes[0, i].imshow(np.clip(img, 0, 1))
        title = f"label {item[1]}" if ds.labels is not None else f"clip {i}"
        axes[0, i].set_title(f"{title}: {ev.size} events", fontsize=8)
        axes[0, i].axis("off")
        if rows == 2:
            im = axes[1, i].imshow(item[2][-1], cmap="viridis")
            axes[1, i].set_title(f"depth (m) at t={int(item[1][-1])} us", fontsize=8)
            axes[1, i].axis("off")
            fig.colorbar(im, ax=axes[1, i], fraction=0.046)
    fig.tight_layout()
    fig.savefig(out_png, dpi=80)
    plt.close(fig)
    ds.close()
    return out_png

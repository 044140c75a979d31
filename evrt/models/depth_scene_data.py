"""Depth samples from the synthetic `depth_scene` (issue 3): a camera moving through textured
planes, boards and spheres, with exact ground-truth depth per frame.

`[data]` keys for `kind = "depth_scene"`:

    train_scenes = {start = 0, stop = 24}       # scene indices [start, stop), or a list
    val_scenes = {start = 1000, stop = 1006}    # held-out scenes: other layouts and trajectories
    scene_seed = 0                # the layout seed passed to depth_clip
    duration = 0.5                # seconds simulated per scene
    width = 173, height = 130     # rendered resolution
    depth_rate = 20.0             # ground-truth frames per second
    cache = "runs/depth_cache"    # encoded samples are kept here as .npz ("" = no cache)

Each ground-truth frame at time t with a full window [t - window_us, t) of events becomes
one sample, encoded exactly as the depth node encodes a live window.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from evrt.errors import ConfigError
from evrt.models.depth_data import (
    DepthSamples,
    _downsample_depth,
    _downsample_events,
    encode_window,
    stack_samples,
)

SCENE_DEFAULTS: dict[str, Any] = {"scene_seed": 0, "duration": 0.5, "width": 173, "height": 130,
                                  "depth_rate": 20.0, "cache": ""}


def _scene_list(spec: Any, key: str) -> list[int]:
    if isinstance(spec, dict) and set(spec) == {"start", "stop"}:
        return list(range(int(spec["start"]), int(spec["stop"])))
    if isinstance(spec, list) and all(isinstance(s, int) for s in spec):
        return [int(s) for s in spec]
    raise ConfigError(f"expected {{start = N, stop = M}} or a list of scene indices, got {spec!r}", key=key)


def one_scene(scene: int, data: dict[str, Any], steps: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Encoded (x, depth, t) samples of one scene clip."""
    from evrt.sources.synthetic.depth_scene import depth_clip

    d = {**SCENE_DEFAULTS, **data}
    events, times, depth = depth_clip(int(scene), seed=int(d["scene_seed"]), duration=float(d["duration"]),
                                      width=int(d["width"]), height=int(d["height"]),
                                      depth_rate=float(d["depth_rate"]))
    window, scale = int(d["window_us"]), int(d["scale"])
    w, h = int(d["width"]) // scale, int(d["height"]) // scale
    t_all = events["t"]
    out = []
    for t, dm in zip(times.tolist(), depth, strict=True):
        if t - window < 0:
            continue
        i0, i1 = np.searchsorted(t_all, [t - window, t], side="left")
        ev = _downsample_events(events[i0:i1], scale)
        x = encode_window(ev, w, h, steps, t - window, t, d["representation"])
        out.append((x, _downsample_depth(dm, scale)[:h, :w], int(t)))
    return out


def _cache_path(data: dict[str, Any], scene: int, steps: int) -> Path | None:
    d = {**SCENE_DEFAULTS, **data}
    if not d["cache"]:
        return None
    keys = {k: d[k] for k in ("scene_seed", "duration", "width", "height", "depth_rate",
                              "window_us", "scale", "representation")}
    digest = hashlib.sha1(json.dumps({**keys, "steps": steps}, sort_keys=True).encode()).hexdigest()[:10]
    return Path(d["cache"]) / f"scene{scene:05d}_{digest}.npz"


def scene_samples(data: dict[str, Any], split: str, steps: int) -> DepthSamples:
    """All samples of the split's scenes, from the cache when present (progress on stderr)."""
    key = f"{split}_scenes"
    if key not in data:
        raise ConfigError(f"[data] kind = 'depth_scene' needs '{key}'", key=f"data.{key}")
    scenes = _scene_list(data[key], f"data.{key}")
    samples: list[tuple[np.ndarray, np.ndarray, int]] = []
    t0 = time.time()
    for k, scene in enumerate(scenes):
        path = _cache_path(data, scene, steps)
        if path is not None and path.is_file():
            with np.load(path) as z:
                samples.extend(zip(z["x"], z["depth"], z["t"].tolist(), strict=True))
            continue
        got = one_scene(scene, data, steps)
        if path is not None and got:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".partial.npz")
            np.savez(tmp, x=np.stack([g[0] for g in got]), depth=np.stack([g[1] for g in got]),
                     t=np.array([g[2] for g in got], np.int64))
            tmp.replace(path)
        samples.extend(got)
        print(f"  depth_scene {split}: scene {scene} ({k + 1}/{len(scenes)}) -> {len(got)} samples "
              f"[{time.time() - t0:.0f} s]", file=sys.stderr, flush=True)
    return stack_samples(samples)

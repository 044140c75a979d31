"""What the viewer shows, shared between the graph thread (writes) and HTTP threads (reads).

The graph side only counts events into a grid and keeps references to the latest messages:
it never renders or encodes. Rendering happens when a page asks for a picture, at most once
per frame period, so the cost follows the page's frame rate, not the stream's event rate;
a frame nobody fetched before the next one replaced it is counted as dropped.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import numpy as np

from evrt.events import EventPacket
from evrt.graph.stats import edge_summary
from evrt.messages import Frame, Prediction, TensorMsg
from evrt.sinks.imaging import EventCounts, encode, frame_rgb, tensor_rgb


class ImageStream:
    """One stream drawn as pictures: events (accumulated per frame period) or latest tensor/frame.

    Counting events costs ~10 ns each; past `max_busy` of a core's CPU time (per frame period) the
    rest of the period's packets are skipped and counted in `events_skipped`, so even a
    stream far beyond 1 Mev/s cannot make the viewer the slowest node of a lossless graph."""

    def __init__(self, name: str, kind: str, period_s: float, fmt: str, cmap: str,
                 max_busy: float = 0.1):
        self.name = name
        self.kind = kind
        self.period_s = period_s
        self.fmt = fmt
        self.cmap = cmap
        self.lock = threading.Lock()
        self.messages = 0
        self.events = 0
        self.events_skipped = 0  # not drawn: counting them would have exceeded the time budget
        self.budget_s = max_busy * period_s  # counting time allowed per frame period
        self._spent_s = 0.0
        self._budget_start = time.monotonic()
        self.seq = 0  # frames made ready (events) or messages seen (tensors/frames)
        self.frames_rendered = 0
        self.frames_dropped = 0
        self.shape: tuple[int, int] | None = None
        self.t_end = 0
        self._counts: EventCounts | None = None
        self._opened_at = time.monotonic()
        self._ready: Any = None  # EventCounts or a message, waiting to be rendered
        self._ready_rendered = True
        self._image: bytes | None = None
        self._image_seq = -1
        self._last_render = 0.0

    # ---- graph side --------------------------------------------------------------------
    def add(self, message: Any) -> None:
        with self.lock:
            self.messages += 1
            self.t_end = int(message.t_end)
            if isinstance(message, EventPacket):
                g = message.geometry
                if self._counts is None or (self._counts.width, self._counts.height) != (g.width, g.height):
                    self._counts = EventCounts(g.width, g.height)
                    self.shape = (g.height, g.width)
                now = time.monotonic()
                if now - self._budget_start >= self.period_s:
                    self._budget_start, self._spent_s = now, 0.0
                if self._spent_s <= self.budget_s:
                    t = time.thread_time()  # CPU time: a busy machine's preemption is not charged
                    self._counts.add(message.events)
                    self._spent_s += time.thread_time() - t
                    self.events += len(message)
                else:  # over budget: the picture shows a subsample, the graph is not slowed
                    self.events_skipped += len(message)
                self._maybe_swap(now)
            else:
                self._offer(message)

    def _offer(self, item: Any) -> None:
        if not self._ready_rendered:
            self.frames_dropped += 1
        self._ready = item
        self._ready_rendered = False
        self.seq += 1

    def _maybe_swap(self, now: float) -> None:
        """Close the event frame once a period has passed: it becomes the picture to show."""
        counts = self._counts
        if counts is None or now - self._opened_at < self.period_s or counts.events == 0:
            return
        self._offer(counts)
        self._counts = EventCounts(counts.width, counts.height)
        self._opened_at = now

    # ---- page side ---------------------------------------------------------------------
    def image(self) -> bytes | None:
        """The encoded latest picture, rendering it now if it is new and a period has passed."""
        with self.lock:
            now = time.monotonic()
            if self.kind == "events":
                self._maybe_swap(now)
            item, seq = self._ready, self.seq
            fresh = not self._ready_rendered and now - self._last_render >= self.period_s * 0.5
            if fresh:
                self._ready_rendered = True
                self._last_render = now
        if fresh or (self._image is None and item is not None):
            img = self._render(item)
            self.shape = img.shape[:2]
            data = encode(img, self.fmt)
            with self.lock:
                if seq >= self._image_seq:
                    self._image, self._image_seq = data, seq
                    self.frames_rendered += 1
        return self._image

    def _render(self, item: Any) -> np.ndarray:
        if isinstance(item, EventCounts):
            return item.rgb()
        if isinstance(item, TensorMsg):
            return tensor_rgb(item.data, self.cmap)
        return frame_rgb(item.image)

    def describe(self) -> dict:
        h, w = self.shape or (0, 0)
        return {"name": self.name, "kind": self.kind, "seq": self.seq, "messages": self.messages,
                "events": self.events, "events_skipped": self.events_skipped,
                "frames_rendered": self.frames_rendered,
                "frames_dropped": self.frames_dropped, "width": w, "height": h,
                "t_end": self.t_end}


class PredictionStream:
    """The latest predictions of one stream: label, score, and timesteps used out of the maximum."""

    def __init__(self, name: str, keep: int = 12):
        self.name = name
        self.recent: collections.deque = collections.deque(maxlen=keep)
        self.messages = 0
        self.timesteps_total = 0

    def add(self, p: Prediction) -> None:
        scores = np.asarray(p.scores, dtype=np.float64).ravel()
        meta = p.meta or {}
        self.messages += 1
        self.timesteps_total += int(p.timesteps)
        self.recent.appendleft({
            "label": int(p.label),
            "name": str(meta.get("class_name", meta.get("label_name", ""))),
            "score": float(scores[int(p.label)]) if 0 <= p.label < scores.size else None,
            "timesteps": int(p.timesteps), "timesteps_max": int(p.timesteps_max),
            "t_end": int(p.t_end),
        })

    def describe(self) -> dict:
        return {"name": self.name, "kind": "prediction", "messages": self.messages,
                "mean_timesteps": self.timesteps_total / self.messages if self.messages else 0.0,
                "recent": list(self.recent)}


def stats_rows(snapshots: dict[str, dict], previous: dict[str, dict]) -> list[dict]:
    """One table row per node: current rates (from the change since the previous snapshot),
    busy fraction, queue depth, drops and latency."""
    edges = edge_summary(snapshots)
    rows = []
    for name, s in snapshots.items():
        prev = previous.get(name)
        events = s["events_in"] or s["events_out"]
        msgs = s["msgs_in"] or s["msgs_out"]
        if prev is not None and s["elapsed_s"] > prev["elapsed_s"]:
            dt = s["elapsed_s"] - prev["elapsed_s"]
            ev_rate = (events - (prev["events_in"] or prev["events_out"])) / dt
            msg_rate = (msgs - (prev["msgs_in"] or prev["msgs_out"])) / dt
        else:
            ev_rate, msg_rate = s["events_per_s"], s["msgs_per_s"]
        into = [e for label, e in edges.items() if label.endswith("->" + name)]
        rows.append({
            "node": name, "events_per_s": ev_rate, "msgs_per_s": msg_rate,
            "events": events, "messages": msgs, "busy": s["busy"],
            "queue": s.get("queue_depth", 0) + sum(e["in_flight"] for e in into),
            "drops": sum(e["dropped"] for e in into),
            "latency_p50_ms": s["latency_p50_ms"], "latency_p99_ms": s["latency_p99_ms"],
            "lag_ms": s.get("lag_ms", 0.0), "elapsed_s": s["elapsed_s"],
        })
    return rows


class ViewerState:
    """Every stream the viewer has seen, plus the run's stats as last forwarded by the runner."""

    def __init__(self, fps: float, fmt: str, cmap: str, title: str, max_busy: float = 0.1):
        self.max_busy = max_busy
        self.period_s = 1.0 / fps
        self.fps = fps
        self.fmt = fmt
        self.cmap = cmap
        self.title = title
        self.images: dict[str, ImageStream] = {}
        self.predictions: dict[str, PredictionStream] = {}
        self.other: dict[str, int] = {}
        self.lock = threading.Lock()
        self.run_stats: Any = None  # callable -> {node: snapshot}
        self._snap_seen: Any = None
        self._snap_prev: dict[str, dict] = {}
        self._rows: list[dict] = []
        self.stats_updates = 0
        self.ended = False

    def add(self, message: Any) -> None:
        """Called from the graph for every message: cheap, never renders."""
        name = message.stream
        if isinstance(message, Prediction):
            stream = self.predictions.get(name)
            if stream is None:
                with self.lock:
                    stream = self.predictions.setdefault(name, PredictionStream(name))
            stream.add(message)
            return
        kind = ("events" if isinstance(message, EventPacket) else
                "tensor" if isinstance(message, TensorMsg) else
                "frame" if isinstance(message, Frame) else None)
        if kind is None:
            self.other[name] = self.other.get(name, 0) + 1
            return
        stream = self.images.get(name)
        if stream is None or stream.kind != kind:
            with self.lock:
                stream = ImageStream(name, kind, self.period_s, self.fmt, self.cmap, self.max_busy)
                self.images[name] = stream
        stream.add(message)

    def stats(self) -> list[dict]:
        snaps = self.run_stats() if self.run_stats is not None else {}
        with self.lock:
            if snaps and snaps is not self._snap_seen:
                prev = self._snap_seen or {}
                self._snap_prev = prev
                self._snap_seen = snaps
                self._rows = stats_rows(snaps, prev)
                self.stats_updates += 1
            return self._rows

    def describe(self) -> dict:
        rows = self.stats()
        with self.lock:
            images = [s.describe() for s in self.images.values()]
            preds = [s.describe() for s in self.predictions.values()]
        return {
            "title": self.title, "fps": self.fps, "format": self.fmt, "ended": self.ended,
            "streams": sorted(images, key=lambda s: s["name"]),
            "predictions": sorted(preds, key=lambda s: s["name"]),
            "other": dict(self.other),
            "stats": {"updates": self.stats_updates, "rows": rows},
            "time": time.time(),
        }

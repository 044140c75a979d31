"""N-MNIST-style event digits: scikit-learn's handwritten digits seen through three saccades.

Each 8x8 digit (`sklearn.datasets.load_digits`, 1797 real handwritten samples, 10 classes)
is upsampled to 28x28, centred on a dark 34x34 screen and moved along a triangle (three
100 ms saccades, about 4 px each, like the N-MNIST recording rig); the event simulator
turns that motion into events. Every sample is a pure function of (index, seed).

Fixed split, stratified: of each class's samples (in scikit-learn's order) every fifth one,
rank % 5 == 4, is in the test set (355 samples), the rest train (1442). Use `DigitsSaccades(split)` as a dataset or `DigitsSaccadesSource` in a graph.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from evrt.sources.synthetic.simulator import EventSimulator, simulate_render

from evrt.errors import ConfigError
from evrt.events import EventPacket, Geometry
from evrt.graph.node import Source

SIZE = 34
DIGIT_SIZE = 28
SACCADE_US = 100_000
SAMPLE_US = 3 * SACCADE_US
SPACING_US = SAMPLE_US + 1_000  # a sample's events lie in [0, SAMPLE_US]; 1 ms pause between samples
# triangle vertices (dx, dy) in pixels, visited A -> B -> C -> A
TRIANGLE = np.array([(-2.0, -1.5), (2.0, -1.5), (0.0, 2.0), (-2.0, -1.5)])
GEOMETRY = Geometry(SIZE, SIZE)
DEFAULT_SIM = dict(contrast_on=0.25, contrast_off=0.25, sigma=0.03, refractory_us=200.0,
                   shot_noise_rate=0.2, leak_rate=0.1)


@functools.lru_cache(maxsize=1)
def digits_data() -> tuple[np.ndarray, np.ndarray]:
    """(images [1797, 8, 8] in [0, 1], labels [1797]) from scikit-learn."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float64), d.target.astype(np.int64)


def split_indices(split: str) -> np.ndarray:
    """Sample indices of the fixed split: per class, every fifth sample is test; `all` = every one."""
    labels = digits_data()[1]
    idx = np.arange(labels.shape[0])
    rank = np.zeros_like(idx)
    for c in np.unique(labels):
        members = idx[labels == c]
        rank[members] = np.arange(members.shape[0])
    if split == "train":
        return idx[rank % 5 != 4]
    if split == "test":
        return idx[rank % 5 == 4]
    if split == "all":
        return idx
    raise ConfigError(f"split must be 'train', 'test' or 'all', got {split!r}")


def screen(index: int) -> np.ndarray:
    """The digit upsampled to 28x28 (bicubic) on a 34x34 canvas, values in [0, 1]."""
    from scipy.ndimage import zoom

    images, _ = digits_data()
    digit = np.clip(zoom(images[index], DIGIT_SIZE / 8, order=3), 0.0, 1.0)
    canvas = np.zeros((SIZE, SIZE))
    o = (SIZE - DIGIT_SIZE) // 2
    canvas[o : o + DIGIT_SIZE, o : o + DIGIT_SIZE] = digit
    return canvas


def saccade_offset(t_us: float) -> tuple[float, float]:
    """(dx, dy) of the image at time t within a sample (piecewise linear along the triangle)."""
    leg = min(int(t_us // SACCADE_US), 2)
    f = min(max((t_us - leg * SACCADE_US) / SACCADE_US, 0.0), 1.0)
    a, b = TRIANGLE[leg], TRIANGLE[leg + 1]
    d = a + f * (b - a)
    return float(d[0]), float(d[1])


def shifted(canvas: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The canvas moved by a sub-pixel (dx, dy), bilinear, dark outside."""
    from scipy.ndimage import shift

    return shift(canvas, (dy, dx), order=1, mode="constant", cval=0.0)


def digits_sample(index: int, *, seed: int = 0, **sim_params: float) -> tuple[np.ndarray, int]:
    """Events (t from 0 to 300 ms, 34x34) and label of digit `index`; deterministic in (index, seed)."""
    images, labels = digits_data()
    if not 0 <= index < labels.shape[0]:
        raise ConfigError(f"digit index {index} outside 0..{labels.shape[0] - 1}")
    params = {**DEFAULT_SIM, **sim_params}
    sim = EventSimulator(GEOMETRY, seed=int(np.random.SeedSequence([seed, index]).generate_state(1)[0]),
                         **params)
    canvas = screen(index)

    def render(t: int) -> np.ndarray:
        dx, dy = saccade_offset(t)
        return 0.05 + 0.85 * shifted(canvas, dx, dy)  # a dark monitor with a bright digit

    events = simulate_render(sim, render, 0, SAMPLE_US, dt_max_us=2_000,
                             must_sample=(SACCADE_US, 2 * SACCADE_US))
    return events, int(labels[index])


class DigitsSaccades:
    """Dataset of (events, label) for one split; `len()` and `[i]` like a torch Dataset.

    `transform(events)` is applied to the events if given. `indices[i]` is the digit
    index of item i (its `index` in the source's meta).
    """

    def __init__(self, split: Literal["train", "test", "all"] = "train", *, seed: int = 0,
                 transform: Any = None, **sim_params: float) -> None:
        self.split = split
        self.indices = split_indices(split)
        self.labels = digits_data()[1][self.indices]
        self.seed = seed
        self.transform = transform
        self.sim_params = sim_params
        self.geometry = GEOMETRY

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, i: int) -> tuple[Any, int]:
        events, label = digits_sample(int(self.indices[i]), seed=self.seed, **self.sim_params)
        return (self.transform(events) if self.transform else events), label


class DigitsSaccadesSource(Source):
    """N-MNIST-style digits: one EventPacket per sample, meta {"label", "index", "split"}.

    Sample k of the stream covers [k * 301 ms, k * 301 ms + 300 ms] (a 1 ms pause between
    samples); `samples` = 0 emits the
    whole split, `start` skips the first items of the split.
    """

    def __init__(self, split: Literal["train", "test", "all"] = "train", *, samples: int = 0,
                 start: int = 0, seed: int = 0, shuffle: bool = False, contrast: float = 0.25,
                 sigma: float = 0.03, refractory_us: float = 200.0, shot_noise_rate: float = 0.2,
                 leak_rate: float = 0.1, speed: float = 0.0, stream: str = "events") -> None:
        self.dataset = DigitsSaccades(split, seed=seed, contrast_on=contrast, contrast_off=contrast,
                                      sigma=sigma, refractory_us=refractory_us,
                                      shot_noise_rate=shot_noise_rate, leak_rate=leak_rate)
        order = np.arange(len(self.dataset))
        if shuffle:
            order = np.random.default_rng(seed).permutation(order)
        order = order[start:]
        self.order = order[:samples] if samples > 0 else order
        self.speed = speed
        self.stream = stream

    def messages(self) -> Iterator[EventPacket]:
        for k, i in enumerate(self.order):
            events, label = self.dataset[int(i)]
            t0 = k * SPACING_US
            events["t"] += t0
            yield EventPacket(events, GEOMETRY, self.stream, t0, t0 + SAMPLE_US + 1,
                              {"label": label, "index": int(self.dataset.indices[i]),
                               "split": self.dataset.split})

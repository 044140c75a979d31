"""Pure filter functions (numba): noise filters with explicit state, and geometric selections."""

from evrt.encoders.functional._common import select
from evrt.filters.functional.geometric import downsample, orient, polarity, roi
from evrt.filters.functional.noise import (
    HotPixelState,
    background_activity,
    hot_pixels,
    new_pixel_times,
    refractory_period,
)

__all__ = [
    "HotPixelState",
    "background_activity",
    "downsample",
    "hot_pixels",
    "new_pixel_times",
    "orient",
    "polarity",
    "refractory_period",
    "roi",
    "select",
]

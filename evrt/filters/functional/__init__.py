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

_warmed = False


def warm() -> None:
    """Load every filter kernel from the numba cache for writable and read-only inputs; once per process."""
    global _warmed
    if _warmed:
        return
    import numpy as np

    from evrt.events import EVENT_DTYPE

    read_only = np.zeros(2, EVENT_DTYPE)
    read_only.flags.writeable = False  # how arrays arrive over ZeroMQ
    for events in (np.zeros(2, EVENT_DTYPE), read_only):
        select(events, background_activity(events, new_pixel_times(1, 1), 1, 8))
        select(events, np.ones(events.shape[0], bool))  # the copy loop runs only if one is kept
        refractory_period(events, new_pixel_times(1, 1), 1)
        hot_pixels(events, HotPixelState(1, 1, 0, 0))
        roi(events, 0, 0, 1, 1)
        polarity(events, True)
        downsample(events, 2)
        orient(events, 1, 1, True, True, 1)
    _warmed = True

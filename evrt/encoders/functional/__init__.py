"""Pure encoder functions: numpy event array in, dense array out. No state hidden in them.

Every kernel is `@njit(cache=True, nogil=True)`: compiled once to the numba cache and run
without the GIL, so encoders on different threads run in parallel.
"""

from evrt.encoders.functional._common import NEVER
from evrt.encoders.functional.decay_state import (
    new_decay_state,
    rescale_decay_state,
    sample_decay_state,
    update_decay_state,
)
from evrt.encoders.functional.display import BACKGROUND, colour_marks, event_image, mark_polarities
from evrt.encoders.functional.histogram import histogram
from evrt.encoders.functional.spike_tensor import cumulate_bins, cumulative_stack, spike_tensor
from evrt.encoders.functional.time_surface import (
    new_time_state,
    sample_time_surface,
    time_surface,
    update_time_state,
)
from evrt.encoders.functional.voxel_grid import normalize_voxel_grid, voxel_grid

__all__ = [
    "BACKGROUND",
    "NEVER",
    "colour_marks",
    "cumulate_bins",
    "cumulative_stack",
    "event_image",
    "histogram",
    "mark_polarities",
    "new_decay_state",
    "new_time_state",
    "normalize_voxel_grid",
    "rescale_decay_state",
    "sample_decay_state",
    "sample_time_surface",
    "spike_tensor",
    "time_surface",
    "update_decay_state",
    "update_time_state",
    "voxel_grid",
]

_warmed = False


def warm() -> None:
    """Load every encoder kernel from the numba cache (compiling on the very first run) for
    writable and read-only inputs (arrays that arrive over ZeroMQ are read-only), so the
    first real window does not pay for it. Runs once per process."""
    global _warmed
    if _warmed:
        return
    from importlib import import_module

    import numpy as np

    from evrt.events import EVENT_DTYPE

    # modules by name: the package's attributes of the same names are the functions
    histogram_module = import_module(f"{__name__}.histogram")
    voxel_module = import_module(f"{__name__}.voxel_grid")
    time_module = import_module(f"{__name__}.time_surface")
    decay_module = import_module(f"{__name__}.decay_state")

    read_only = np.zeros(1, EVENT_DTYPE)
    read_only.flags.writeable = False  # how arrays arrive over ZeroMQ
    for events in (np.zeros(1, EVENT_DTYPE), read_only):
        for dtype in (np.int32, np.int16):  # the function's and the node's default counts
            counts = histogram(events, 1, 1, dtype=dtype)
            # the variants that large sensors take (PREFETCH_ABOVE_BYTES), warmed on tiny arrays
            histogram_module._histogram_kernel_prefetched(events, 1, counts)
        voxel_module._voxel_kernel_prefetched(events, 0, 1, np.zeros((2, 1, 1), np.float32))
        time_module._update_kernel_prefetched(events, new_time_state(1, 1))
        decay_module._update_kernel_prefetched(events, new_decay_state(1, 1), 0, 1.0)
        voxel_grid(events, 1, 1, 2, 0, 1, normalize=True)
        sample_time_surface(update_time_state(events, new_time_state(1, 1)), 1, 1.0)
        decay = rescale_decay_state(update_decay_state(events, new_decay_state(1, 1), 1, 1.0), 1, 1.0)
        sample_decay_state(decay, 1, 1.0)
        cumulative_stack(events, 1, 1, 2, 0, 2, binary=True)
        cumulative_stack(events, 1, 1, 2, 0, 2, binary=False, dtype=np.int32)
        event_image(events, 1, 1)
    _warmed = True

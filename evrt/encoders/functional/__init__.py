"""Pure encoder functions: numpy event array in, dense array out. No state hidden in them.

Every kernel is `@njit(cache=True, nogil=True)`: compiled once to the numba cache and run
without the GIL, so encoders on different threads run in parallel.
"""

from evrt.encoders.functional._common import NEVER
from evrt.encoders.functional.display import event_image
from evrt.encoders.functional.histogram import histogram
from evrt.encoders.functional.spike_tensor import cumulative_stack, spike_tensor
from evrt.encoders.functional.time_surface import (
    new_time_state,
    sample_time_surface,
    time_surface,
    update_time_state,
)
from evrt.encoders.functional.voxel_grid import normalize_voxel_grid, voxel_grid

__all__ = [
    "NEVER",
    "cumulative_stack",
    "event_image",
    "histogram",
    "new_time_state",
    "normalize_voxel_grid",
    "sample_time_surface",
    "spike_tensor",
    "time_surface",
    "update_time_state",
    "voxel_grid",
]

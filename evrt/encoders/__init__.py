"""Encoders: numba kernels (`evrt.encoders.functional`) and thin graph nodes (`evrt.encoders.nodes`).

Node types registered here (see `evrt nodes`): each cuts the event stream into windows by
time (`window_us`, `overlap_us`) or by count (`window_events`, `overlap_events`).
"""

NODES = {
    "histogram": "evrt.encoders.nodes:HistogramEncoder",
    "voxel_grid": "evrt.encoders.nodes:VoxelGridEncoder",
    "time_surface": "evrt.encoders.nodes:TimeSurfaceEncoder",
    "spike_tensor": "evrt.encoders.nodes:SpikeTensorEncoder",
    "cumulative_stack": "evrt.encoders.nodes:CumulativeStackEncoder",
    "event_image": "evrt.encoders.nodes:EventImageEncoder",
}

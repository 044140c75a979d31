"""Event filters: numba kernels (`evrt.filters.functional`) and graph nodes (`evrt.filters.nodes`)."""

NODES = {
    "denoise": "evrt.filters.nodes:BackgroundActivityFilter",
    "refractory": "evrt.filters.nodes:RefractoryFilter",
    "hot_pixels": "evrt.filters.nodes:HotPixelFilter",
    "roi": "evrt.filters.nodes:RoiFilter",
    "polarity": "evrt.filters.nodes:PolarityFilter",
    "downsample": "evrt.filters.nodes:DownsampleFilter",
    "orient": "evrt.filters.nodes:OrientFilter",
}

"""Sinks: where results leave the graph. Installed as `evrt.sinks`.

Each built-in node is listed in `NODES` (name -> "module:Class").
"""

NODES = {
    "null": "evrt.sinks.basic:NullSink",
    "stats": "evrt.sinks.basic:StatsSink",
    "callback": "evrt.sinks.basic:CallbackSink",
    "npz": "evrt.sinks.npz:NpzSink",
    "aedat4": "evrt.sinks.aedat4:Aedat4Sink",
    "hdf5": "evrt.sinks.hdf5:Hdf5Sink",
    "zmq_pub": "evrt.sinks.publisher:ZmqPublisherSink",
    "depth_png": "evrt.sinks.depth_png:DepthPngSink",
    "dv_server": "evrt.sinks.dv_network:DvNetworkSink",
    "viewer": "evrt.sinks.viewer.node:ViewerSink",
    "png": "evrt.sinks.offline:PngSink",
    "video": "evrt.sinks.offline:VideoSink",
}

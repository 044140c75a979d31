"""Sinks: where results leave the graph. Installed as `evrt.sinks`.

Each built-in node is listed in `NODES` (name -> "module:Class").
"""

NODES = {
    "null": "evrt.sinks.basic:NullSink",
    "stats": "evrt.sinks.basic:StatsSink",
    "callback": "evrt.sinks.basic:CallbackSink",
    "npz": "evrt.sinks.npz:NpzSink",
    "zmq_pub": "evrt.sinks.publisher:ZmqPublisherSink",
    "depth_png": "evrt.sinks.depth_png:DepthPngSink",
    "dv_server": "evrt.sinks.dv_network:DvNetworkSink",
}

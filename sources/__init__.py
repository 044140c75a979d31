"""Event sources: synthetic patterns and scenes, recorded files, cameras and network streams.

Installed as `evrt.sources`. Each built-in node is listed in `NODES` (name -> "module:Class").
"""

NODES = {
    "synthetic": "evrt.sources.synthetic.patterns:PatternSource",
    "camera": "evrt.sources.camera:CameraSource",
    "dv_network": "evrt.sources.network:DvNetworkSource",
    "depth_scene": "evrt.sources.synthetic.depth_scene:DepthSceneSource",
    "digits_saccades": "evrt.sources.synthetic.digits:DigitsSaccadesSource",
    "frames_to_events": "evrt.sources.synthetic.frames_to_events:FramesToEvents",
}

"""Event sources: synthetic patterns and scenes, recorded files, cameras and network streams.

Installed as `evrt.sources`. Each built-in node is listed in `NODES` (name -> "module:Class").
"""

NODES = {
    "synthetic": "evrt.sources.synthetic.patterns:PatternSource",
    "file": "evrt.sources.files.node:FileSource",
}

"""Models: MSS-DepthNet (depth.py) and its graph node; PRIME and twin models live beside it."""

NODES = {
    "depth": "evrt.models.depth_node:DepthNode",
    "prime": "evrt.models.prime.node:PrimeNode",
}

"""Models: MSS-DepthNet (depth.py) and its graph node; PRIME and twin models live beside it."""

NODES = {
    "depth": "evrt.models.depth_node:DepthNode",
    "twin": "evrt.models.twin.node:TwinNode",
    "hp_device": "evrt.models.twin.node:HPDeviceSource",
    "lorenz96_system": "evrt.models.twin.node:Lorenz96Source",
    "prime": "evrt.models.prime.node:PrimeNode",
}

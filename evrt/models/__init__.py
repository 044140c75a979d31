"""models."""

NODES = {
    "twin": "evrt.models.twin.node:TwinNode",
    "hp_device": "evrt.models.twin.node:HPDeviceSource",
    "lorenz96_system": "evrt.models.twin.node:Lorenz96Source",
}

"""The evrt error family: every error says where (file + byte offset, or node + key) and what was expected."""

from __future__ import annotations


class EvrtError(Exception):
    """Base of every error evrt raises on purpose (bad input, bad config, missing device)."""


class ConfigError(EvrtError):
    """A graph config is wrong. Names the node and the key."""

    def __init__(self, message: str, *, node: str | None = None, key: str | None = None):
        where = ""
        if node is not None and key is not None:
            where = f"[nodes.{node}] key '{key}': "
        elif node is not None:
            where = f"[nodes.{node}]: "
        elif key is not None:
            where = f"key '{key}': "
        super().__init__(where + message)
        self.node = node
        self.key = key


class FormatError(EvrtError):
    """A file does not hold what its format promises. Names the file and byte offset."""

    def __init__(self, path: object, offset: int | None, message: str):
        at = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{path}{at}: {message}")
        self.path = str(path)
        self.offset = offset


class EventDataError(EvrtError):
    """Events break an invariant (time going backwards, coordinates outside the sensor)."""


class NodeError(EvrtError):
    """A node failed during a run. Names the node and the cause."""

    def __init__(self, node: str, cause: str):
        super().__init__(f"node '{node}' failed: {cause}")
        self.node = node
        self.cause = cause


class DeviceNotFoundError(EvrtError):
    """A camera or other device that was asked for is not there."""

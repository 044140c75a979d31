"""Join DV network streams: the TCP outputs of DV (`dv_output_net_tcp_server`) or dv-processing's `NetworkWriter`.

DV serves one stream per TCP port, so this source opens one `dv.io.NetworkReader` per
port and emits whatever each carries (events, frames, imu, triggers) as its own stream.
The run ends when every server has closed and its data is drained.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from evrt.sources.dv_streams import StreamPoller, read_streams

from evrt.errors import ConfigError, DeviceNotFoundError
from evrt.graph.node import NodeContext, Source


def connect(host: str, port: int, timeout_s: float) -> Any:
    """A dv `NetworkReader` on host:port, retrying until `timeout_s`; DeviceNotFoundError if nobody serves."""
    import dv_processing as dv

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return dv.io.NetworkReader(host, int(port))
        except RuntimeError as exc:
            if time.monotonic() >= deadline:
                reason = str(exc).split(" [")[0]
                raise DeviceNotFoundError(
                    f"no DV stream at tcp://{host}:{port} ({reason}) after {timeout_s:g} s; "
                    "start the DV output (net_tcp_server) or an evrt `dv_network` sink there") from exc
            time.sleep(0.05)


class DvNetworkSource(Source):
    """Events / frames / IMU / triggers from DV TCP servers (one stream per port).

    `ports` lists the TCP ports to join on `host`. `duration` (s, wall clock) or
    `max_events` end the run early; otherwise it ends when the servers close.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 7777, *,
                 extra_ports: list[int] | None = None, events: bool = True, frames: bool = True,
                 imu: bool = True, triggers: bool = True, connect_timeout: float = 5.0,
                 duration: float = 0.0, max_events: int = 0, stream: str = "events") -> None:
        if not 0 < port < 65536 or any(not 0 < p < 65536 for p in extra_ports or []):
            raise ConfigError(f"ports must be in 1..65535, got {port} and {extra_ports}")
        self.host = host
        self.ports = [port, *(extra_ports or [])]
        self.wanted = dict(events=events, frames=frames, imu=imu, triggers=triggers)
        self.connect_timeout = connect_timeout
        self.duration = duration
        self.max_events = max_events
        self.stream = stream
        self.readers: list[Any] = []

    def open(self, context: NodeContext) -> None:
        super().open(context)
        self.readers = [connect(self.host, p, self.connect_timeout) for p in self.ports]
        self.pollers = [StreamPoller(r, None, names={"events": self.stream}, **self.wanted)
                        for r in self.readers]
        for port, r in zip(self.ports, self.readers, strict=True):
            context.log.info("joined tcp://%s:%d from %s", self.host, port, r.getCameraName())

    def messages(self) -> Iterator[Any]:
        stop_at = time.monotonic() + self.duration if self.duration > 0 else None
        count = 0

        def should_stop() -> bool:
            return (stop_at is not None and time.monotonic() >= stop_at) or (
                self.max_events > 0 and count >= self.max_events)

        for message in read_streams(self.pollers, should_stop=should_stop):
            if hasattr(message, "events"):
                count += len(message)
            yield message

    def close(self) -> None:
        self.pollers = []
        self.readers = []  # a reader's destructor disconnects

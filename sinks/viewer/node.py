"""The `viewer` sink: watch a running graph in a browser."""

from __future__ import annotations

import sys
import time
from typing import Any, ClassVar, Literal

from evrt.errors import ConfigError
from evrt.graph.node import NodeContext, Sink
from evrt.sinks.imaging import colour_table, warm_up
from evrt.sinks.viewer.server import ViewerServer
from evrt.sinks.viewer.state import ViewerState


class ViewerSink(Sink):
    """Serves a live browser view of its inputs and of the run's stats on http://BIND:PORT/.

    The page shows event frames (ON green, OFF red), tensors and depth maps as colour maps,
    predictions with timesteps used, and the run's per-node stats table.

    Events are counted into a frame between pictures; pictures are drawn at most `fps` times
    a second and only while a page is fetching them, so the graph never waits on a browser.
    Counting is capped at `max_busy` of a core: beyond it packets are skipped (and counted).
    `port = 0` picks a free port. `linger` keeps serving that many seconds after the end.
    """

    wants_run_stats: ClassVar[bool] = True

    def __init__(self, bind: str = "127.0.0.1", port: int = 8765, fps: float = 20.0,
                 format: Literal["png", "jpeg"] = "png", colormap: str = "turbo",  # noqa: A002
                 title: str = "", linger: float = 0.0, max_busy: float = 0.1) -> None:
        if fps <= 0:
            raise ValueError("fps must be > 0")
        if format not in ("png", "jpeg"):
            raise ValueError("format must be 'png' or 'jpeg'")
        self.bind = bind
        self.port = port
        self.fps = fps
        self.format = format
        colour_table(colormap)  # an unknown name fails here, not in the page
        self.colormap = colormap
        self.title = title
        self.linger = linger
        if not 0 < max_busy <= 1:
            raise ValueError("max_busy must be in (0, 1]")
        self.max_busy = max_busy
        self.state: ViewerState | None = None
        self.server: ViewerServer | None = None
        self.url = ""

    def open(self, context: NodeContext) -> None:
        super().open(context)
        self.state = ViewerState(self.fps, self.format, self.colormap, self.title or context.name,
                                 self.max_busy)
        self.state.run_stats = context.run_stats
        warm_up()
        try:
            self.server = ViewerServer(self.state, self.bind, self.port)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {self.bind}:{self.port}: {exc}",
                              node=context.name, key="port") from exc
        self.url = self.server.url
        self.server.start()
        print(f"evrt viewer '{context.name}': {self.url}", file=sys.stderr, flush=True)

    def process(self, message: Any) -> None:
        self.state.add(message)

    def finish(self) -> None:
        self.state.ended = True

    @property
    def frames_served(self) -> int:
        return self.server.frames_served if self.server is not None else 0

    def close(self) -> None:
        if self.server is None:
            return
        if self.linger > 0:
            time.sleep(self.linger)
        self.server.stop()
        self.server = None

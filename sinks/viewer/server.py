"""The viewer's HTTP side: a page, a JSON state document and one picture per stream.

Standard-library `ThreadingHTTPServer` on its own daemon threads. The page polls
`/state.json` and fetches `/frame/<stream>.<png|jpg>` only once its previous picture has
loaded, so a slow browser simply sees fewer frames; nothing here ever waits on the graph.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

from evrt.sinks.viewer.state import ViewerState

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


def page_html() -> bytes:
    return resources.files("evrt.sinks.viewer").joinpath("page.html").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: ViewerServer
    timeout = 10.0  # a stalled client loses its connection instead of holding a thread forever

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = urllib.parse.urlsplit(self.path).path
        state = self.server.state
        try:
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
            elif path == "/state.json":
                body = json.dumps(state.describe(), allow_nan=False, default=float).encode()
                self._send(HTTPStatus.OK, body, "application/json")
            elif path.startswith("/frame/"):
                name = urllib.parse.unquote(path[len("/frame/"):].rsplit(".", 1)[0])
                stream = state.images.get(name)
                if stream is None:
                    self._send(HTTPStatus.NOT_FOUND, b"no such stream", "text/plain")
                    return
                data = stream.image()
                if data is None:
                    self._send(HTTPStatus.NO_CONTENT, b"", "text/plain")
                    return
                self.server.frames_served += 1
                self._send(HTTPStatus.OK, data, CONTENT_TYPES[state.fmt])
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass


class ViewerServer(ThreadingHTTPServer):
    """Serves one `ViewerState` on (host, port); `port=0` picks a free port (see `url`)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: ViewerState, host: str = "127.0.0.1", port: int = 8765):
        super().__init__((host, port), _Handler)
        self.state = state
        self.page = page_html()
        self.frames_served = 0
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="evrt-viewer-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=2.0)

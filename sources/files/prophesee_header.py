"""The `%` text header shared by Prophesee RAW (EVT 2.0 / 3.0) and DAT files.

Header lines start with `%` and end with a newline; the header ends after a `% end`
line or before the first line that does not start with `%`. Geometry comes from
`% format EVTx;width=W;height=H`, `% geometry WxH`, `% Width`/`% Height` lines, or the
sensor named by the plugin / generation keys.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

from evrt.errors import FormatError
from evrt.events import Geometry

# Sensors named in headers of files recorded with Prophesee's HAL/OpenEB (plugin names
# and sensor generations) -> pixel array size.
_KNOWN_SENSORS: tuple[tuple[str, Geometry], ...] = (
    ("imx636", Geometry(1280, 720)),
    ("imx646", Geometry(1280, 720)),
    ("imx8", Geometry(1280, 720)),
    ("genx320", Geometry(320, 320)),
    ("imx", Geometry(1280, 720)),
    ("gen41", Geometry(1280, 720)),
    ("gen4", Geometry(1280, 720)),
    ("gen31", Geometry(640, 480)),
    ("gen3", Geometry(640, 480)),
    ("atis", Geometry(304, 240)),
)
_GENERATIONS = {"4.1": Geometry(1280, 720), "4.0": Geometry(1280, 720), "4": Geometry(1280, 720),
                "3.1": Geometry(640, 480), "3.0": Geometry(640, 480), "3": Geometry(640, 480),
                "2": Geometry(304, 240), "2.0": Geometry(304, 240)}

MAX_HEADER_BYTES = 1 << 20


@dataclass
class PercentHeader:
    """What a `%` header says: its byte length, its key/value lines and the derived facts."""

    length: int
    lines: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def encoding(self) -> str | None:
        """'evt2', 'evt3', 'evt21' ... from `% evt X` or `% format EVTx;...`, else None."""
        fmt = self.keys.get("format", "")
        if fmt:
            name = fmt.split(";")[0].strip().lower().replace(".", "")
            return name or None
        evt = self.keys.get("evt", "").strip()
        if evt:
            return "evt" + evt.replace(".0", "").replace(".", "")
        return None

    def geometry(self) -> Geometry | None:
        """The sensor size stated or implied by the header, or None when it says nothing."""
        fmt = self.keys.get("format", "")
        if fmt:
            opts = dict(
                part.split("=", 1) for part in fmt.split(";")[1:] if "=" in part
            )
            if "width" in opts and "height" in opts:
                return Geometry(int(opts["width"]), int(opts["height"]))
        geo = self.keys.get("geometry", "")
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", geo)
        if m:
            return Geometry(int(m.group(1)), int(m.group(2)))
        w, h = self.keys.get("width", ""), self.keys.get("height", "")
        if w.strip().isdigit() and h.strip().isdigit():
            return Geometry(int(w), int(h))
        for key in ("plugin_name", "sensor_name", "camera_integrator_name"):
            value = self.keys.get(key, "").lower()
            for name, geometry in _KNOWN_SENSORS:
                if name in value:
                    return geometry
        gen = self.keys.get("sensor_generation", "").strip()
        if gen in _GENERATIONS:
            return _GENERATIONS[gen]
        return None


_TEXT = re.compile(rb"[\t\r\x20-\x7e\x80-\xff]*")


def header_end(data: bytes) -> int | None:
    """Byte offset where the `%` header of `data` ends, or None if it runs past `data`.

    Files without `% end` are ambiguous when the first data byte happens to be '%'
    (0x25): a "line" holding control bytes is binary data, not header text."""
    pos = 0
    n = len(data)
    while pos < n and data[pos : pos + 1] == b"%":
        nl = data.find(b"\n", pos)
        if nl < 0:
            tail = data[pos:]
            return None if _TEXT.fullmatch(tail) else pos
        line = data[pos:nl]
        if not _TEXT.fullmatch(line):
            break
        pos = nl + 1
        if line.rstrip(b"\r").strip() == b"% end":
            break
    return pos


def sniff_encoding(head: bytes) -> str | None:
    """The encoding ('evt2', 'evt3', ...) the complete header lines in `head` declare."""
    if not head.startswith(b"%"):
        return None
    end = header_end(head)
    text = head[:end] if end is not None else head[: head.rfind(b"\n") + 1]
    try:
        return parse_header(text, "<head>", at_eof=False).encoding
    except FormatError:
        return None


def parse_header(data: bytes, path: object, *, at_eof: bool) -> PercentHeader:
    """Parse the `%` header at the start of `data` (the file's first bytes).

    `at_eof` says whether `data` is the whole file: then a header line without its newline
    is a truncated header (FormatError naming the offset of that line).
    """
    if not data.startswith(b"%"):
        raise FormatError(path, 0, f"expected a '%' text header line, found {data[:8]!r}")
    end = header_end(data)
    if end is None:
        last = data.rfind(b"\n") + 1
        if at_eof:
            raise FormatError(path, last, "truncated header: the last '%' line has no newline")
        raise FormatError(path, last, f"header longer than {len(data)} bytes or not terminated")
    header = PercentHeader(length=end)
    for raw in data[:end].split(b"\n"):
        if not raw.startswith(b"%"):
            continue
        text = raw[1:].rstrip(b"\r").decode("latin-1").strip()
        header.lines.append(text)
        if not text or text == "end":
            continue
        key, _, value = text.partition(" ")
        header.keys.setdefault(key.strip().lower(), value.strip())
    return header


def read_header(path: object) -> PercentHeader:
    """Read and parse the header of the file at `path`."""
    with open(path, "rb") as f:
        data = f.read(MAX_HEADER_BYTES)
        at_eof = len(data) < MAX_HEADER_BYTES or not f.read(1)
    return parse_header(data, path, at_eof=at_eof)


def geometry_or_default(header: PercentHeader, default: Geometry, path: object) -> Geometry:
    """The header's geometry, or `default` with a warning saying the header named no sensor."""
    geometry = header.geometry()
    if geometry is None:
        warnings.warn(
            f"{path}: header names no sensor size; assuming {default.width}x{default.height}",
            stacklevel=3,
        )
        return default
    return geometry

"""Recorded event files: format detection from content, and streaming readers.

`open_file(path)` sniffs the first bytes, picks the reader from `formats.FORMATS` and returns
a `Reader` (see `base.Reader`: `packets()`, `seek()`, `info()`, `close()`).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from evrt.errors import FormatError
from evrt.sources.files.base import EventBlock, Reader
from evrt.sources.files.formats import FORMATS, HEAD_BYTES

__all__ = ["open_file", "detect_format", "Reader", "EventBlock", "FORMATS", "format_names"]


def _modules() -> list[Any]:
    return [importlib.import_module(name) for name in FORMATS]


def format_names() -> list[str]:
    """Short names of every known format, in detection order."""
    return [getattr(m, "NAME", m.__name__.rsplit(".", 1)[-1]) for m in _modules()]


def _read_head(path: Any) -> bytes:
    if not os.path.exists(path):
        raise FormatError(path, None, "no such file")
    if os.path.isdir(path):
        raise FormatError(path, 0, "expected a file, found a directory")
    with open(path, "rb") as f:
        return f.read(HEAD_BYTES)


def detect_format(path: Any) -> list[Any]:
    """The format modules whose `detect` accepts the file's first bytes (may be several)."""
    head = _read_head(path)
    return [m for m in _modules() if m.detect(head)]


def open_file(path: Any, **kw: Any) -> Reader:
    """Open a recording as a streaming `Reader`, choosing the format from its content.

    Raises `FormatError` (naming the file, offset 0 and the known formats) when no format
    recognises the bytes.
    """
    path = os.fspath(path)
    candidates = detect_format(path)
    if not candidates:
        raise FormatError(path, 0, "unknown file format: the first bytes match none of "
                          f"{', '.join(format_names())}")
    errors: list[FormatError] = []
    for module in candidates:
        try:
            return module.open_reader(path, **kw)
        except FormatError as exc:
            errors.append(exc)
            if len(candidates) == 1:
                raise
    raise FormatError(path, 0, "no reader accepted the file: "
                      + "; ".join(str(e) for e in errors))

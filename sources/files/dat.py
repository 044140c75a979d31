"""Prophesee DAT files: `%` header, 1 byte event type, 1 byte event size, 8-byte CD records."""

from __future__ import annotations

from typing import Any

import numpy as np

from evrt.errors import FormatError
from evrt.events import Geometry
from evrt.sources.files import dat_kernel as kernel
from evrt.sources.files.prophesee_header import (
    geometry_or_default,
    header_end,
    parse_header,
    read_header,
)
from evrt.sources.files.prophesee_stream import DEFAULT_CHUNK_WORDS, WordStreamReader

NAME = "dat"
CD_TYPES = (0x00, 0x0C)  # Event2D (older files) and EventCD share the 8-byte layout
RECORD_SIZE = 8
# DAT files that name no size come from Prophesee's ATIS / Chronocam era (e.g. N-CARS)
ATIS = Geometry(304, 240)

_ERRORS = {
    kernel.ERR_POLARITY: "corrupt data: polarity (bits 31..28 of the data word) is not 0 or 1",
    kernel.ERR_BACKWARDS: "time goes backwards (expected non-decreasing timestamps)",
    kernel.ERR_COORD: "corrupt data: event coordinate outside the sensor",
}


def detect(head: bytes) -> bool:
    """A `%` header without an EVT encoding, followed by a CD type byte and size byte 8."""
    if not head.startswith(b"%"):
        return False
    end = header_end(head)
    if end is None or end + 2 > len(head):
        return False
    try:
        header = parse_header(head[:end], "<head>", at_eof=False)
    except FormatError:
        return False
    if header.encoding is not None:
        return False
    return head[end] in CD_TYPES and head[end + 1] == RECORD_SIZE


class DatReader(WordStreamReader):
    """Streaming DAT reader: CD events as stream "events"."""

    format = NAME
    word_dtype = np.dtype("<u8")  # <u4 timestamp then <u4 data, read as one little-endian word
    events_per_word = 1
    last_t_slot = -1  # an extra slot after the kernel's state holds the last event time

    def __init__(self, path: Any, geometry: Geometry | None = None,
                 chunk_words: int = DEFAULT_CHUNK_WORDS) -> None:
        header = read_header(path)
        if header.encoding is not None:
            raise FormatError(path, 0, f"expected a DAT header, found an {header.encoding} RAW header")
        with open(path, "rb") as f:
            f.seek(header.length)
            type_size = f.read(2)
        if len(type_size) < 2:
            raise FormatError(path, header.length,
                              "truncated header: expected the event type and event size bytes")
        if type_size[0] not in CD_TYPES or type_size[1] != RECORD_SIZE:
            raise FormatError(path, header.length,
                              f"expected a CD event type {CD_TYPES} with size {RECORD_SIZE}, "
                              f"found type {type_size[0]} size {type_size[1]}")
        if geometry is None:
            geometry = geometry_or_default(header, ATIS, path)
        super().__init__(path, header.length + 2, geometry, chunk_words)
        self.header = header
        self.streams = {"events": "events"}

    def _new_state(self) -> np.ndarray:
        state = np.zeros(kernel.STATE_SIZE + 1, np.int64)
        state[-1] = -1
        return state

    def _time_words(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every record: the ones before a record with timestamp v have t <= v."""
        return np.arange(words.size), (words & 0xFFFFFFFF).astype(np.int64) + 1

    def _decode(self, words, start, out, trig, state):
        core = state[: kernel.STATE_SIZE]
        ne, nxt, err, where = kernel.decode_dat(words, start, out, core,
                                                self.geometry.width, self.geometry.height)
        if ne:
            state[-1] = out[ne - 1, 0]
        return ne, 0, nxt, err, where

    def _error_text(self, err: int) -> str:
        return _ERRORS.get(err, f"decoder error {err}")


def open_reader(path: Any, **kw: Any) -> DatReader:
    return DatReader(path, **kw)

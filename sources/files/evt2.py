"""Prophesee EVT 2.0 `.raw` files: `%` header, then little-endian 32-bit words."""

from __future__ import annotations

from typing import Any

import numpy as np

from evrt.errors import FormatError
from evrt.events import Geometry
from evrt.sources.files import evt2_kernel as kernel
from evrt.sources.files.prophesee_header import (
    geometry_or_default,
    read_header,
    sniff_encoding,
)
from evrt.sources.files.prophesee_stream import DEFAULT_CHUNK_WORDS, WordStreamReader

NAME = "evt2"
ADDRESS_SPACE = Geometry(2048, 2048)  # 11-bit x and y: the most an EVT 2.0 word can address

_ERRORS = {
    kernel.ERR_TYPE: "corrupt data: word type is not one of CD (0x0, 0x1), TIME_HIGH (0x8), "
                     "EXT_TRIGGER (0xA), OTHERS (0xE), CONTINUED (0xF)",
    kernel.ERR_BACKWARDS: "time goes backwards (expected non-decreasing timestamps)",
    kernel.ERR_COORD: "corrupt data: event coordinate outside the sensor",
}


def detect(head: bytes) -> bool:
    """A `%` header that says `evt 2.0` or `format EVT2`."""
    return sniff_encoding(head) == "evt2"


class Evt2Reader(WordStreamReader):
    """Streaming EVT 2.0 reader: CD events as stream "events", external triggers as "triggers"."""

    format = NAME
    word_dtype = np.dtype("<u4")
    events_per_word = 1
    last_t_slot = kernel.S_LAST_T

    def __init__(self, path: Any, geometry: Geometry | None = None,
                 chunk_words: int = DEFAULT_CHUNK_WORDS) -> None:
        header = read_header(path)
        if header.encoding != "evt2":
            raise FormatError(path, 0, f"expected an EVT 2.0 header ('% evt 2.0'), "
                              f"found encoding {header.encoding!r}")
        if geometry is None:
            geometry = geometry_or_default(header, ADDRESS_SPACE, path)
        super().__init__(path, header.length, geometry, chunk_words)
        self.header = header
        self.streams = {"events": "events", "triggers": "triggers"}

    def _new_state(self) -> np.ndarray:
        return kernel.new_state()

    def _time_words(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TIME_HIGH words: events before one with value v have t < (v + 1) << 6."""
        pos = np.flatnonzero((words >> 28) == 8)
        return pos, ((words[pos].astype(np.int64) & 0x0FFFFFFF) + 1) << 6

    def _decode(self, words, start, out, trig, state):
        return kernel.decode_evt2(words, start, out, trig, state,
                                  self.geometry.width, self.geometry.height)

    def _error_text(self, err: int) -> str:
        return _ERRORS.get(err, f"decoder error {err}")


def open_reader(path: Any, **kw: Any) -> Evt2Reader:
    return Evt2Reader(path, **kw)

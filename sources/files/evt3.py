"""Prophesee EVT 3.0 `.raw` files: `%` header, then little-endian 16-bit words (stateful)."""

from __future__ import annotations

from typing import Any

import numpy as np

from evrt.errors import FormatError
from evrt.events import Geometry
from evrt.sources.files import evt3_kernel as kernel
from evrt.sources.files.prophesee_header import (
    geometry_or_default,
    read_header,
    sniff_encoding,
)
from evrt.sources.files.prophesee_stream import DEFAULT_CHUNK_WORDS, WordStreamReader

NAME = "evt3"
ADDRESS_SPACE = Geometry(2048, 2048)  # 11-bit x and y: the most an EVT 3.0 word can address

_ERRORS = {
    kernel.ERR_TYPE: "corrupt data: word type is not one of ADDR_Y (0x0), ADDR_X (0x2), "
                     "VECT_BASE_X (0x3), VECT_12 (0x4), VECT_8 (0x5), TIME_LOW (0x6), "
                     "CONTINUED (0x7, 0xF), TIME_HIGH (0x8), EXT_TRIGGER (0xA), OTHERS (0xE)",
    kernel.ERR_BACKWARDS: "time goes backwards (expected non-decreasing timestamps)",
    kernel.ERR_COORD: "corrupt data: event coordinate outside the sensor",
}


def detect(head: bytes) -> bool:
    """A `%` header that says `evt 3.0` or `format EVT3`."""
    return sniff_encoding(head) == "evt3"


class Evt3Reader(WordStreamReader):
    """Streaming EVT 3.0 reader: CD events as stream "events", external triggers as "triggers"."""

    format = NAME
    word_dtype = np.dtype("<u2")
    events_per_word = kernel.VECTOR_MAX
    last_t_slot = kernel.S_LAST_T

    def __init__(self, path: Any, geometry: Geometry | None = None,
                 chunk_words: int = DEFAULT_CHUNK_WORDS) -> None:
        header = read_header(path)
        if header.encoding != "evt3":
            raise FormatError(path, 0, f"expected an EVT 3.0 header ('% evt 3.0'), "
                              f"found encoding {header.encoding!r}")
        if geometry is None:
            geometry = geometry_or_default(header, ADDRESS_SPACE, path)
        super().__init__(path, header.length, geometry, chunk_words)
        self.header = header
        self.streams = {"events": "events", "triggers": "triggers"}

    def _new_state(self) -> np.ndarray:
        return kernel.new_state()

    def _decode(self, words, start, out, trig, state):
        return kernel.decode_evt3(words, start, out, trig, state,
                                  self.geometry.width, self.geometry.height)

    def _error_text(self, err: int) -> str:
        return _ERRORS.get(err, f"decoder error {err}")


def open_reader(path: Any, **kw: Any) -> Evt3Reader:
    return Evt3Reader(path, **kw)

"""Prophesee EVT 2.0 `.raw` files: `%` header, then little-endian 32-bit words."""

from __future__ import annotations

from typing import Any

import numpy as np

from evrt.sources.files import evt2_kernel as kernel
from evrt.sources.files.prophesee_header import sniff_encoding
from evrt.sources.files.prophesee_raw import EvtRawReader

NAME = "evt2"

_ERRORS = {
    kernel.ERR_TYPE: "corrupt data: word type is not one of CD (0x0, 0x1), TIME_HIGH (0x8), "
                     "EXT_TRIGGER (0xA), OTHERS (0xE), CONTINUED (0xF)",
    kernel.ERR_BACKWARDS: "time goes backwards (expected non-decreasing timestamps)",
    kernel.ERR_COORD: "corrupt data: event coordinate outside the sensor",
}


def detect(head: bytes) -> bool:
    """A `%` header that says `evt 2.0` or `format EVT2`."""
    return sniff_encoding(head) == "evt2"


class Evt2Reader(EvtRawReader):
    """Streaming EVT 2.0 reader: CD events as stream "events", external triggers as "triggers"."""

    format = NAME
    label = "EVT 2.0"
    kernel = kernel
    decoder = staticmethod(kernel.decode_evt2)
    errors = _ERRORS
    word_dtype = np.dtype("<u4")
    events_per_word = 1
    last_t_slot = kernel.S_LAST_T

    def _time_words(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TIME_HIGH words: events before one with value v have t < (v + 1) << 6."""
        pos = np.flatnonzero((words >> 28) == 8)
        return pos, ((words[pos].astype(np.int64) & 0x0FFFFFFF) + 1) << 6


def open_reader(path: Any, **kw: Any) -> Evt2Reader:
    return Evt2Reader(path, **kw)

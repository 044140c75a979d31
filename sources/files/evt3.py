"""Prophesee EVT 3.0 `.raw` files: `%` header, then little-endian 16-bit words (stateful)."""

from __future__ import annotations

from typing import Any

import numpy as np

from evrt.sources.files import evt3_kernel as kernel
from evrt.sources.files.prophesee_header import sniff_encoding
from evrt.sources.files.prophesee_raw import EvtRawReader

NAME = "evt3"

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


class Evt3Reader(EvtRawReader):
    """Streaming EVT 3.0 reader: CD events as stream "events", external triggers as "triggers"."""

    format = NAME
    label = "EVT 3.0"
    kernel = kernel
    decoder = staticmethod(kernel.decode_evt3)
    errors = _ERRORS
    word_dtype = np.dtype("<u2")
    events_per_word = kernel.VECTOR_MAX
    last_t_slot = kernel.S_LAST_T


def open_reader(path: Any, **kw: Any) -> Evt3Reader:
    return Evt3Reader(path, **kw)

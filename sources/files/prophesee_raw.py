"""What the EVT 2.0 and EVT 3.0 `.raw` readers share: the `%` header check, the sensor
geometry, the streams and the hooks into their numba decoders.

A subclass names its format (also the header encoding it expects), its decoder kernel
module (with `new_state()` and `S_LAST_T`) and decode function, and its decoder's error
texts; word size and events per word are `WordStreamReader`'s.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from evrt.errors import FormatError
from evrt.events import Geometry
from evrt.sources.files.prophesee_header import geometry_or_default, read_header
from evrt.sources.files.prophesee_stream import DEFAULT_CHUNK_WORDS, WordStreamReader

ADDRESS_SPACE = Geometry(2048, 2048)  # 11-bit x and y: the most an EVT 2.0 / 3.0 word can address


class EvtRawReader(WordStreamReader):
    """Streaming EVT reader: CD events as stream "events", external triggers as "triggers"."""

    label: str = ""  # how people write it ("EVT 2.0")
    kernel: ModuleType
    decoder: Any = None  # staticmethod around the kernel's decode function
    errors: dict[int, str] = {}

    def __init__(self, path: Any, geometry: Geometry | None = None,
                 chunk_words: int = DEFAULT_CHUNK_WORDS) -> None:
        header = read_header(path)
        if header.encoding != self.format:  # `read_header` names encodings as formats: "evt2"
            raise FormatError(path, 0, f"expected an {self.label} header ('% {self.label.lower()}'), "
                              f"found encoding {header.encoding!r}")
        if geometry is None:
            geometry = geometry_or_default(header, ADDRESS_SPACE, path)
        super().__init__(path, header.length, geometry, chunk_words)
        self.header = header
        self.streams = {"events": "events", "triggers": "triggers"}

    def _new_state(self) -> np.ndarray:
        return self.kernel.new_state()

    def _decode(self, words, start, out, trig, state):
        return self.decoder(words, start, out, trig, state, self.geometry.width, self.geometry.height)

    def _error_text(self, err: int) -> str:
        return self.errors.get(err, f"decoder error {err}")

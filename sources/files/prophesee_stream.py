"""Chunked, resumable decoding of fixed-size binary words after a `%` header.

Shared by the EVT 2.0, EVT 3.0 and DAT readers: the file is read in chunks of
`chunk_words` words into one reused buffer, a numba kernel decodes each chunk with its
state carried across chunks, and every chunk boundary is remembered as a checkpoint
(word index, decoder state, last event time) so a later seek restarts from the nearest
checkpoint instead of the file start. Memory stays bounded by one chunk plus the output.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from evrt.errors import FormatError
from evrt.events import EVENT_DTYPE, Geometry
from evrt.messages import TRIGGER_DTYPE, Trigger
from evrt.sources.files.base import EventBlock, Reader

DEFAULT_CHUNK_WORDS = 1 << 17
TRIGGER_RISING = 1  # dv-processing TriggerType EXTERNAL_SIGNAL_RISING_EDGE
TRIGGER_FALLING = 2  # dv-processing TriggerType EXTERNAL_SIGNAL_FALLING_EDGE


class WordStreamReader(Reader):
    """A reader of `word_dtype` records from `data_offset` to the end, decoded in chunks.

    Subclasses set `word_dtype`, `word_shape` (records per row for DAT), `events_per_word`
    (the output capacity a chunk needs), and implement `_new_state()` and
    `_decode(words, start, out, trig, state) -> (events, triggers, next, err, where)`
    plus `_error_text(err)`.
    """

    word_dtype: np.dtype = np.dtype("<u4")
    word_columns: int = 1
    events_per_word: int = 1
    last_t_slot: int = 0

    def __init__(self, path: Any, data_offset: int, geometry: Geometry,
                 chunk_words: int = DEFAULT_CHUNK_WORDS) -> None:
        super().__init__(path)
        self.geometry = geometry
        self.data_offset = int(data_offset)
        self.chunk_words = max(1, int(chunk_words))
        self.word_size = self.word_dtype.itemsize * self.word_columns
        size = os.path.getsize(self.path)
        data_bytes = max(0, size - self.data_offset)
        self.n_words = data_bytes // self.word_size
        self.tail_bytes = data_bytes - self.n_words * self.word_size
        self._checkpoints: list[tuple[int, np.ndarray]] = []  # (word index, state), by word index
        self._file = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        self._warned_tail = False

    # -- subclass hooks --------------------------------------------------------------------

    def _new_state(self) -> np.ndarray:
        raise NotImplementedError

    def _decode(self, words: np.ndarray, start: int, out: np.ndarray, trig: np.ndarray,
                state: np.ndarray) -> tuple[int, int, int, int, int]:
        raise NotImplementedError

    def _error_text(self, err: int) -> str:
        raise NotImplementedError

    # -- decoding --------------------------------------------------------------------------

    def _start_point(self, t_start: int | None) -> tuple[int, np.ndarray]:
        """Where to start decoding so that every event before it has t < t_start: the later
        of the latest such checkpoint and the binary search's answer; else the file start."""
        best = (0, self._new_state())
        if t_start is None:
            return best
        for word, state in self._checkpoints:
            if state[self.last_t_slot] < t_start:
                best = (word, state.copy())
            else:
                break
        found = self._search_start(int(t_start))
        if found is not None and found > best[0]:
            best = (found, self._new_state())
        return best

    # -- binary search over self-contained time words (EVT 2.0 TIME_HIGH, DAT records) ------

    def _time_words(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions, bounds) of the words that fix the time on their own, where a bound is
        an exclusive upper limit of every event time before that word. Formats whose words
        all depend on earlier state (EVT 3.0) return nothing and are not searched."""
        return np.zeros(0, np.int64), np.zeros(0, np.int64)

    def _probe(self, word: int, window: int = 4096) -> tuple[int, int] | None:
        """The first self-contained time word at or after `word`: (position, bound)."""
        f = self._file
        while word < self.n_words:
            n = min(window, self.n_words - word)
            f.seek(self.data_offset + word * self.word_size)
            words = np.frombuffer(f.read(n * self.word_size), self.word_dtype)
            pos, bounds = self._time_words(words)
            if pos.size:
                return word + int(pos[0]), int(bounds[0])
            word += n
        return None

    def _search_start(self, t_start: int) -> int | None:
        """Binary search for the last time word whose earlier events all have t < t_start.

        Used only when the time words never wrap (the first one is not above the last one),
        so their bounds are non-decreasing along the file."""
        if self.n_words == 0:
            return None
        first = self._probe(0)
        tail = self._probe(max(0, self.n_words - 4096))
        if first is None or tail is None or first[1] > tail[1] or first[1] > t_start:
            return None
        a, b = 0, self.n_words
        while b - a > 1:
            mid = (a + b) // 2
            hit = self._probe(mid)
            if hit is not None and hit[1] <= t_start:
                a = mid
            else:
                b = mid
        hit = self._probe(a)
        return None if hit is None else hit[0]

    def _remember(self, word: int, state: np.ndarray) -> None:
        if self._checkpoints and self._checkpoints[-1][0] >= word:
            return
        self._checkpoints.append((word, state.copy()))

    def _blocks(self, t_start: int | None, t_end: int | None) -> Iterator[Any]:
        if self._closed:
            raise FormatError(self.path, None, "reader is closed")
        self._warn_tail()
        word, state = self._start_point(t_start)
        f = self._file
        buf = np.empty(self.chunk_words * self.word_columns, self.word_dtype)
        cap = max(self.chunk_words * min(self.events_per_word, 2), 16)
        trig = np.empty((4096, 3), np.int64)
        while word < self.n_words:
            n = min(self.chunk_words, self.n_words - word)
            f.seek(self.data_offset + word * self.word_size)
            view = buf[: n * self.word_columns]
            got = f.readinto(memoryview(view).cast("B"))
            if got != n * self.word_size:
                raise FormatError(self.path, self.data_offset + word * self.word_size,
                                  "file shrank while reading")
            words = view.reshape(n, self.word_columns) if self.word_columns > 1 else view
            self._remember(word, state)
            pos = 0
            while pos < n:
                events = np.empty(cap, EVENT_DTYPE)
                out = events.view(np.int64).reshape(cap, 2)
                ne, nt, nxt, err, where = self._decode(words, pos, out, trig, state)
                block_offset = self.data_offset + (word + pos) * self.word_size
                if nt:
                    message = self._trigger_message(trig[:nt], t_start, t_end)
                    if message is not None:
                        yield message
                if ne:
                    ev = events[:ne]
                    if ne < cap // 4:
                        # do not pin a mostly empty buffer; copy bytes (a structured copy
                        # would leave the padding bytes uninitialised)
                        ev = ev.view(np.uint8).copy().view(EVENT_DTYPE)
                    yield EventBlock(self.stream_name, ev, block_offset)
                if err:
                    offset = self.data_offset + (word + where) * self.word_size
                    raise FormatError(self.path, offset, self._error_text(err))
                pos = nxt
            word += n
            if t_end is not None and state[self.last_t_slot] >= t_end:
                return

    stream_name = "events"

    def read_all(self, stream: str | None = None, t_start: int | None = None,
                 t_end: int | None = None) -> np.ndarray:
        """All events; the whole-file case decodes straight into one growing array (no
        per-block arrays and no final concatenation), other cases go through `packets()`."""
        if (stream not in (None, self.stream_name) or t_start is not None
                or t_end is not None or self._seek_t is not None):
            return super().read_all(stream, t_start, t_end)
        if self._closed:
            raise FormatError(self.path, None, "reader is closed")
        self._warn_tail()
        state = self._new_state()
        f = self._file
        buf = np.empty(self.chunk_words * self.word_columns, self.word_dtype)
        trig = np.empty((4096, 3), np.int64)
        events = np.empty(max(self.n_words, 16), EVENT_DTYPE)
        out = events.view(np.int64).reshape(-1, 2)
        total = 0
        word = 0
        f.seek(self.data_offset)
        while word < self.n_words:
            n = min(self.chunk_words, self.n_words - word)
            view = buf[: n * self.word_columns]
            if f.readinto(memoryview(view).cast("B")) != n * self.word_size:
                raise FormatError(self.path, self.data_offset + word * self.word_size,
                                  "file shrank while reading")
            words = view.reshape(n, self.word_columns) if self.word_columns > 1 else view
            self._remember(word, state)
            pos = 0
            while pos < n:
                if events.shape[0] - total < max(self.events_per_word, 16):
                    bigger = np.empty(events.shape[0] * 3 // 2 + 16, EVENT_DTYPE)
                    bigger[:total].view(np.uint8)[:] = events[:total].view(np.uint8)
                    events, out = bigger, bigger.view(np.int64).reshape(-1, 2)
                ne, _, nxt, err, where = self._decode(words, pos, out[total:], trig, state)
                total += ne
                if err:
                    offset = self.data_offset + (word + where) * self.word_size
                    raise FormatError(self.path, offset, self._error_text(err))
                pos = nxt
            word += n
        return events[:total]

    def _warn_tail(self) -> None:
        if self.tail_bytes and not self._warned_tail:
            self._warned_tail = True
            end = self.data_offset + self.n_words * self.word_size
            warnings.warn(
                f"{self.path}: truncated last record at byte {end} ({self.tail_bytes} of "
                f"{self.word_size} bytes); decoding the complete part",
                stacklevel=3,
            )

    def _trigger_message(self, trig: np.ndarray, t_start: int | None,
                         t_end: int | None) -> Trigger | None:
        keep = np.ones(trig.shape[0], bool)
        if t_start is not None:
            keep &= trig[:, 0] >= t_start
        if t_end is not None:
            keep &= trig[:, 0] < t_end
        trig = trig[keep]
        if not trig.shape[0]:
            return None
        out = np.zeros(trig.shape[0], TRIGGER_DTYPE)
        out["t"] = trig[:, 0]
        out["type"] = np.where(trig[:, 1] == 1, TRIGGER_RISING, TRIGGER_FALLING)
        return Trigger(out, "triggers", int(trig[0, 0]), int(trig[-1, 0]) + 1,
                       {"channels": trig[:, 2].tolist()})

    def close(self) -> None:
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()
            self._file = None
        super().close()

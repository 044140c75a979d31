"""Streaming .npz writer: each message is appended as its own array, so memory stays bounded.

Arrays are named `<stream>/<kind>_<index:08d>`; `load(path)` concatenates event arrays per
stream back into one array. The zip's directory is written on close, which the runner
guarantees also on Ctrl-C; a `.partial` name is used until then, so a file that exists
under its final name is always complete.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np

from evrt.events import EVENT_DTYPE, EventPacket, concat_events
from evrt.graph.node import Sink
from evrt.messages import encode


class NpzSink(Sink):
    """Writes every incoming message's array into an .npz file, streaming (bounded memory)."""

    def __init__(self, path: str, compress: bool = False) -> None:
        self.path = path
        self.compress = compress
        self.counts: dict[str, int] = {}

    def open(self, context: Any) -> None:
        super().open(context)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self.partial = self.path + ".partial"
        mode = zipfile.ZIP_DEFLATED if self.compress else zipfile.ZIP_STORED
        self.zip = zipfile.ZipFile(self.partial, "w", compression=mode, allowZip64=True)

    def process(self, message: Any) -> None:
        header, buffers = encode(message)
        if not buffers:
            return
        array = message.events if isinstance(message, EventPacket) else np.asarray(buffers[0])
        i = self.counts.get(message.stream, 0)
        self.counts[message.stream] = i + 1
        name = f"{message.stream}/{header['kind']}_{i:08d}.npy"
        with self.zip.open(name, "w", force_zip64=True) as f:
            np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)
        times = np.array([message.t_start, message.t_end], dtype=np.int64)
        with self.zip.open(f"{message.stream}/window_{i:08d}.npy", "w") as f:
            np.lib.format.write_array(f, times, allow_pickle=False)

    def close(self) -> None:
        zf = getattr(self, "zip", None)
        if zf is not None:
            zf.close()
            os.replace(self.partial, self.path)
            self.zip = None


def load(path: str) -> dict[str, np.ndarray | list[np.ndarray]]:
    """Read an evrt .npz: event streams concatenated, other streams as lists of arrays in order."""
    out: dict[str, list[np.ndarray]] = {}
    with np.load(path) as z:
        names = sorted(n for n in z.files if "/window_" not in n)
        for n in names:
            stream = n.split("/")[0]
            out.setdefault(stream, []).append(z[n])
    result: dict[str, np.ndarray | list[np.ndarray]] = {}
    for stream, arrays in out.items():
        if arrays and arrays[0].dtype == EVENT_DTYPE:
            result[stream] = concat_events(arrays)
        else:
            result[stream] = arrays
    return result

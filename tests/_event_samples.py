"""Loading the shared real recordings for encoder/filter tests (dv-processing reads AEDAT4).

evrt's own file readers are built elsewhere; the encoder tests only need the events, so
they read them with dv-processing, which is also one of the oracles.
"""

from __future__ import annotations

import functools

import numpy as np

from evrt.events import Geometry, concat_events, from_dv, make_events


@functools.lru_cache(maxsize=4)
def load_aedat4(path: str) -> tuple[np.ndarray, Geometry]:
    """All events of an AEDAT4 file as one evrt array (a private copy), plus the sensor size."""
    import dv_processing as dv

    recording = dv.io.MonoCameraRecording(path)
    width, height = recording.getEventResolution()
    chunks = []
    while True:
        batch = recording.getNextEventBatch()
        if batch is None:
            break
        chunks.append(from_dv(batch).copy())
    events = concat_events(chunks)
    events.flags.writeable = False
    return events, Geometry(int(width), int(height))


@functools.lru_cache(maxsize=4)
def load_evt2(path: str) -> tuple[np.ndarray, Geometry]:
    """All CD events of a Prophesee EVT 2.0 file (read with expelliarmus), 640x480 samples."""
    import pytest

    expelliarmus = pytest.importorskip("expelliarmus")
    raw = expelliarmus.Wizard(encoding="evt2").read(path)
    events = make_events(raw["t"], raw["x"], raw["y"], raw["p"])
    events.flags.writeable = False
    return events, Geometry(640, 480)


def load_sample(path: str) -> tuple[np.ndarray, Geometry]:
    """Events + geometry of a shared sample by its extension (.aedat4 or EVT 2.0 .raw)."""
    return load_evt2(path) if path.endswith(".raw") else load_aedat4(path)

"""Every encoder/filter kernel is compiled with `nogil=True` (threads run it in parallel) and
`cache=True` (compiled once per machine, loaded from the cache afterwards), and two
threads running kernels give the same results as one thread. Speed-up is measured in
benchmarks/bench_encoders.py, not here."""

from __future__ import annotations

import importlib
import pkgutil
import threading

import numba
import numpy as np
from numba.core.caching import NullCache

import evrt.encoders.functional as EF
import evrt.filters.functional as FF
from evrt.encoders import functional as E
from evrt.events import make_events


def _kernels():
    found = {}
    for package in (EF, FF):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for name, obj in vars(module).items():
                if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.__module__ == module.__name__:
                    found[f"{module.__name__}.{name}"] = obj
    return found


def test_every_kernel_is_nogil_and_cached():
    kernels = _kernels()
    assert len(kernels) >= 14, sorted(kernels)
    for name, kernel in kernels.items():
        assert kernel.targetoptions.get("nogil") is True, name
        assert not isinstance(kernel._cache, NullCache), name


def test_two_threads_give_the_same_frames_as_one():
    n = 200_000
    rng = np.random.default_rng(2)
    ev = make_events(np.arange(n), rng.integers(0, 64, n), rng.integers(0, 48, n), rng.integers(0, 2, n))
    want = [E.voxel_grid(ev[i::2].copy(), 64, 48, 4, 0, n) for i in range(2)]
    got = [None, None]

    def work(i):
        got[i] = E.voxel_grid(ev[i::2].copy(), 64, 48, 4, 0, n)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_warm_loads_every_kernel_before_the_first_window():
    """In a fresh interpreter, the encoders' and filters' `warm()` alone must leave no kernel
    to compile or load later (a large sensor's prefetching variants included), for read-only
    events too."""
    import subprocess
    import sys

    probe = (
        "import importlib, pkgutil, numba\n"
        "from numba import types\n"
        "import evrt.encoders.functional as EF, evrt.filters.functional as FF\n"
        "EF.warm()\n"
        "FF.warm()\n"
        "for package in (EF, FF):\n"
        "  for info in pkgutil.iter_modules(package.__path__):\n"
        "    m = importlib.import_module(f'{package.__name__}.{info.name}')\n"
        "    for name, obj in vars(m).items():\n"
        "        if (isinstance(obj, numba.core.registry.CPUDispatcher) and obj.__module__ == m.__name__\n"
        "                and obj.targetoptions.get('inline') != 'always'):  # helpers live inlined\n"
        "            events = [s[0] for s in obj.signatures if isinstance(s[0], types.Array)\n"
        "                      and isinstance(s[0].dtype, types.Record)]\n"
        "            print(m.__name__ + '.' + name, len(obj.signatures), bool(events),\n"
        "                  any(e.mutable for e in events), any(not e.mutable for e in events))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()]
    assert len(rows) >= 20
    for name, count, takes_events, writable, read_only in rows:
        assert int(count) >= 1, f"{name} is not warmed"
        if takes_events == "True":
            assert writable == read_only == "True", f"{name} is not warmed for writable and read-only events"

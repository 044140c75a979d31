"""Errors stop the run with the node's name; killed workers are detected; Ctrl-C closes sinks cleanly."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evrt.errors import NodeError
from evrt.graph.config import from_dict
from evrt.graph.runner import Runner

SOURCE = {"type": "synthetic", "pattern": "poisson", "width": 64, "height": 48, "duration": 0.2,
          "rate": 1e5, "window_us": 5000}


def _children(pid: int) -> list[int]:
    """Worker processes still alive under `pid` (multiprocessing's resource tracker is not one)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"resource_tracker" not in cmd:
                out.append(int(entry.name))
    return out


@pytest.mark.parametrize("placement", ["threads", "processes"])
def test_node_that_raises_stops_the_run_naming_it(placement):
    cfg = from_dict({"graph": {"placement": placement}, "nodes": {
        "src": SOURCE,
        "bad": {"type": "evrt.graph.testing:FailAfter", "after": 3, "inputs": ["src"]},
        "sink": {"type": "null", "inputs": ["bad"]},
    }})
    with pytest.raises(NodeError) as err:
        Runner(cfg).run()
    assert err.value.node == "bad"
    assert "deliberate failure on message 3" in str(err.value)
    assert mp.active_children() == []
    assert _children(os.getpid()) == []


def test_killed_worker_process_is_reported_and_nothing_is_orphaned():
    cfg = from_dict({"graph": {"placement": "processes", "stop_timeout": 3.0}, "nodes": {
        "src": {**SOURCE, "duration": 5.0, "speed": 1.0},
        "victim": {"type": "evrt.graph.testing:KillSelfAfter", "after": 5, "inputs": ["src"]},
        "sink": {"type": "null", "inputs": ["victim"]},
    }})
    t = time.monotonic()
    with pytest.raises(NodeError) as err:
        Runner(cfg).run()
    assert err.value.node == "victim"
    assert "killed by signal 9" in str(err.value)
    assert time.monotonic() - t < 20
    assert mp.active_children() == []
    assert _children(os.getpid()) == []


def _write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "g.toml"
    path.write_text(body)
    return path


def test_cli_exit_code_is_nonzero_on_node_error(tmp_path):
    cfg = _write_config(tmp_path, """
[nodes.src]
type = "synthetic"
duration = 0.1
[nodes.bad]
type = "evrt.graph.testing:FailAfter"
after = 1
inputs = ["src"]
[nodes.sink]
type = "null"
inputs = ["bad"]
""")
    proc = subprocess.run([sys.executable, "-m", "evrt.cli", "run", str(cfg), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "node 'bad' failed: RuntimeError: deliberate failure" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("placement", ["threads", "processes"])
def test_ctrl_c_closes_the_sink_and_the_file_is_valid(tmp_path, placement):
    out = tmp_path / "events.npz"
    cfg = _write_config(tmp_path, f"""
[graph]
placement = "{placement}"
[nodes.src]
type = "synthetic"
pattern = "moving_bar"
duration = 60.0
speed = 1.0
[nodes.rec]
type = "npz"
path = "{out}"
inputs = ["src"]
""")
    proc = subprocess.Popen([sys.executable, "-m", "evrt.cli", "run", str(cfg), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    with np.load(out) as z:
        names = [n for n in z.files if "/events_" in n]
        assert names, "the sink wrote nothing before Ctrl-C"
        n_events = sum(z[n].size for n in names)
    assert n_events > 0
    assert not (tmp_path / "events.npz.partial").exists()

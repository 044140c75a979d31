"""The examples in examples/ run as documented (each in a fresh `evrt run` process)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from viewer_helpers import png_pixels

from evrt.sinks.imaging import OFF_RGB, ON_RGB

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def evrt_run(config: Path, cwd: Path, pythonpath: list[Path], *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(p) for p in pythonpath] + [env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "evrt.cli", "run", str(config), "--quiet", *extra],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_custom_sink_module_class(tmp_path):
    evrt_run(EXAMPLES / "custom_sink/pipeline.toml", tmp_path, [EXAMPLES / "custom_sink"])
    rows = (tmp_path / "out/rates.csv").read_text().splitlines()
    assert rows[0] == "t_end_us,events,on_fraction"
    data = np.array([[float(v) for v in r.split(",")] for r in rows[1:]])
    assert len(data) == 50  # 0.5 s in 10 ms windows
    assert np.all(np.diff(data[:, 0]) == 10_000)
    assert np.all((data[:, 2] >= 0) & (data[:, 2] <= 1))


def test_custom_source_counts(tmp_path):
    evrt_run(EXAMPLES / "custom_source/pipeline.toml", tmp_path, [EXAMPLES / "custom_source"],
             "--set", "graph.placement=processes", "--set", f"count.path={tmp_path / 'counts.json'}")
    counts = json.loads((tmp_path / "counts.json").read_text())
    assert counts["events"]["messages"] == 10
    assert counts["events"]["events"] == 10 * 8 * 8


def test_custom_encoder_pictures(tmp_path):
    evrt_run(EXAMPLES / "custom_encoder/pipeline.toml", tmp_path, [EXAMPLES / "custom_encoder"])
    files = sorted((tmp_path / "out/counts_png").glob("counts_*.png"))
    assert len(files) == 4  # one picture per 50 ms tensor
    img = png_pixels(files[1].read_bytes())
    assert img.shape == (48, 64, 3)
    colours = {tuple(c) for c in img.reshape(-1, 3)}
    assert tuple(ON_RGB) in colours and tuple(OFF_RGB) in colours  # the disk's spoke edges


def test_entry_point_plugin(tmp_path):
    site = tmp_path / "site"
    package = tmp_path / "plugin"  # build from a copy: setuptools writes build/ next to the sources
    shutil.copytree(EXAMPLES / "plugin", package)
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--disable-pip-version-check", "--target", str(site), str(package)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    env = dict(os.environ, PYTHONPATH=str(site))
    listed = subprocess.run([sys.executable, "-m", "evrt.cli", "nodes", "jsonl_log"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert "evrt_example_plugin.sink:JsonLinesLog" in listed.stdout, listed.stdout + listed.stderr
    evrt_run(EXAMPLES / "plugin/pipeline.toml", tmp_path, [site])
    records = [json.loads(line) for line in (tmp_path / "out/messages.jsonl").read_text().splitlines()]
    assert len(records) == 20 and all(r["kind"] == "EventPacket" for r in records)
    assert records[-1]["t_end"] == 200_000

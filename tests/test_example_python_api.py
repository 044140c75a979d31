"""The Python API example runs and sees every event of the source."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from evrt.sources.synthetic.patterns import PatternSource

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "python_api_custom_sink.py"


def test_python_api_example():
    spec = importlib.util.spec_from_file_location("python_api_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.main()
    want = PatternSource("moving_bar", duration=0.5, width=128, height=96).all_events()
    assert summary["status"] == "completed"
    assert summary["events"] == want.size and summary["packets"] == 50
    # the moving bar's leading (ON) and trailing (OFF) edges fire equally often
    assert abs(summary["mean_on_fraction"] - 0.5) < 0.05

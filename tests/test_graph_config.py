"""Config validation: every error names the node and the key."""

from __future__ import annotations

import pytest

from evrt.errors import ConfigError
from evrt.graph import config, registry
from evrt.graph.node import Sink

SRC = {"type": "synthetic", "duration": 0.01}


def _cfg(nodes: dict, graph: dict | None = None, overrides: list[str] | None = None):
    return config.from_dict({"graph": graph or {}, "nodes": nodes}, overrides=overrides)


def test_unknown_node_type():
    with pytest.raises(ConfigError, match=r"\[nodes.cam\] key 'type': unknown node type 'camerra'"):
        _cfg({"cam": {"type": "camerra"}})


def test_unknown_parameter_names_node_and_key():
    with pytest.raises(ConfigError, match=r"\[nodes.src\] key 'sped': unknown parameter"):
        _cfg({"src": {**SRC, "sped": 2.0}})


def test_wrong_parameter_type():
    with pytest.raises(ConfigError, match=r"\[nodes.src\] key 'duration': expected float, got str"):
        _cfg({"src": {**SRC, "duration": "long"}})


def test_missing_input():
    with pytest.raises(ConfigError, match=r"\[nodes.sink\] key 'inputs': .*missing input"):
        _cfg({"src": SRC, "sink": {"type": "null"}})


def test_input_naming_no_node():
    with pytest.raises(ConfigError, match=r"\[nodes.sink\] key 'inputs': input 'srcc' names no node"):
        _cfg({"src": SRC, "sink": {"type": "null", "inputs": ["srcc"]}})


def test_cycle_is_rejected():
    with pytest.raises(ConfigError, match=r"cycle: .*a -> b -> a|cycle: .*b -> a -> b"):
        _cfg({"src": SRC, "a": {"type": "passthrough", "inputs": ["src", "b"]},
              "b": {"type": "passthrough", "inputs": ["a"]}, "sink": {"type": "null", "inputs": ["b"]}})


def test_unknown_graph_key_and_bad_placement():
    with pytest.raises(ConfigError, match=r"key 'graph.placment'"):
        _cfg({"src": SRC, "s": {"type": "null", "inputs": ["src"]}}, {"placment": "threads"})
    with pytest.raises(ConfigError, match=r"key 'graph.placement': expected one of"):
        _cfg({"src": SRC, "s": {"type": "null", "inputs": ["src"]}}, {"placement": "cluster"})


def test_source_with_inputs_and_sink_as_input():
    with pytest.raises(ConfigError, match=r"\[nodes.src2\] key 'inputs': type PatternSource is a source"):
        _cfg({"src": SRC, "src2": {**SRC, "inputs": ["src"]}, "s": {"type": "null", "inputs": ["src2"]}})
    with pytest.raises(ConfigError, match=r"node 's' is a sink and has no output"):
        _cfg({"src": SRC, "s": {"type": "null", "inputs": ["src"]}, "t": {"type": "null", "inputs": ["s"]}})


def test_set_overrides_typed_values_and_rejects_unknown_nodes():
    cfg = _cfg({"src": SRC, "s": {"type": "null", "inputs": ["src"]}},
               overrides=["src.duration=2.5", "src.pattern=poisson", "graph.flow=realtime"])
    assert cfg.nodes["src"].params["duration"] == 2.5
    assert cfg.nodes["src"].params["pattern"] == "poisson"
    assert cfg.flow == "realtime"
    with pytest.raises(ConfigError, match=r"\[nodes.nope\] key 'x': --set names no node"):
        _cfg({"src": SRC, "s": {"type": "null", "inputs": ["src"]}}, overrides=["nope.x=1"])


def test_module_class_types_and_registry_listing():
    assert "synthetic" in registry.available() and "npz" in registry.available()
    cls = registry.resolve("evrt.graph.testing:DigestSink")
    assert issubclass(cls, Sink)
    with pytest.raises(ConfigError, match="cannot import module 'no_such_module'"):
        registry.resolve("no_such_module:Thing", node="x")


def test_demo_config_is_valid():
    from pathlib import Path

    cfg = config.load(Path(__file__).resolve().parents[1] / "configs" / "demo.toml")
    assert cfg.order()[0] == "source"


def test_demo_runs_end_to_end_and_writes_depth_maps(tmp_path):
    from pathlib import Path

    from evrt.graph.runner import Runner

    demo = Path(__file__).resolve().parents[1] / "configs" / "demo.toml"
    cfg = config.load(demo, [f"png.directory={str(tmp_path)!r}", "png.video=''",
                             "source.duration=0.1"])
    result = Runner(cfg).run()
    assert result.status == "completed"
    assert result.nodes["depth"]["msgs_out"] == 2  # one depth map per 50 ms window (as trained)
    assert len(list(tmp_path.glob("*.png"))) == 2

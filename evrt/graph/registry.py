"""Node types by name: built-ins, entry points (group `evrt.nodes`) and `"package.module:Class"`.

Built-in packages list their nodes in a module-level `NODES = {"name": "module:Class"}`
dict, resolved lazily so that `evrt nodes` and config checks do not import torch.
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from evrt.errors import ConfigError
from evrt.graph.node import Node

BUILTIN_PACKAGES = (
    "evrt.sources",
    "evrt.sinks",
    "evrt.encoders",
    "evrt.filters",
    "evrt.models",
    "evrt.backends",
    "evrt.graph.builtin",
)

RESERVED_KEYS = ("type", "inputs", "host")


def _builtin_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for package in BUILTIN_PACKAGES:
        try:
            module = importlib.import_module(package)
        except ModuleNotFoundError as exc:
            if exc.name == package:
                continue
            raise
        table.update(getattr(module, "NODES", {}))
    return table


def _entry_point_table() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group="evrt.nodes")}


def available() -> dict[str, str]:
    """Every registered name -> 'module:Class' target (entry points override built-ins)."""
    table = _builtin_table()
    table.update(_entry_point_table())
    return dict(sorted(table.items()))


def _import_target(target: str, *, node: str | None) -> type:
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ConfigError(f"'{target}' is neither a registered node type nor 'module:Class'",
                          node=node, key="type")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module '{module_name}' for type '{target}': {exc}",
                          node=node, key="type") from exc
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ConfigError(f"module '{module_name}' has no '{attr}'", node=node, key="type")
    if not (inspect.isclass(obj) and issubclass(obj, Node)):
        raise ConfigError(f"'{target}' is not an evrt Node subclass", node=node, key="type")
    return obj


def resolve(type_name: str | type, *, node: str | None = None) -> type:
    """Turn a type name, a 'module:Class' string or a class into a Node class."""
    if inspect.isclass(type_name):
        if not issubclass(type_name, Node):
            raise ConfigError(f"{type_name!r} is not an evrt Node subclass", node=node, key="type")
        return type_name
    table = available()
    if type_name in table:
        return _import_target(table[type_name], node=node)
    if ":" in type_name:
        return _import_target(type_name, node=node)
    close = [n for n in table if n.startswith(type_name[:3])]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"unknown node type '{type_name}' (see `evrt nodes`){hint}",
                      node=node, key="type")


@dataclass(frozen=True)
class Param:
    name: str
    annotation: Any
    default: Any
    required: bool

    def describe(self) -> str:
        ann = _type_name(self.annotation)
        if self.required:
            return f"{self.name}: {ann} (required)"
        return f"{self.name}: {ann} = {self.default!r}"


def _type_name(ann: Any) -> str:
    if ann is inspect.Parameter.empty:
        return "any"
    if isinstance(ann, type):
        return ann.__name__
    return str(ann).replace("typing.", "")


def parameters(cls: type) -> dict[str, Param]:
    """The node's schema: keyword parameters of its __init__ with annotations and defaults."""
    sig = inspect.signature(cls.__init__)
    hints = typing.get_type_hints(cls.__init__) if cls.__init__ is not object.__init__ else {}
    out: dict[str, Param] = {}
    for name, p in sig.parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[name] = Param(name, hints.get(name, p.annotation), p.default, p.default is p.empty)
    return out


def _matches(value: Any, ann: Any) -> bool:
    if ann is inspect.Parameter.empty or ann is Any:
        return True
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(ann))
    if origin is typing.Literal:
        return value in typing.get_args(ann)
    if ann is type(None):
        return value is None
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        args = [a for a in typing.get_args(ann) if a is not Ellipsis]
        return all(_matches(v, args[0]) for v in value) if args else True
    if origin is dict:
        return isinstance(value, dict)
    if ann is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if ann is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(ann, type):
        return isinstance(value, ann)
    return True


def validate_params(cls: type, params: dict[str, Any], *, node: str) -> dict[str, Any]:
    """Check params against the node's schema; raise ConfigError naming the node and key."""
    schema = parameters(cls)
    for key, value in params.items():
        if key not in schema:
            known = ", ".join(schema) or "none"
            raise ConfigError(f"unknown parameter for type {cls.__name__} (known: {known})",
                              node=node, key=key)
        ann = schema[key].annotation
        if not _matches(value, ann):
            raise ConfigError(
                f"expected {_type_name(ann)}, got {type(value).__name__} {value!r}",
                node=node, key=key)
    for name, p in schema.items():
        if p.required and name not in params:
            raise ConfigError(f"missing required parameter ({p.describe()})", node=node, key=name)
    return dict(params)


def build(type_name: str | type, params: dict[str, Any], *, node: str) -> Node:
    """Resolve, validate and instantiate a node."""
    cls = resolve(type_name, node=node)
    validate_params(cls, params, node=node)
    try:
        return cls(**params)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid parameters: {exc}", node=node) from exc

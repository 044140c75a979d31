"""What the config-driven trainers (`evrt train depth|prime`) share: reading the training
TOML and applying `--set section.key=value` overrides, with the same errors for both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evrt.errors import ConfigError


def read_training_toml(path: str | Path) -> dict[str, Any]:
    """The parsed TOML; a missing file or a syntax error is a ConfigError on `--config`."""
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - python 3.10
        import tomli as tomllib
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"training config {p} does not exist", key="--config")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}", key="--config") from None


def apply_overrides(cfg: dict[str, dict[str, Any]], overrides: list[str] | None) -> None:
    """Set each `section.key=value` (a TOML literal, else a string) in `cfg`, in place."""
    from evrt.graph.config import parse_value

    for o in overrides or []:
        target, eq, value = o.partition("=")
        section, _, key = target.partition(".")
        if not eq or section not in cfg or not key:
            raise ConfigError(f"--set expects model|data|train.KEY=VALUE, got {o!r}", key=o)
        cfg[section][key] = parse_value(value)

"""Loading configuration files from disk (I/O lives here, validation in models.config)."""

from __future__ import annotations

from pathlib import Path

import yaml

from models.config import ConfigError, OpswardenConfig, load_config
from models.registry import WorkflowRegistry
from models.registry_loader import parse_registry


def load_config_file(path: Path | None) -> OpswardenConfig:
    """The validated config at `path`, or the defaults when no file is given."""
    if path is None:
        return load_config(None)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    try:
        return load_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def load_registry_file(path: Path) -> WorkflowRegistry:
    """The workflow registry YAML (`workflows:` list) at `path`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return parse_registry(data)

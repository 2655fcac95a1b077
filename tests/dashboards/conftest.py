"""Shared helpers for the observability tests: repository paths and the Debian Prometheus binaries."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
RULES_FILE = DASHBOARDS / "prometheus" / "rules" / "opswarden.rules.yml"


def require_binary(name: str) -> str:
    """The path of `name`; a missing binary skips locally but fails under CI, where `make system-deps` ran."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: run `make system-deps` (Debian packages prometheus, prometheus-alertmanager)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path

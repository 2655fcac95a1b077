"""Access to the real third-party samples in ../shared/samples (OPSWARDEN_SAMPLES overrides)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def samples_root() -> Path:
    return Path(os.environ.get("OPSWARDEN_SAMPLES", PROJECT_ROOT.parent / "shared" / "samples")).resolve()


def require_samples() -> Path:
    """The samples folder; absent, the test says so plainly, and under CI=true that is a failure."""
    root = samples_root()
    if not root.is_dir():
        message = f"sample folder {root} is absent (set OPSWARDEN_SAMPLES)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


@dataclass(frozen=True)
class PantherCase:
    file: Path
    name: str
    log_types: tuple[str, ...]
    log: Any


def panther_cases(folder: str) -> Iterator[PantherCase]:
    """Every `Tests[].Log` in a Panther rules folder, without Panther's `p_*` enrichment fields."""
    for path in sorted((require_samples() / "panther-analysis" / "rules" / folder).glob("*.yml")):
        spec = yaml.safe_load(path.read_text())
        for test in spec.get("Tests") or []:
            log = test.get("Log")
            if isinstance(log, dict):
                log = {k: v for k, v in log.items() if not k.startswith("p_")}
            yield PantherCase(path, str(test.get("Name")), tuple(spec.get("LogTypes") or ()), log)

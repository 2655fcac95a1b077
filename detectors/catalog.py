"""Every detector opswarden runs, built from the config: `replay` and the workers both use this list."""

from __future__ import annotations

from typing import Any

from detectors.anomaly import ActivityAnomalyDetector
from detectors.base import Detector
from detectors.creep import PermissionCreepDetector
from detectors.judge import AuthorizationJudge
from detectors.loops import RemediationLoopDetector
from models.config import OpswardenConfig


def build_detectors(config: OpswardenConfig) -> list[Detector[Any]]:
    """The detectors in a fixed order, so outputs are ordered the same in every driver."""
    return [
        AuthorizationJudge(config),
        RemediationLoopDetector(config),
        PermissionCreepDetector(config),
        ActivityAnomalyDetector(config),
    ]

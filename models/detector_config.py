"""Configuration sections of the online detectors (remediation loops, permission creep, activity anomaly)."""

from __future__ import annotations

from models.section import Section


class LoopConfig(Section):
    """remediation_loop thresholds."""


class CreepConfig(Section):
    """permission_creep thresholds and sensitivity table."""


class AnomalyConfig(Section):
    """activity_anomaly thresholds."""

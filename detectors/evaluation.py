"""Precision, recall and time-to-detect of the online detectors over the seeded scenario.

Pure: it builds an engine, replays `detectors.scenario.evaluation_scenario` through it, and matches each
Create finding to the labelled episodes of its type and subject. A finding matches an episode when it
is raised between the episode's start and its end plus the detector's closing period; a label is found
when at least one finding matches it. Time-to-detect is from the episode's first event to the first
matching finding; for loops, `detected_at` is which occurrence of the loop the finding came on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from statistics import median
from typing import Any

from detectors.anomaly import ActivityAnomalyDetector
from detectors.base import Detector
from detectors.creep import PermissionCreepDetector
from detectors.engine import Engine, run
from detectors.episode import moment
from detectors.loops import RemediationLoopDetector
from detectors.scenario import Label, evaluation_scenario
from models.config import OpswardenConfig
from models.finding import Activity, DetectionFinding

FINDING_TYPES = ("remediation_loop", "permission_creep", "activity_anomaly")


@dataclass
class TypeScore:
    """The figures for one finding type."""

    finding_type: str
    labels: int = 0
    found: int = 0
    findings: int = 0
    matched: int = 0
    duplicates: int = 0
    detect_seconds: list[float] = field(default_factory=list)
    detected_at: list[int] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.labels if self.labels else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.findings if self.findings else 1.0

    def as_json(self) -> dict[str, Any]:
        return {
            "finding_type": self.finding_type,
            "labels": self.labels,
            "found": self.found,
            "findings": self.findings,
            "matched": self.matched,
            "duplicates": self.duplicates,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "median_detect_seconds": median(self.detect_seconds) if self.detect_seconds else None,
            "max_detect_seconds": max(self.detect_seconds) if self.detect_seconds else None,
            "max_detected_at": max(self.detected_at) if self.detected_at else None,
            "missed": self.missed,
            "false_positives": self.false_positives,
        }


@dataclass
class Evaluation:
    """Scores per finding type, loop kinds, state sizes and what the approved expansion was rated."""

    scores: dict[str, TypeScore]
    loop_detected_at: dict[str, list[int]]
    loop_kind_agreement: float
    state_bytes: dict[str, dict[str, float]]
    approved_severity: list[str]
    unapproved_creep_severity: list[str]
    items: int
    findings: int


def detectors_for(config: OpswardenConfig) -> list[Detector[Any]]:
    """The three online detectors, in catalog order."""
    return [RemediationLoopDetector(config), PermissionCreepDetector(config), ActivityAnomalyDetector(config)]


def slack(config: OpswardenConfig, finding_type: str) -> timedelta:
    """How long after an episode's last event a finding still belongs to it."""
    return {
        "remediation_loop": config.loops.quiet_period,
        "permission_creep": config.creep.window,
        "activity_anomaly": 2 * config.anomaly.bucket,
    }[finding_type] + config.allowed_lateness


def evaluate(seed: int = 7, size: int = 1, config: OpswardenConfig | None = None) -> Evaluation:
    """Replay the scenario for `seed` and `size` through the online detectors and score their Create findings."""
    config = config or OpswardenConfig()
    items, labels = evaluation_scenario(seed, size)
    engine = Engine(config, detectors_for(config))
    out = run(engine, items)
    creates = [f for f in out.findings if f.activity_id is Activity.CREATE and f.finding_type in FINDING_TYPES]
    scores = {t: TypeScore(t) for t in FINDING_TYPES}
    by_subject: dict[tuple[str, str], list[Label]] = defaultdict(list)
    for label in labels:
        by_subject[(label.finding_type, label.subject)].append(label)
        scores[label.finding_type].labels += 1
    first_match: dict[int, DetectionFinding] = {}
    for finding in creates:
        score = scores[finding.finding_type]
        score.findings += 1
        raised = moment(finding.time / 1000)
        subject = _subject(finding)
        owner = next(
            (
                candidate
                for candidate in by_subject.get((finding.finding_type, subject), ())
                if candidate.start - timedelta(seconds=1)
                <= raised
                <= candidate.end + slack(config, candidate.finding_type)
            ),
            None,
        )
        if owner is None:
            score.false_positives.append(f"{subject}: {finding.message}")
            continue
        score.matched += 1
        if id(owner) in first_match:
            score.duplicates += 1
        first_match.setdefault(id(owner), finding)
    loop_detected_at: dict[str, list[int]] = defaultdict(list)
    agreeing = loops_found = 0
    approved: list[str] = []
    unapproved: list[str] = []
    for label in labels:
        score = scores[label.finding_type]
        matched = first_match.get(id(label))
        if matched is None:
            score.missed.append(f"{label.kind} {label.subject}")
            continue
        score.found += 1
        raised = moment(matched.time / 1000)
        score.detect_seconds.append((raised - label.start).total_seconds())
        if label.event_times:
            index = sum(1 for t in label.event_times if t <= raised + timedelta(seconds=1))
            score.detected_at.append(index)
            if label.finding_type == "remediation_loop":
                loop_detected_at[label.kind].append(index)
                loops_found += 1
                agreeing += matched.unmapped.get("loop_kind") == label.kind
        if label.finding_type == "permission_creep":
            (approved if label.approved else unapproved).append(matched.severity)
    return Evaluation(
        scores=scores,
        loop_detected_at=dict(loop_detected_at),
        loop_kind_agreement=agreeing / loops_found if loops_found else 1.0,
        state_bytes=state_sizes(engine),
        approved_severity=approved,
        unapproved_creep_severity=sorted(set(unapproved)),
        items=len(items),
        findings=len(out.findings),
    )


def state_sizes(engine: Engine) -> dict[str, dict[str, float]]:
    """Encoded bytes per tracked key, per detector: what a changelogged table would hold."""
    sizes: dict[str, dict[str, float]] = {}
    for detector in engine.detectors:
        store = engine.stores[detector.name]
        lengths = sorted(len(detector.encode_state(state)) for state in store.values())
        if lengths:
            sizes[detector.name] = {
                "keys": len(lengths),
                "mean": round(sum(lengths) / len(lengths), 1),
                "p99": lengths[min(len(lengths) - 1, int(0.99 * len(lengths)))],
                "max": lengths[-1],
            }
    return sizes


def _subject(finding: DetectionFinding) -> str:
    unmapped = finding.unmapped
    if finding.finding_type == "remediation_loop":
        return str(unmapped["target"])
    if finding.finding_type == "permission_creep":
        return str(unmapped["grantee"])
    return str(finding.anomaly_analyses[0].analysis_targets[0].name)

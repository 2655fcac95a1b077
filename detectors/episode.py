"""One finding per episode: Create when it opens, Update as it grows, Close after a quiet period.

The three online detectors share this lifecycle. An `Episode` keeps only what the finding needs (plain
JSON: epoch seconds, strings, numbers), so it round-trips through a key's state and a restored detector
rebuilds the very same finding uid and revision.

>>> from models.finding import Activity, Severity
>>> episode = Episode.open("pod/a", "e-1", 0.0)
>>> episode.facts = {"resources": ["pod/a"]}
>>> first = episode.spec("remediation_loop", "remediation_loop", Activity.CREATE, Severity.MEDIUM, "loop")
>>> episode.grow(60.0, 4)
True
>>> later = episode.spec("remediation_loop", "remediation_loop", Activity.UPDATE, Severity.MEDIUM, "loop")
>>> (first.uid == later.uid, first.revision, later.revision)
(True, 0, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from detectors.findings import FindingSpec
from models.finding import Activity, AnalysisTarget, Anomaly, AnomalyAnalysis, Baseline, Observation, Severity


def epoch(moment: datetime) -> float:
    return moment.timestamp()


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class Episode:
    """An open finding: who opened it, when, how big it has grown, and the facts its messages repeat."""

    subject: str
    first_event_id: str
    first_seen: float
    last_time: float
    count: int = 1
    revision: int = 0
    next_update: int = 2
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, subject: str, first_event_id: str, at: float, count: int = 1) -> Episode:
        return cls(subject, first_event_id, at, at, count=count, next_update=max(2 * count, 2))

    def grow(self, at: float, count: int, *, force: bool = False) -> bool:
        """Record growth; True when the count has doubled since the last message (so a long episode is a
        handful of Updates, not one per event) or when `force` says the news cannot wait."""
        self.last_time = max(self.last_time, at)
        self.count = max(self.count, count)
        if self.count < self.next_update and not force:
            return False
        self.next_update = 2 * self.count
        self.revision += 1
        return True

    def spec(
        self,
        detector: str,
        finding_type: str,
        activity: Activity,
        severity: Severity,
        message: str,
        *,
        at: float | None = None,
        **extra: Any,
    ) -> FindingSpec:
        facts = self.facts
        return FindingSpec(
            detector=detector,
            finding_type=finding_type,
            subject=self.subject,
            first_event_id=self.first_event_id,
            time=moment(self.last_time if at is None else at),
            first_seen=moment(self.first_seen),
            severity=severity,
            message=message,
            activity=activity,
            revision=self.revision,
            principal_uid=facts.get("principal"),
            action=facts.get("action"),
            resources=tuple(facts.get("resources", ())),
            related_event_ids=tuple(facts.get("related", ())),
            environment=facts.get("environment"),
            source=facts.get("source"),
            account=facts.get("account"),
            region=facts.get("region"),
            **extra,
        )

    def close(self) -> None:
        self.revision += 1

    def as_json(self) -> list[Any]:
        return [
            self.subject,
            self.first_event_id,
            self.first_seen,
            self.last_time,
            self.count,
            self.revision,
            self.next_update,
            self.facts,
        ]

    @classmethod
    def from_json(cls, data: list[Any] | None) -> Episode | None:
        return None if data is None else cls(*data)


def remember(related: list[str], event_id: str, cap: int = 10) -> None:
    """Keep the first and the latest related event ids, at most `cap`."""
    if event_id in related:
        return
    if len(related) >= cap:
        del related[cap // 2]
    related.append(event_id)


def analysis(
    subject: str, subject_type: str, parameter: str, observed: dict[str, Any], baseline: dict[str, Any]
) -> AnomalyAnalysis:
    """An OCSF AnomalyAnalysis: what was observed on `subject` against the baseline it was judged by."""
    return AnomalyAnalysis(
        analysis_targets=(AnalysisTarget(name=subject, type=subject_type),),
        anomalies=(
            Anomaly(
                observation_parameter=parameter,
                observations=tuple(Observation(name=k, value=_text(v)) for k, v in observed.items()),
            ),
        ),
        baselines=(
            Baseline(
                observation_parameter=parameter,
                observations=tuple(Observation(name=k, value=_text(v)) for k, v in baseline.items()),
            ),
        ),
    )


def _text(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)

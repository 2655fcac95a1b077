"""One way to build an OCSF finding from what a detector saw, so every detector's output reads alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from models.events import ActionEvent, ChangeEvent, Principal
from models.finding import (
    Activity,
    Actor,
    Analytic,
    AnomalyAnalysis,
    Api,
    Cloud,
    Confidence,
    DetectionFinding,
    Evidence,
    FindingInfo,
    Metadata,
    Product,
    RelatedEvent,
    Resource,
    Severity,
    Status,
    User,
    epoch_ms,
    stable_uid,
    title_case,
)

try:
    PRODUCT_VERSION = version("opswarden")
except PackageNotFoundError:  # running from a source tree without installation
    PRODUCT_VERSION = "0.0.0"

_CLOUD_PROVIDER = {"cloudtrail": "AWS", "gcp": "GCP", "azure": "Azure", "k8s": "Kubernetes"}
_STATUS_FOR = {
    Activity.CREATE: Status.NEW,
    Activity.UPDATE: Status.IN_PROGRESS,
    Activity.CLOSE: Status.RESOLVED,
}


def finding_uid(detector: str, finding_type: str, subject: str, first_event_id: str) -> str:
    """The dedup key: detector, type, subject and the event that opened the finding."""
    return stable_uid(detector, finding_type, subject, first_event_id)


@dataclass
class FindingSpec:
    """Everything a detector decides about a finding; `build` turns it into OCSF."""

    detector: str
    finding_type: str
    subject: str
    first_event_id: str
    time: datetime
    first_seen: datetime
    severity: Severity
    message: str
    activity: Activity = Activity.CREATE
    revision: int = 0
    principal: Principal | None = None
    principal_uid: str | None = None
    action: str | None = None
    resources: tuple[str, ...] = ()
    related_event_ids: tuple[str, ...] = ()
    environment: str | None = None
    source: str | None = None
    account: str | None = None
    region: str | None = None
    source_ip: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    anomaly_analyses: tuple[AnomalyAnalysis, ...] = ()
    unmapped: dict[str, Any] = field(default_factory=dict)
    confidence: Confidence = Confidence.HIGH
    description: str | None = None
    is_alert: bool = True

    @property
    def uid(self) -> str:
        return finding_uid(self.detector, self.finding_type, self.subject, self.first_event_id)

    def build(self) -> DetectionFinding:
        uid = self.uid
        user_uid = self.principal.uid if self.principal else self.principal_uid
        actor = None
        if user_uid:
            principal = self.principal
            actor = Actor(
                user=User(
                    uid=user_uid,
                    name=principal.name if principal else None,
                    type=principal.kind.value if principal else None,
                    credential_uid=principal.credential.id if principal and principal.credential else None,
                ),
                session={"issuer": principal.issuer, "name": principal.session_name, "human": principal.human}
                if principal and principal.issuer
                else None,
            )
        evidence = Evidence(
            actor=actor,
            api=Api(operation=self.action) if self.action else None,
            src_endpoint={"ip": self.source_ip} if self.source_ip else None,
            data=self.evidence or None,
        )
        status = _STATUS_FOR[self.activity]
        return DetectionFinding(
            activity_id=self.activity,
            activity_name=self.activity.name.capitalize(),
            type_uid=200400 + int(self.activity),
            type_name=f"Detection Finding: {self.activity.name.capitalize()}",
            severity_id=self.severity,
            severity=self.severity.name.capitalize(),
            status_id=status,
            status=status.name.replace("_", " ").title(),
            time=epoch_ms(self.time),
            message=self.message,
            is_alert=self.is_alert and self.activity is not Activity.CLOSE,
            confidence_id=self.confidence,
            confidence=self.confidence.name.capitalize(),
            metadata=Metadata(
                product=Product(version=PRODUCT_VERSION),
                uid=stable_uid(uid, str(int(self.activity)), str(self.revision)),
                labels=(self.detector,),
            ),
            finding_info=FindingInfo(
                uid=uid,
                title=title_case(self.finding_type),
                desc=self.description,
                types=(self.finding_type,),
                analytic=Analytic(name=self.detector, uid=f"opswarden.{self.detector}.{self.finding_type}"),
                created_time=epoch_ms(self.first_seen),
                first_seen_time=epoch_ms(self.first_seen),
                last_seen_time=epoch_ms(self.time),
                related_events=tuple(RelatedEvent(uid=e) for e in self.related_event_ids),
                related_events_count=len(self.related_event_ids) or None,
            ),
            evidences=(evidence,),
            resources=tuple(Resource(uid=r) for r in self.resources),
            anomaly_analyses=self.anomaly_analyses,
            cloud=Cloud(
                provider=_CLOUD_PROVIDER.get(self.source or "", "Other"),
                account={"uid": self.account} if self.account else None,
                region=self.region,
            )
            if self.source in _CLOUD_PROVIDER
            else None,
            unmapped={
                "environment": self.environment,
                "detector": self.detector,
                "revision": self.revision,
                **self.unmapped,
            },
        )


def spec_from_change(
    detector: str, finding_type: str, event: ChangeEvent, severity: Severity, message: str, **extra: Any
) -> FindingSpec:
    """A finding about one change event, subject = the acting principal."""
    return FindingSpec(
        detector=detector,
        finding_type=finding_type,
        subject=event.principal.uid,
        first_event_id=event.event_id,
        time=event.event_time,
        first_seen=event.event_time,
        severity=severity,
        message=message,
        principal=event.principal,
        action=event.action,
        resources=event.resources,
        related_event_ids=(event.event_id,),
        environment=event.environment,
        source=event.source.value,
        account=event.scope.account,
        region=event.scope.region,
        source_ip=event.source_ip,
        **extra,
    )


def spec_from_action(
    detector: str, finding_type: str, event: ActionEvent, severity: Severity, message: str, **extra: Any
) -> FindingSpec:
    """A finding about one AIOps action, subject = the workflow."""
    return FindingSpec(
        detector=detector,
        finding_type=finding_type,
        subject=event.workflow,
        first_event_id=event.id,
        time=event.time,
        first_seen=event.time,
        severity=severity,
        message=message,
        principal_uid=event.principal,
        action=event.action,
        resources=(event.target,),
        related_event_ids=(event.id,),
        environment=event.environment,
        source="aiops",
        **extra,
    )

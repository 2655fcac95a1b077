"""OCSF Detection Finding (class 2004): the contract the SIEM keys on.

Written here rather than taken from py-ocsf-models, which drops fields it does not know. Only the
fields opswarden fills are modelled; `model_dump_ocsf` omits empty ones.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

OCSF_VERSION = "1.3.0"
PRODUCT_NAME = "opswarden"
VENDOR_NAME = "opswarden"
CLASS_UID = 2004
CATEGORY_UID = 2


class Activity(IntEnum):
    CREATE = 1
    UPDATE = 2
    CLOSE = 3


class Severity(IntEnum):
    UNKNOWN = 0
    INFORMATIONAL = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5


class Status(IntEnum):
    NEW = 1
    IN_PROGRESS = 2
    SUPPRESSED = 3
    RESOLVED = 4


class Confidence(IntEnum):
    UNKNOWN = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3


class OcsfObject(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Product(OcsfObject):
    name: str = PRODUCT_NAME
    vendor_name: str = VENDOR_NAME
    version: str


class Metadata(OcsfObject):
    product: Product
    version: str = OCSF_VERSION
    uid: str
    labels: tuple[str, ...] = ()


class RelatedEvent(OcsfObject):
    uid: str
    product_uid: str | None = None
    time: int | None = None
    type: str | None = None


class Analytic(OcsfObject):
    name: str
    type_id: int = 1  # Rule
    type: str = "Rule"
    uid: str


class FindingInfo(OcsfObject):
    uid: str
    title: str
    desc: str | None = None
    types: tuple[str, ...]
    analytic: Analytic
    created_time: int
    first_seen_time: int
    last_seen_time: int
    related_events: tuple[RelatedEvent, ...] = ()
    related_events_count: int | None = None


class User(OcsfObject):
    uid: str
    name: str | None = None
    type: str | None = None
    credential_uid: str | None = None


class Actor(OcsfObject):
    user: User
    session: dict[str, Any] | None = None
    invoked_by: str | None = None


class Api(OcsfObject):
    operation: str
    service: dict[str, str] | None = None


class Evidence(OcsfObject):
    actor: Actor | None = None
    api: Api | None = None
    src_endpoint: dict[str, str] | None = None
    data: dict[str, Any] | None = None


class Resource(OcsfObject):
    uid: str
    type: str | None = None
    name: str | None = None
    region: str | None = None
    owner: dict[str, str] | None = None


class Observation(OcsfObject):
    name: str
    value: str


class AnalysisTarget(OcsfObject):
    name: str
    type: str


class Anomaly(OcsfObject):
    observation_parameter: str
    observation_type: str | None = None
    observations: tuple[Observation, ...]
    observed_pattern: str | None = None


class Baseline(OcsfObject):
    observation_parameter: str
    observation_type: str | None = None
    observations: tuple[Observation, ...]


class AnomalyAnalysis(OcsfObject):
    analysis_targets: tuple[AnalysisTarget, ...]
    anomalies: tuple[Anomaly, ...]
    baselines: tuple[Baseline, ...] = ()


class Cloud(OcsfObject):
    provider: str
    account: dict[str, str] | None = None
    region: str | None = None


class DetectionFinding(OcsfObject):
    """One OCSF Detection Finding event; each activity (Create, Update, Close) is its own message."""

    activity_id: Activity
    activity_name: str
    category_uid: int = CATEGORY_UID
    category_name: str = "Findings"
    class_uid: int = CLASS_UID
    class_name: str = "Detection Finding"
    type_uid: int
    type_name: str
    severity_id: Severity
    severity: str
    status_id: Status
    status: str
    status_detail: str | None = None
    time: int
    message: str
    is_alert: bool
    confidence_id: Confidence = Confidence.HIGH
    confidence: str | None = None
    confidence_score: int | None = Field(default=None, ge=0, le=100)
    risk_score: int | None = None
    metadata: Metadata
    finding_info: FindingInfo
    evidences: tuple[Evidence, ...] = ()
    resources: tuple[Resource, ...] = ()
    anomaly_analyses: tuple[AnomalyAnalysis, ...] = ()
    cloud: Cloud | None = None
    unmapped: dict[str, Any] = Field(default_factory=dict)

    @property
    def uid(self) -> str:
        return self.finding_info.uid

    @property
    def finding_type(self) -> str:
        return self.finding_info.types[0]

    def model_dump_ocsf(self) -> dict[str, Any]:
        """The wire form: enums as numbers, empty and None fields omitted."""
        pruned: dict[str, Any] = _prune(self.model_dump(mode="json"))
        return pruned


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {key: _prune(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if item not in (None, [], {}, ())}
    if isinstance(value, list):
        return [_prune(item) for item in value]
    return value


def stable_uid(*parts: str) -> str:
    """A deterministic id from what a detector saw: the same input gives the same id after any restart."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:32]


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def title_case(name: str) -> str:
    return name.replace("_", " ").capitalize()

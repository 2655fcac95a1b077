"""The canonical change event every source is parsed into, and the AIOps action event."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from models.timeutil import utc_time


class Source(StrEnum):
    CLOUDTRAIL = "cloudtrail"
    K8S = "k8s"
    GCP = "gcp"
    AZURE = "azure"
    AIOPS = "aiops"


class PrincipalKind(StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    SERVICE = "service"
    UNKNOWN = "unknown"


class CredentialKind(StrEnum):
    STATIC = "static"
    SHORT_LIVED = "short_lived"
    UNKNOWN = "unknown"


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


#: Members that every event is compared with, as module globals: Python 3.11 finds a member on its class through
#: `EnumType.__getattr__`'s hook, at four times the cost of a global, and that several times an event.
SUCCESS, DENIED = Outcome.SUCCESS, Outcome.DENIED


class Frozen(BaseModel):
    """Base for immutable, strict-keyed value objects."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Credential(Frozen):
    """The credential a call was signed with; secrets are never stored, only ids."""

    id: str | None = None
    kind: CredentialKind = CredentialKind.UNKNOWN
    issued_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None

    _utc = field_validator("issued_at", "expires_at", mode="wrap")(utc_time)

    @property
    def lifetime_seconds(self) -> float | None:
        if self.issued_at is None or self.expires_at is None:
            return None
        return (self.expires_at - self.issued_at).total_seconds()


class Principal(Frozen):
    """Who acted. `issuer` is the role or identity a session was issued from; `human` the person behind it."""

    uid: str
    kind: PrincipalKind = PrincipalKind.UNKNOWN
    name: str | None = None
    issuer: str | None = None
    session_name: str | None = None
    human: str | None = None
    credential: Credential | None = None

    def identities(self) -> tuple[str, ...]:
        """Every uid an authorization or registry entry may name this principal by (each judged change asks)."""
        return identities_of(self.uid, self.issuer)


def identities_of(uid: str, issuer: str | None) -> tuple[str, ...]:
    """A principal's uid and the identity its session was issued from, when that is another."""
    named = (uid,) if uid else ()
    return (*named, issuer) if issuer and issuer != uid else named


class Scope(Frozen):
    """Where a change happened: account / project / subscription, and cluster / namespace when known."""

    account: str | None = None
    region: str | None = None
    cluster: str | None = None
    namespace: str | None = None


class Grant(Frozen):
    """A privilege given to a principal by a change (IAM policy, RBAC binding, IAM binding, role assignment)."""

    grantee: str
    privilege: str
    grantee_kind: PrincipalKind = PrincipalKind.UNKNOWN


class RawRef(Frozen):
    """Where the raw record came from: a file path or topic, and its position there."""

    origin: str
    index: int | None = None


class ChangeEvent(Frozen):
    """One audited call from any source, canonicalised. Changes have `is_change`; reads are kept for context."""

    kind: str = "change"
    event_id: str
    source: Source
    event_time: AwareDatetime
    received_time: AwareDatetime | None = None
    principal: Principal
    action: str
    resources: tuple[str, ...] = ()
    scope: Scope = Field(default_factory=Scope)
    environment: str = "production"
    outcome: Outcome = Outcome.SUCCESS
    error_code: str | None = None
    is_change: bool = False
    source_ip: str | None = None
    user_agent: str | None = None
    grants: tuple[Grant, ...] = ()
    raw_ref: RawRef | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    _utc = field_validator("event_time", "received_time", mode="wrap")(utc_time)


def compact_json(model: BaseModel) -> bytes:
    """A model's JSON as items travel between the stream stages and are kept in state, `None`s left out: one
    encoding, so that bytes received and bytes made here are the same. The serializer is called directly:
    `model_dump_json` is a Python wrapper that passes a dozen arguments and returns text (11,800 instructions an
    item more)."""
    return model.__pydantic_serializer__.to_json(model, exclude_none=True)


def change_from_json(data: bytes) -> ChangeEvent:
    """A change from `compact_json`'s bytes: pydantic parses and validates in one pass, its validator called
    directly."""
    return ChangeEvent.__pydantic_validator__.validate_json(data)  # type: ignore[no-any-return]


class ActionPhase(StrEnum):
    RECOMMENDED = "recommended"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (ActionPhase.SUCCEEDED, ActionPhase.FAILED)


class Trigger(Frozen):
    """The alert that caused an AIOps action; the fingerprint ties repeated firings together."""

    alert: str | None = None
    fingerprint: str | None = None
    severity: str | None = None


class ActionEvent(Frozen):
    """What an AIOps workflow says it did (or recommends), in opswarden's native `aiops.action` schema."""

    kind: str = "aiops.action"
    id: str
    time: AwareDatetime
    workflow: str
    run_id: str
    phase: ActionPhase
    action: str
    target: str
    environment: str | None = None
    principal: str | None = None
    trigger: Trigger | None = None
    authorization_id: str | None = None
    credential: Credential | None = None
    raw_ref: RawRef | None = None

    _utc = field_validator("time", mode="wrap")(utc_time)


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class AlertEvent(Frozen):
    """An alert that fires remediation (Alertmanager, PagerDuty); repeated fingerprints expose ineffective fixes."""

    kind: str = "alert"
    id: str
    time: AwareDatetime
    status: AlertStatus
    alert: str
    fingerprint: str
    target: str | None = None
    severity: str | None = None
    environment: str | None = None
    raw_ref: RawRef | None = None

    _utc = field_validator("time", mode="wrap")(utc_time)

"""opswarden's native AIOps action events (`kind: "aiops.action"`) → ActionEvent.

One JSON object per action phase a workflow goes through::

    {"kind": "aiops.action", "id": "evt-1", "time": "2026-03-01T10:00:00Z",
     "workflow": "pod-restarter", "run_id": "run-42", "phase": "started",
     "action": "k8s:delete:pods", "target": "k8s:prod-eu/payments/pods/api-7f9c",
     "environment": "production", "principal": "system:serviceaccount:aiops:restarter",
     "trigger": {"alert": "KubePodCrashLooping", "fingerprint": "a1bc48475b20e73d", "severity": "critical"},
     "authorization_id": "CHG0031889",
     "credential": {"id": "ASIA...", "kind": "short_lived",
                    "issued_at": "2026-03-01T09:59:00Z", "expires_at": "2026-03-01T10:14:00Z"}}

`id`, `time`, `workflow`, `run_id`, `phase`, `action` and `target` are required; `environment`,
`principal`, `trigger`, `authorization_id` and `credential` may be absent or null. Further keys are
ignored. `phase` is one of recommended / started / succeeded / failed.

This module also holds the small value helpers the other opswarden-owned parsers share (times that
YAML may already have turned into datetimes, string lists, stable hashes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, TypeVar

import orjson

from models.events import ActionEvent, ActionPhase, Credential, CredentialKind, Trigger
from models.parsers.base import ParseContext, Parsed, Record, build, require
from models.redact import REDACTED, redact
from models.rejection import ParseError, RejectReason
from models.timeutil import parse_time

E = TypeVar("E", bound=StrEnum)

NAME = "aiops"
KIND = "aiops.action"


# ---------------------------------------------------------------------------------------------------
# Shared value helpers (used by the authorization, ServiceNow and webhook parsers too)
# ---------------------------------------------------------------------------------------------------


def as_time(value: Any, where: str) -> datetime:
    """A UTC datetime from ISO 8601 / `YYYY-MM-DD HH:MM:SS` / epoch s or ms / a YAML datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value is None or value == "":
        raise ParseError(RejectReason.MISSING_FIELD, f"missing field {where}")
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ParseError(RejectReason.BAD_TIME, f"{where}: {exc}") from exc


def text(value: Any, where: str) -> str:
    """A non-empty string (ints are accepted as their decimal form); ParseError otherwise."""
    if value is None or value == "":
        raise ParseError(RejectReason.MISSING_FIELD, f"missing field {where}")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ParseError(RejectReason.INVALID_VALUE, f"{where} is a {type(value).__name__}, not a string")
    result = str(value).strip()
    if not result:
        raise ParseError(RejectReason.MISSING_FIELD, f"missing field {where}")
    return result


def optional_text(value: Any, where: str) -> str | None:
    """Like `text`, but absent, null and empty are None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return text(value, where)


def text_list(value: Any, where: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    """A list of non-empty strings (a single string is a one-item list), order kept, duplicates dropped."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        if value is None:
            raise ParseError(RejectReason.MISSING_FIELD, f"missing field {where}")
        raise ParseError(RejectReason.INVALID_VALUE, f"{where} is a {type(value).__name__}, not a list")
    items = tuple(dict.fromkeys(text(item, f"{where}.{i}") for i, item in enumerate(value)))
    if not items and not allow_empty:
        raise ParseError(RejectReason.INVALID_VALUE, f"{where} is empty")
    return items


def mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        if value is None:
            raise ParseError(RejectReason.MISSING_FIELD, f"missing field {where}")
        raise ParseError(RejectReason.INVALID_VALUE, f"{where} is a {type(value).__name__}, not an object")
    return value


def enum_value(value: Any, enum: type[E], where: str) -> E:
    """A StrEnum member by (case-insensitive) value; INVALID_VALUE naming the allowed values otherwise."""
    name = text(value, where)
    try:
        return enum(name.lower())
    except ValueError as exc:
        allowed = "/".join(member.value for member in enum)
        raise ParseError(RejectReason.INVALID_VALUE, f"{where} {name[:40]!r} is not one of {allowed}") from exc


def stable_hash(value: Any, length: int = 16) -> str:
    """A short hex digest of a JSON-able value, independent of key order."""
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    except (TypeError, orjson.JSONEncodeError):
        data = repr(value).encode()
    return hashlib.sha256(data).hexdigest()[:length]


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


#: Parameter / option names whose values are canonical uids already, then names that hold host names.
TARGET_KEYS = ("target", "targets", "resource", "resources", "resource_uid")
HOST_KEYS = ("host", "hosts", "hostname", "node", "nodes", "instance")
MAX_TARGETS = 50


@dataclass(frozen=True)
class ParamFacts:
    """What an automation's own parameters say about its target, environment and trigger."""

    targets: tuple[str, ...] = ()
    environment: str | None = None
    trigger: Trigger | None = None
    authorization_id: str | None = None
    action: str | None = None


def _param_strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value).split(",") if isinstance(value, str | int) else []
    out = []
    for item in items:
        if isinstance(item, str | int) and not isinstance(item, bool):
            piece = str(item).strip()
            if piece and piece != REDACTED and "{{" not in piece:
                out.append(piece)
    return out


def _param_text(params: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        values = _param_strings(params.get(key))
        if len(values) == 1:
            return values[0]
    return None


def param_facts(params: Any, where: str) -> ParamFacts:
    """Targets, environment, trigger, authorization id and action from job options / action parameters.

    Secrets are redacted first, so nothing secret-named or secret-looking can become a target.
    `target`/`resource` values are taken as canonical uids; `host`/`node` values become `host:<name>`;
    an `action` parameter counts only when canonical (`service:Operation`).
    """
    if not isinstance(params, dict):
        return ParamFacts()
    clean = redact(params)
    lowered = {str(key).lower(): value for key, value in clean.items()}
    targets: list[str] = []
    for key in TARGET_KEYS:
        targets.extend(_param_strings(lowered.get(key)))
    if not targets:
        for key in HOST_KEYS:
            targets.extend(f"host:{name}" for name in _param_strings(lowered.get(key)))
    targets = list(dict.fromkeys(targets))
    if len(targets) > MAX_TARGETS:
        raise ParseError(RejectReason.TOO_LARGE, f"{where} names more than {MAX_TARGETS} targets")
    alert = _param_text(lowered, "alert", "alertname", "alert_name")
    fingerprint = _param_text(lowered, "fingerprint", "alert_fingerprint")
    severity = _param_text(lowered, "severity")
    trigger = None
    if alert or fingerprint:
        trigger = build(Trigger, {"alert": alert, "fingerprint": fingerprint, "severity": severity})
    action = _param_text(lowered, "action")
    return ParamFacts(
        targets=tuple(targets),
        environment=_param_text(lowered, "environment", "env"),
        trigger=trigger,
        authorization_id=_param_text(lowered, "authorization_id", "change_id", "change_request"),
        action=action if action and ":" in action else None,
    )


# ---------------------------------------------------------------------------------------------------
# The native action parser
# ---------------------------------------------------------------------------------------------------


def matches(record: Record) -> bool:
    return record.get("kind") == KIND


def _trigger(value: Any) -> Trigger | None:
    if value is None:
        return None
    trigger = mapping(value, "trigger")
    return build(
        Trigger,
        {
            "alert": optional_text(trigger.get("alert"), "trigger.alert"),
            "fingerprint": optional_text(trigger.get("fingerprint"), "trigger.fingerprint"),
            "severity": optional_text(trigger.get("severity"), "trigger.severity"),
        },
    )


def _credential(value: Any) -> Credential | None:
    if value is None:
        return None
    cred = mapping(value, "credential")
    kind = CredentialKind.UNKNOWN
    if cred.get("kind") is not None:
        kind = enum_value(cred.get("kind"), CredentialKind, "credential.kind")
    issued = as_time(cred["issued_at"], "credential.issued_at") if cred.get("issued_at") else None
    expires = as_time(cred["expires_at"], "credential.expires_at") if cred.get("expires_at") else None
    if issued is not None and expires is not None and expires < issued:
        raise ParseError(RejectReason.INVALID_VALUE, "credential.expires_at is before credential.issued_at")
    return build(
        Credential,
        {
            "id": optional_text(cred.get("id"), "credential.id"),
            "kind": kind,
            "issued_at": issued,
            "expires_at": expires,
        },
    )


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    event = build(
        ActionEvent,
        {
            "id": text(require(record, "id"), "id"),
            "time": as_time(require(record, "time"), "time"),
            "workflow": text(require(record, "workflow"), "workflow"),
            "run_id": text(require(record, "run_id"), "run_id"),
            "phase": enum_value(require(record, "phase"), ActionPhase, "phase"),
            "action": text(require(record, "action"), "action"),
            "target": text(require(record, "target"), "target"),
            "environment": optional_text(record.get("environment"), "environment"),
            "principal": optional_text(record.get("principal"), "principal"),
            "trigger": _trigger(record.get("trigger")),
            "authorization_id": optional_text(record.get("authorization_id"), "authorization_id"),
            "credential": _credential(record.get("credential")),
            "raw_ref": ctx.raw_ref(),
        },
    )
    return [event]

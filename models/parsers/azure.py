"""Azure Activity Log, in both shapes it is delivered in.

- REST / portal (and Logic Apps, `az monitor activity-log list`): `operationName: {value, localizedValue}`,
  `eventTimestamp`, `caller`, `claims`, `status.value`, `subStatus`, `subscriptionId`, `eventDataId`.
- Event Hub / storage export (`{"records": [...]}`, unwrapped by the dispatcher): `time`, `operationName`
  as a string, `resultType`, `resultSignature`, `callerIpAddress`, `identity.claims`,
  `identity.authorization`, `properties`.

Canonical forms and decisions:

- `action` is the operation name lower-cased (`microsoft.authorization/roleassignments/write`): Azure
  treats operation names case-insensitively and emits them in any case. `resources` hold the `resourceId`
  lower-cased for the same reason; `scope.account` is the subscription id (lower-cased), from
  `subscriptionId` or the resourceId.
- `event_id` is `eventDataId`; without one (Event Hub records), a stable `azure-<sha256>` of correlationId,
  operation, status, time and resourceId, so a redelivered record keeps its id.
- Status: `Succeeded`/`Success` is success; `Failed`/`Failure`/`Canceled` is denied when the sub-status,
  result signature or status code says 401/403/Forbidden/AuthorizationFailed, else failed. One operation
  logs two entries: `Started`/`Accepted` (or `Start`/`Accept`/`Active`) first, then the terminal status.
  Only the terminal entry can be a change; the first is kept as context with `is_change` False and
  `details.status` telling which it was. An entry without any status is taken as terminal (fail closed).
- Other Azure resource logs that share the envelope (`StorageRead`/`StorageWrite` blob logs, operation
  names without a provider path such as `DeleteBlob`) are recognised and rejected as `wrong_shape`, so
  they are named as unsupported instead of unknown. AKS `kube-audit` records belong to the k8s parser.
- `is_change` per `is_azure_change` (`/write`, `/delete`, `/action`) minus `NOT_CHANGES` (reading a
  secret, issuing a disk SAS URI, opening a serial console), on a successful terminal entry of
  the Administrative category (or the storage shape's `Write`/`Delete`/`Action`, or no category). Policy,
  Security, ServiceHealth, ResourceHealth, Alert, Recommendation and Autoscale entries report evaluations
  and incidents; the resource writes they cause are logged as Administrative entries of their own.
- Principal: `caller`, else the UPN claim, else the app id, else the object id, else the caller's
  `authorization.evidence.principalId`; an email/UPN is a human, a GUID, app id (`idtyp` `app`, or an
  `appid` claim without UPN) or managed identity (`xms_mirid`, which becomes the `issuer`) is a machine.
  `details` record `app_id`, `id_type` and the caller's role from the evidence. Without any identity the
  uid is `unknown` (kind unknown): the change is still reported.
- Grants: a successful `microsoft.authorization/roleassignments/write` whose `properties.requestbody` (a
  JSON string or object, else `responseBody`) names `principalId` and `roleDefinitionId` gives
  Grant(grantee=principalId, privilege=<role>): the well-known Owner, Contributor and User Access
  Administrator definitions by name, any other by its definition GUID. `identity.authorization.evidence`
  describes the caller's own role assignment, never the grantee.
- Claims carry token material (`aio`, `uti`, nonces): only a few named claims are kept, and `details`
  go through `models.redact.redact`.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import orjson

from models.classify import NOT_CHANGES, counts_as_change, is_azure_change
from models.events import ChangeEvent, Grant, Outcome, Principal, PrincipalKind, Scope, Source
from models.parsers.base import ParseContext, Parsed, Record, build, optional, optional_str
from models.redact import redact
from models.rejection import ParseError, RejectReason
from models.timeutil import parse_time

NAME = "azure"

UNKNOWN_PRINCIPAL = "unknown"
ROLE_ASSIGNMENT_WRITE = "microsoft.authorization/roleassignments/write"

#: Built-in role definition ids named in grants (a custom or other built-in role keeps its GUID).
WELL_KNOWN_ROLES: dict[str, str] = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}

_SUCCESS = frozenset({"succeeded", "success"})
_FAILURE = frozenset({"failed", "failure", "canceled", "cancelled"})
_IN_PROGRESS = frozenset({"started", "start", "accepted", "accept", "active", "inprogress", "in progress"})
_CHANGE_CATEGORIES = frozenset({"administrative", "write", "delete", "action"})
_DENIED_HINTS = ("forbidden", "authorizationfailed", "unauthorized")
_DENIED_CODES = ("401", "403")
_AKS_CATEGORIES = frozenset({"kube-audit", "kube-audit-admin"})

_UPN_CLAIMS = ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn", "unique_name")
_NAME_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
_OID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
_TENANT_CLAIMS = ("http://schemas.microsoft.com/identity/claims/tenantid", "tid")
_GUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.IGNORECASE)
_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_HINT_LIMIT = 2000


def _value(value: Any) -> str | None:
    """A plain string, or the `value` of a REST `{value, localizedValue}` pair."""
    if isinstance(value, dict):
        value = value.get("value")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _ci_get(mapping: Any, key: str) -> Any:
    """A key looked up case-insensitively (request bodies say `PrincipalId` or `principalId`)."""
    if not isinstance(mapping, dict):
        return None
    if key in mapping:
        return mapping[key]
    lowered = key.lower()
    return next((v for k, v in mapping.items() if isinstance(k, str) and k.lower() == lowered), None)


def _ci_str(mapping: Any, key: str) -> str | None:
    value = _ci_get(mapping, key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def matches(record: Record) -> bool:
    category = _value(record.get("category"))
    if category is not None and category.lower() in _AKS_CATEGORIES:
        return False
    if record.get("operationName") in (None, ""):
        return False
    keys = ("resourceId", "eventTimestamp", "time", "eventDataId", "correlationId", "subscriptionId", "category")
    return any(key in record for key in keys)


# --- fields -------------------------------------------------------------------------------------------


def _required_text(record: Record, key: str) -> str:
    value = _value(record.get(key))
    if value is None:
        reason = RejectReason.INVALID_VALUE if record.get(key) not in (None, "") else RejectReason.MISSING_FIELD
        raise ParseError(reason, f"{'field' if reason is RejectReason.INVALID_VALUE else 'missing field'} {key}")
    return value


def _event_time(record: Record) -> datetime:
    for key in ("eventTimestamp", "time"):
        value = record.get(key)
        if value not in (None, ""):
            try:
                return parse_time(value)
            except ValueError as exc:
                raise ParseError(RejectReason.BAD_TIME, f"{key}: {exc}") from exc
    raise ParseError(RejectReason.MISSING_FIELD, "missing field eventTimestamp/time")


def _claims(record: Record) -> dict[str, Any]:
    claims = record.get("claims")
    if not isinstance(claims, dict):
        claims = optional(record, "identity", "claims")
    return claims if isinstance(claims, dict) else {}


def _claim(claims: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _evidence(record: Record) -> dict[str, Any]:
    evidence = optional(record, "authorization", "evidence")
    if not isinstance(evidence, dict):
        evidence = optional(record, "identity", "authorization", "evidence")
    return evidence if isinstance(evidence, dict) else {}


def _subscription(record: Record, resource_id: str | None) -> str | None:
    subscription = optional_str(record, "subscriptionId")
    if subscription is None and resource_id:
        match = _SUBSCRIPTION.match(resource_id)
        subscription = match.group(1) if match else None
    return subscription.lower() if subscription else None


# --- status -------------------------------------------------------------------------------------------


def _status(record: Record) -> tuple[Outcome, str | None, bool, str | None]:
    """(outcome, error code, terminal, status as written)."""
    status = _value(record.get("status")) or _value(record.get("resultType"))
    key = status.lower() if status else None
    if key in _IN_PROGRESS:
        return Outcome.SUCCESS, None, False, status
    if key not in _FAILURE:
        return Outcome.SUCCESS, None, True, status
    properties = record.get("properties")
    hints = [
        _value(record.get("subStatus")),
        _value(record.get("resultSignature")),
        _ci_str(properties, "statusCode"),
        _ci_str(properties, "statusMessage"),
    ]
    texts = [h[:_HINT_LIMIT].lower() for h in hints if h]
    denied = any(any(mark in t for mark in _DENIED_HINTS) or t.startswith(_DENIED_CODES) for t in texts)
    code = next((h for h in hints[:3] if h), status)
    return (Outcome.DENIED if denied else Outcome.FAILED), code[:100] if code else None, True, status


# --- identity -----------------------------------------------------------------------------------------


def _is_email(value: str) -> bool:
    return "@" in value and not value.startswith("@")


def _principal(record: Record, claims: dict[str, Any], evidence: dict[str, Any]) -> Principal:
    caller = optional_str(record, "caller")
    upn = _claim(claims, *_UPN_CLAIMS)
    if upn is None:
        name_claim = _claim(claims, _NAME_CLAIM)
        upn = name_claim if name_claim and _is_email(name_claim) else None
    app_id = _claim(claims, "appid", "azp")
    object_id = _claim(claims, *_OID_CLAIMS)
    id_type = (_claim(claims, "idtyp") or "").lower()
    managed_identity = _claim(claims, "xms_mirid")
    evidence_id = optional_str(evidence, "principalId")
    evidence_type = (optional_str(evidence, "principalType") or "").lower()

    uid = caller or upn or (app_id if id_type != "user" else None) or object_id or evidence_id
    if uid is None:
        return build(Principal, {"uid": UNKNOWN_PRINCIPAL, "kind": PrincipalKind.UNKNOWN})
    if _is_email(uid):
        kind = PrincipalKind.HUMAN
    elif uid == evidence_id and evidence_type:
        kind = PrincipalKind.HUMAN if evidence_type == "user" else PrincipalKind.MACHINE
    elif id_type == "user" or (upn and uid == object_id):
        kind = PrincipalKind.HUMAN
    elif id_type == "app" or managed_identity or (app_id and not upn) or _GUID.match(uid):
        kind = PrincipalKind.MACHINE
    else:
        kind = PrincipalKind.UNKNOWN
    display = _claim(claims, "name")
    human = None
    if kind is PrincipalKind.HUMAN:
        human = upn or (uid if _is_email(uid) else None)
    return build(
        Principal,
        {
            "uid": uid,
            "kind": kind,
            "name": display,
            "issuer": managed_identity.lower() if managed_identity else None,
            "human": human,
        },
    )


# --- grants -------------------------------------------------------------------------------------------


def _json_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            parsed = orjson.loads(value)
        except (ValueError, TypeError):  # orjson.JSONDecodeError is a ValueError
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def role_name(role_definition_id: str) -> str:
    """The role's well-known name, else its definition GUID (the last segment of the id)."""
    guid = role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()
    return WELL_KNOWN_ROLES.get(guid, guid)


def role_assignment_grants(properties: Any) -> tuple[Grant, ...]:
    """The grant a role assignment write made, from its request body (else response body, else properties)."""
    for candidate in (_ci_get(properties, "requestbody"), _ci_get(properties, "responseBody"), properties):
        body = _json_object(candidate)
        if body is None:
            continue
        inner = _json_object(_ci_get(body, "properties")) or body
        principal_id = _ci_str(inner, "principalId")
        role_id = _ci_str(inner, "roleDefinitionId")
        if not (principal_id and role_id):
            continue
        privilege = _ci_str(inner, "roleDefinitionName") or _ci_str(inner, "roleName") or role_name(role_id)
        principal_type = (_ci_str(inner, "principalType") or "").lower()
        kind = {"user": PrincipalKind.HUMAN, "serviceprincipal": PrincipalKind.MACHINE}.get(
            principal_type, PrincipalKind.UNKNOWN
        )
        return (build(Grant, {"grantee": principal_id, "privilege": privilege, "grantee_kind": kind}),)
    return ()


# --- the parser ---------------------------------------------------------------------------------------


def _stable_id(record: Record, operation: str, status: str | None, event_time: datetime, resource: str | None) -> str:
    basis = "|".join(
        [optional_str(record, "correlationId") or "", operation, (status or "").lower(), event_time.isoformat(),
         resource or ""]
    )  # fmt: skip
    return "azure-" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    operation = _required_text(record, "operationName").lower()
    if "/" not in operation:
        category = _value(record.get("category"))
        raise ParseError(
            RejectReason.WRONG_SHAPE,
            f"operation {operation[:60]!r} is not a resource-provider operation: an Azure resource log"
            f" (category {(category or '-')[:40]}), not an Activity Log record",
        )
    event_time = _event_time(record)
    outcome, error_code, terminal, status = _status(record)
    resource_id = optional_str(record, "resourceId")
    resource = resource_id.lower() if resource_id else None
    event_id = (
        optional_str(record, "eventDataId")
        or optional_str(record, "properties", "eventDataId")
        or _stable_id(record, operation, status, event_time, resource)
    )
    claims = _claims(record)
    evidence = _evidence(record)
    category = _value(record.get("category"))
    category_key = category.lower() if category else None
    mutating = (
        is_azure_change(operation)
        and operation not in NOT_CHANGES
        and terminal
        and (category_key is None or category_key in _CHANGE_CATEGORIES)
    )
    scope = build(Scope, {"account": _subscription(record, resource_id), "region": optional_str(record, "location")})
    properties = record.get("properties")
    grants: tuple[Grant, ...] = ()
    if operation == ROLE_ASSIGNMENT_WRITE and outcome is Outcome.SUCCESS and terminal:
        grants = role_assignment_grants(properties)
    details = {
        "shape": "rest" if isinstance(record.get("operationName"), dict) else "eventhub",
        "category": category,
        "level": optional_str(record, "level"),
        "status": status,
        "sub_status": _value(record.get("subStatus")),
        "result_signature": _value(record.get("resultSignature")),
        "status_code": _ci_str(properties, "statusCode"),
        "correlation_id": optional_str(record, "correlationId"),
        "operation_id": optional_str(record, "operationId"),
        "app_id": _claim(claims, "appid", "azp"),
        "id_type": _claim(claims, "idtyp"),
        "object_id": _claim(claims, *_OID_CLAIMS),
        "tenant_id": _claim(claims, *_TENANT_CLAIMS) or optional_str(record, "tenantId"),
        "caller_role": optional_str(evidence, "role"),
    }
    event = build(
        ChangeEvent,
        {
            "event_id": event_id,
            "source": Source.AZURE,
            "event_time": event_time,
            "received_time": ctx.received_time,
            "principal": _principal(record, claims, evidence),
            "action": operation,
            "resources": (resource,) if resource else (),
            "scope": scope,
            "environment": ctx.environments.resolve(Source.AZURE, scope),
            "outcome": outcome,
            "error_code": error_code,
            "is_change": counts_as_change(mutating, outcome),
            "source_ip": optional_str(record, "callerIpAddress")
            or _claim(claims, "ipaddr")
            or optional_str(record, "httpRequest", "clientIpAddress"),
            "grants": grants,
            "raw_ref": ctx.raw_ref(),
            "details": dict(redact({k: v for k, v in details.items() if v is not None})),
        },
    )
    return [event]

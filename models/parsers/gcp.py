"""GCP Cloud Audit Logs: a LogEntry whose `protoPayload` is an AuditLog, from Pub/Sub, a sink or an export.

Canonical forms and decisions:

- `event_id` is `insertId` (required: a LogEntry without one is a partial record and is rejected);
  `event_time` is the entry's `timestamp` (required; `receiveTimestamp` is arrival, not event, time).
- Top-level LogEntry keys are looked up case-insensitively (some exporters lower-case them: `insertid`,
  `logname`); keys inside `protoPayload` are taken as written.
- `action` is `gcp:<methodName>` verbatim (`gcp:SetIamPolicy`, `gcp:v1.compute.instances.insert`).
- `resources` hold the full resource name `//<serviceName>/<resourceName>` (the AIP-122 form Cloud Asset
  Inventory uses), or the bare `resourceName` when `serviceName` is absent or it already starts with `//`.
- The principal is `authenticationInfo.principalEmail`: service agents (`service-<n>@…`, `@gcp-sa-*`,
  `@cloudservices`, `@system`, …) are `service`, other `*.gserviceaccount.com` accounts `machine`, other
  emails `human`; a caller without identity is uid `unknown` of kind `unknown` (the change is still kept).
  `serviceAccountDelegationInfo` (impersonation chain) makes its first entry the `issuer`, and `human`
  when that first principal is a person. A `serviceAccountKeyName` becomes a static credential id.
- Outcome: `status.code` 0 or absent is success, 7 (PERMISSION_DENIED) and 16 (UNAUTHENTICATED) are
  denied, any other code failed; an entry without a failing status but with an `authorizationInfo` entry
  `granted: false` is denied.
- Which log (from `logName`): `activity` and `data_access` entries are changes when the method mutates
  (`is_change_operation` on the method's last segment) and succeeded. Data writes logged in data_access
  (`storage.objects.create`/`delete`) count as changes: deleting production data is a production change.
  `system_event` (Google's own actions), `policy` (VPC-SC denials) and other logs are never changes.
  An entry without `logName` is judged like an activity entry (fail closed).
- Long-running operations log a first entry (`operation.first`) and a completion (`operation.last`) with
  distinct insertIds: the first (or an entry that is both) is the change; a last-only entry is kept as
  context with `is_change` False so one operation is not counted twice (`details.operation` joins them).
- Grants: every successful entry carrying `serviceData.policyDelta.bindingDeltas` (SetIamPolicy and
  friends) or BigQuery's `metadata.datasetChange.bindingDeltas` gives one Grant per `ADD` delta; the
  member loses its `user:`/`serviceAccount:` prefix (the email is the principal uid), other members
  (`group:…`, `allUsers`, `projectEditor:…`) are kept verbatim.
- GKE entries (`serviceName` `k8s.io`, methods `io.k8s.*`) belong to the k8s parser, not this one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from models.classify import counts_as_change, is_change_operation
from models.events import (
    ChangeEvent,
    Credential,
    CredentialKind,
    Grant,
    Outcome,
    Principal,
    PrincipalKind,
    Scope,
    Source,
)
from models.parsers.base import ParseContext, Parsed, Record, build, optional, optional_str, require_str
from models.redact import redact
from models.rejection import ParseError, RejectReason
from models.timeutil import parse_time

NAME = "gcp"

UNKNOWN_PRINCIPAL = "unknown"

#: gRPC status codes by number, for `error_code`.
GRPC_CODES: dict[int, str] = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}  # fmt: skip
_DENIED_CODES = frozenset({7, 16})

#: Logs whose mutating entries are changes; `None` is an entry without a logName.
_CHANGE_LOGS = frozenset({"activity", "data_access", None})

#: Google-managed identities (service agents) act for the platform, not for a customer workload.
_SERVICE_AGENT_DOMAINS = (
    "cloudservices.gserviceaccount.com",
    "system.gserviceaccount.com",
    "container-engine-robot.iam.gserviceaccount.com",
    "compute-system.iam.gserviceaccount.com",
    "gs-project-accounts.iam.gserviceaccount.com",
)
_MEMBER_PREFIXES = ("user:", "serviceAccount:")
_MESSAGE_LIMIT = 200


# --- LogEntry access ----------------------------------------------------------------------------------


def entry_field(record: Record, name: str) -> Any:
    """A top-level LogEntry field, matched case-insensitively when the exact key is absent."""
    if name in record:
        return record[name]
    lowered = name.lower()
    for key, value in record.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def entry_str(record: Record, name: str) -> str | None:
    value = entry_field(record, name)
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def proto_payload(record: Record) -> dict[str, Any] | None:
    value = entry_field(record, "protoPayload")
    return value if isinstance(value, dict) else None


def entry_time_required(record: Record) -> Any:
    """The entry's `timestamp` as an aware datetime, or a ParseError naming why not."""
    value = entry_field(record, "timestamp")
    if value is None or value == "":
        raise ParseError(RejectReason.MISSING_FIELD, "missing field timestamp")
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ParseError(RejectReason.BAD_TIME, f"timestamp: {exc}") from exc


def is_gke_entry(record: Record) -> bool:
    """A GKE Kubernetes audit entry: serviceName `k8s.io`, an `io.k8s.*` method or producer `k8s.io`."""
    proto = proto_payload(record)
    if proto is not None:
        method = proto.get("methodName")
        if proto.get("serviceName") == "k8s.io" or (isinstance(method, str) and method.startswith("io.k8s.")):
            return True
    operation = entry_field(record, "operation")
    return isinstance(operation, dict) and operation.get("producer") == "k8s.io"


def log_type(record: Record) -> str | None:
    """`activity`, `data_access`, `system_event`, `policy`… from `logName`; None when absent or foreign."""
    name = entry_str(record, "logName")
    if name is None:
        return None
    _, _, log_id = name.partition("/logs/")
    log_id = unquote(log_id)
    prefix = "cloudaudit.googleapis.com/"
    return log_id[len(prefix) :] if log_id.startswith(prefix) else None


def project_id(record: Record) -> str | None:
    """The project from `resource.labels.project_id`, else from `logName` `projects/<id>/logs/…`."""
    project = resource_label(record, "project_id")
    if project:
        return project
    name = entry_str(record, "logName")
    if name and name.startswith("projects/"):
        return name.split("/", 2)[1] or None
    return None


def resource_label(record: Record, *names: str) -> str | None:
    """The first present `resource.labels.<name>`."""
    resource = entry_field(record, "resource")
    return next((v for v in (optional_str(resource, "labels", n) for n in names) if v), None)


def operation_info(record: Record) -> dict[str, Any] | None:
    operation = entry_field(record, "operation")
    if not isinstance(operation, dict):
        return None
    info = {
        "id": optional_str(operation, "id"),
        "first": operation.get("first") is True,
        "last": operation.get("last") is True,
    }
    return info if info["id"] or info["first"] or info["last"] else None


def request_metadata(proto: dict[str, Any]) -> tuple[str | None, str | None]:
    """(caller IP, user agent); both spellings of `callerIp` occur in exports."""
    ip = optional_str(proto, "requestMetadata", "callerIp") or optional_str(proto, "requestMetadata", "callerIP")
    agent = optional_str(proto, "requestMetadata", "callerSuppliedUserAgent")
    return ip, agent


# --- identities ---------------------------------------------------------------------------------------


def email_kind(email: str | None) -> PrincipalKind:
    """Service agent → service, other service account → machine, other email → human."""
    if not email:
        return PrincipalKind.UNKNOWN
    lowered = email.lower()
    if lowered.startswith("principal://"):
        return PrincipalKind.HUMAN if "/workforcepools/" in lowered else PrincipalKind.MACHINE
    if lowered.endswith("gserviceaccount.com"):
        domain = lowered.rpartition("@")[2]
        if (
            lowered.startswith("service-")
            or domain.startswith("gcp-sa-")
            or any(lowered.endswith(d) for d in _SERVICE_AGENT_DOMAINS)
        ):
            return PrincipalKind.SERVICE
        return PrincipalKind.MACHINE
    return PrincipalKind.HUMAN if "@" in lowered else PrincipalKind.UNKNOWN


def _strip_member(member: str) -> str:
    """`user:a@b` and `serviceAccount:a@b` → `a@b`; other member forms are kept as they are."""
    for prefix in _MEMBER_PREFIXES:
        if member.startswith(prefix):
            return member[len(prefix) :]
    return member


def delegation_chain(auth: Any) -> list[str]:
    """Principals a service account call was delegated from, original caller first."""
    infos = auth.get("serviceAccountDelegationInfo") if isinstance(auth, dict) else None
    chain: list[str] = []
    for info in infos if isinstance(infos, list) else []:
        if not isinstance(info, dict):
            continue
        who = (
            optional_str(info, "firstPartyPrincipal", "principalEmail")
            or optional_str(info, "principalSubject")
            or optional_str(info, "thirdPartyPrincipal", "thirdPartyClaims", "email")
        )
        if who:
            chain.append(_strip_member(who))
    return chain


def gcp_principal(proto: dict[str, Any], kind_of: Callable[[str | None], PrincipalKind] = email_kind) -> Principal:
    """Who called, from `authenticationInfo`; `kind_of` classifies a uid (k8s passes its own)."""
    auth = proto.get("authenticationInfo")
    auth = auth if isinstance(auth, dict) else {}
    subject = optional_str(auth, "principalSubject")
    uid = optional_str(auth, "principalEmail") or (_strip_member(subject) if subject else None)
    kind: PrincipalKind = kind_of(uid) if uid else PrincipalKind.UNKNOWN
    chain = delegation_chain(auth)
    issuer = chain[0] if chain else None
    human: str | None = None
    if issuer and kind_of(issuer) is PrincipalKind.HUMAN:
        human = issuer
    elif uid and kind is PrincipalKind.HUMAN:
        human = uid
    key = optional_str(auth, "serviceAccountKeyName")
    credential: Credential | None = None
    if key:
        credential = build(Credential, {"id": key, "kind": CredentialKind.STATIC})
    elif chain:
        credential = build(Credential, {"kind": CredentialKind.SHORT_LIVED})
    return build(
        Principal,
        {"uid": uid or UNKNOWN_PRINCIPAL, "kind": kind, "issuer": issuer, "human": human, "credential": credential},
    )


# --- outcome, resources, grants -----------------------------------------------------------------------


def _status_code(proto: dict[str, Any]) -> int:
    code = optional(proto, "status", "code")
    if isinstance(code, bool):
        return 0
    if isinstance(code, int):
        return code
    if isinstance(code, str) and re.fullmatch(r"\s*-?[0-9]{1,9}\s*", code):
        return int(code)
    return 0


def gcp_outcome(proto: dict[str, Any]) -> tuple[Outcome, str | None]:
    """Outcome and error code from `status.code`, then from any `granted: false` authorization."""
    code = _status_code(proto)
    if code != 0:
        name = GRPC_CODES.get(code, str(code))
        return (Outcome.DENIED if code in _DENIED_CODES else Outcome.FAILED), name
    infos = proto.get("authorizationInfo")
    if isinstance(infos, list) and any(isinstance(i, dict) and i.get("granted") is False for i in infos):
        return Outcome.DENIED, GRPC_CODES[7]
    return Outcome.SUCCESS, None


def status_message(proto: dict[str, Any]) -> str | None:
    message = optional_str(proto, "status", "message")
    return message[:_MESSAGE_LIMIT] if message else None


def full_resource_name(service: str | None, resource_name: str) -> str:
    if resource_name.startswith("//") or not service:
        return resource_name
    return f"//{service}/{resource_name.lstrip('/')}"


def _member_kind(member: str) -> PrincipalKind:
    if member.startswith("user:"):
        return PrincipalKind.HUMAN
    if member.startswith("serviceAccount:"):
        kind = email_kind(member[len("serviceAccount:") :])
        return kind if kind is not PrincipalKind.HUMAN else PrincipalKind.MACHINE
    return PrincipalKind.UNKNOWN


def binding_grants(proto: dict[str, Any]) -> tuple[Grant, ...]:
    """One Grant per `ADD` binding delta (IAM policyDelta, BigQuery datasetChange)."""
    grants: dict[tuple[str, str], Grant] = {}
    for path in (("serviceData", "policyDelta", "bindingDeltas"), ("metadata", "datasetChange", "bindingDeltas")):
        deltas = optional(proto, *path)
        for delta in deltas if isinstance(deltas, list) else []:
            if not isinstance(delta, dict) or delta.get("action") != "ADD":
                continue
            member, role = delta.get("member"), delta.get("role")
            if not (isinstance(member, str) and member and isinstance(role, str) and role):
                continue
            grantee = _strip_member(member)
            grants.setdefault(
                (grantee, role),
                build(Grant, {"grantee": grantee, "privilege": role, "grantee_kind": _member_kind(member)}),
            )
    return tuple(grants.values())


# --- the parser ---------------------------------------------------------------------------------------


def matches(record: Record) -> bool:
    proto = proto_payload(record)
    if proto is None or is_gke_entry(record):
        return False
    if isinstance(proto.get("methodName"), str) or isinstance(proto.get("serviceName"), str):
        return True
    kind = next((proto[k] for k in ("@type", "at_sign_type", "at_type") if k in proto), None)
    if isinstance(kind, str) and kind.endswith("AuditLog"):
        return True
    name = entry_str(record, "logName")
    return name is not None and "cloudaudit.googleapis.com" in name


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    proto = proto_payload(record)
    if proto is None:
        raise ParseError(RejectReason.WRONG_SHAPE, "protoPayload is not an object")
    event_id = entry_str(record, "insertId")
    if event_id is None:
        raise ParseError(RejectReason.MISSING_FIELD, "missing field insertId")
    event_time = entry_time_required(record)
    method = require_str(proto, "methodName")
    action = f"gcp:{method}"
    service = optional_str(proto, "serviceName")
    kind_of_log = log_type(record)
    operation = operation_info(record)
    outcome, error_code = gcp_outcome(proto)
    completion_only = operation is not None and operation["last"] and not operation["first"]
    mutating = is_change_operation(action) and kind_of_log in _CHANGE_LOGS and not completion_only
    resource_name = optional_str(proto, "resourceName")
    resources = (full_resource_name(service, resource_name),) if resource_name else ()
    region = resource_label(record, "location", "zone", "region")
    scope = build(Scope, {"account": project_id(record), "region": region})
    source_ip, user_agent = request_metadata(proto)
    chain = delegation_chain(proto.get("authenticationInfo"))
    details: dict[str, Any] = {
        "log": kind_of_log,
        "service": service,
        "resource_type": optional_str(entry_field(record, "resource"), "type"),
        "operation": operation,
        "status_message": status_message(proto),
        "delegation": chain or None,
    }
    event = build(
        ChangeEvent,
        {
            "event_id": event_id,
            "source": Source.GCP,
            "event_time": event_time,
            "received_time": ctx.received_time,
            "principal": gcp_principal(proto),
            "action": action,
            "resources": resources,
            "scope": scope,
            "environment": ctx.environments.resolve(Source.GCP, scope),
            "outcome": outcome,
            "error_code": error_code,
            "is_change": counts_as_change(mutating, outcome),
            "source_ip": source_ip,
            "user_agent": user_agent,
            "grants": binding_grants(proto) if outcome is Outcome.SUCCESS else (),
            "raw_ref": ctx.raw_ref(),
            "details": redact({k: v for k, v in details.items() if v is not None}),
        },
    )
    return [event]

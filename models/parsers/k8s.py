"""Kubernetes audit events: native `audit.k8s.io` Events (v1, v1beta1, or without apiVersion, as EKS and
self-managed clusters ship them), GKE LogEntries (`protoPayload.serviceName` `k8s.io`) and AKS diagnostics
(`category` `kube-audit`/`kube-audit-admin`, the Event as a JSON string in `properties.log`).

Canonical forms and decisions:

- Stages: the API server logs one auditID at up to four stages. Only `ResponseComplete` (and `Panic`,
  a failed request) becomes an event; an Event without `stage` is taken as complete. `RequestReceived` and
  `ResponseStarted` are rejected (`invalid_value`, detail names the stage) so one request is one event.
  GKE marks the same with `operation.first`/`operation.last`: a first-only entry is rejected likewise.
- `event_id` is the `auditID` (GKE: `insertId`, else `operation.id`, which is the auditID, else a stable
  hash of the entry). `event_time` is `requestReceivedTimestamp`, else `stageTimestamp`, else (AKS) the
  diagnostic record's `time`; an event with neither auditID nor time is partial and rejected.
- `action` is `k8s:<verb>:<resource>[/<subresource>]` (`k8s:create:pods/exec`); a non-resource request is
  `k8s:<verb>:<path>` (`k8s:get:/healthz`) and never a change.
- `resources` hold `k8s:<cluster>/<namespace>/<resource>[/<name>]`, `_` as namespace for cluster-scoped
  objects. The cluster is the event's `opswarden.io/cluster` annotation, else GKE `resource.labels.
  cluster_name`, else the AKS `resourceId` cluster name, else `default`. When `objectRef.name` is absent
  (creates), the name comes from the request/response object's `metadata.name`.
- Principal: `user.username`; `system:serviceaccount:*` is a machine; other `system:*` identities (nodes,
  kube-* components), `eks:*` and `aksService` are services; `system:anonymous` is unknown; the rest are
  humans. With `impersonatedUser` the impersonated identity acts (uid) and the original user is `issuer`,
  and `human` when a person. EKS IAM sessions (`user.extra`) give issuer (role ARN), session and key id.
- Outcome from `responseStatus.code`: 1xx-3xx success (101 is a successful exec/attach upgrade), 401/403
  denied, anything else failed; without a code, an `authorization.k8s.io/decision: forbid` annotation
  means denied. GKE entries use the Cloud Audit `status` (see the gcp parser).
- `is_change` per `is_k8s_change(verb, subresource)`, minus actions listed in `NOT_CHANGES` (access reviews
  and token requests persist nothing), and only on success.
- Grants: a successful create/update/patch of `rolebindings`/`clusterrolebindings` gives one Grant per
  subject: grantee `system:serviceaccount:<ns>:<name>` for ServiceAccounts, the name for User/Group;
  privilege `<roleRef.kind>:<roleRef.name>` (`ClusterRole:cluster-admin`).
- Request and response bodies are never kept (Secrets above all); details hold a few redacted facts.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import orjson

from models.classify import NOT_CHANGES, counts_as_change, is_k8s_change
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
from models.parsers import gcp
from models.parsers.base import (
    ParseContext,
    Parsed,
    Record,
    build,
    depth_exceeds,
    optional,
    optional_str,
    require_str,
)
from models.redact import redact
from models.rejection import ParseError, RejectReason
from models.timeutil import parse_time

NAME = "k8s"

CLUSTER_ANNOTATION = "opswarden.io/cluster"
DEFAULT_CLUSTER = "default"
FINAL_STAGES = frozenset({"ResponseComplete", "Panic"})
AKS_CATEGORIES = frozenset({"kube-audit", "kube-audit-admin"})
BINDING_RESOURCES = frozenset({"rolebindings", "clusterrolebindings"})
GRANTING_VERBS = frozenset({"create", "update", "patch"})

_AUDIT_KEYS = ("auditID", "verb", "requestURI", "stage")
_VERSION = re.compile(r"^v\d+((alpha|beta)\d+)?$")
_AKS_CLUSTER = re.compile(r"/managedclusters/([^/]+)", re.IGNORECASE)
_SERVICE_USERS = frozenset({"aksService"})
_KEPT_ANNOTATIONS = ("authorization.k8s.io/", "pod-security.kubernetes.io/", "mutation.webhook.admission.k8s.io/")
_MAX_INNER_DEPTH = 64
_TEXT_LIMIT = 300


# --- recognition --------------------------------------------------------------------------------------


def _is_aks(record: Record) -> bool:
    category = record.get("category")
    return isinstance(category, str) and category.lower() in AKS_CATEGORIES


def _is_native(record: Record) -> bool:
    api = record.get("apiVersion")
    if isinstance(api, str) and api.startswith("audit.k8s.io/"):
        return True
    if record.get("kind") == "Event" and any(k in record for k in (*_AUDIT_KEYS, "objectRef")):
        return True
    return "auditID" in record and any(k in record for k in ("verb", "requestURI", "stage"))


def matches(record: Record) -> bool:
    return _is_native(record) or _is_aks(record) or gcp.is_gke_entry(record)


# --- identities ---------------------------------------------------------------------------------------


def user_kind(username: str | None) -> PrincipalKind:
    if not username:
        return PrincipalKind.UNKNOWN
    if username.startswith("system:serviceaccount:"):
        return PrincipalKind.MACHINE
    if username == "system:anonymous":
        return PrincipalKind.UNKNOWN
    if username.startswith(("system:", "eks:")) or username in _SERVICE_USERS:
        return PrincipalKind.SERVICE
    if username.endswith("gserviceaccount.com"):
        return gcp.email_kind(username)
    return PrincipalKind.HUMAN


def _first_str(value: Any) -> str | None:
    """The first string of a list (EKS `user.extra` values are lists), or the string itself."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v), None)
    return value if isinstance(value, str) and value else None


def _principal(event: Record) -> Principal:
    username = optional_str(event, "user", "username")
    impersonated = optional_str(event, "impersonatedUser", "username")
    if impersonated:
        original_kind = user_kind(username)
        return build(
            Principal,
            {
                "uid": impersonated,
                "kind": user_kind(impersonated),
                "issuer": username,
                "human": username if original_kind is PrincipalKind.HUMAN else None,
            },
        )
    kind = user_kind(username)
    extra = optional(event, "user", "extra")
    issuer = session = key = None
    if isinstance(extra, dict):
        issuer = _first_str(extra.get("canonicalArn")) or _first_str(extra.get("arn"))
        session = _first_str(extra.get("sessionName"))
        key = _first_str(extra.get("accessKeyId"))
    credential = None
    if key:
        kind_of_key = {"ASIA": CredentialKind.SHORT_LIVED, "AKIA": CredentialKind.STATIC}.get(key[:4])
        credential = build(Credential, {"id": key, "kind": kind_of_key or CredentialKind.UNKNOWN})
    return build(
        Principal,
        {
            "uid": username or gcp.UNKNOWN_PRINCIPAL,
            "kind": kind,
            "issuer": issuer,
            "session_name": session,
            "human": username if kind is PrincipalKind.HUMAN else None,
            "credential": credential,
        },
    )


# --- shared pieces ------------------------------------------------------------------------------------


def _stage_rejection(stage: str) -> ParseError:
    return ParseError(
        RejectReason.INVALID_VALUE,
        f"audit stage {stage[:40]!r} is not final: only ResponseComplete becomes an event "
        "(the same auditID repeats at every stage)",
    )


def _object_name(*bodies: Any) -> str | None:
    for body in bodies:
        name = optional_str(body, "metadata", "name") if isinstance(body, dict) else None
        if name:
            return name
    return None


def _resource_uid(cluster: str, namespace: str | None, resource: str, name: str | None) -> str:
    uid = f"k8s:{cluster}/{namespace or '_'}/{resource}"
    return f"{uid}/{name}" if name else uid


def _is_mutating(verb: str, resource: str | None, subresource: str | None) -> bool:
    if resource is None:
        return False
    target = f"{resource}/{subresource}" if subresource else resource
    return is_k8s_change(verb, subresource) and f"k8s:{verb}:{target}".lower() not in NOT_CHANGES


def binding_grants(
    verb: str, resource: str | None, subresource: str | None, namespace: str | None, *bodies: Any
) -> tuple[Grant, ...]:
    """Grants of a RoleBinding/ClusterRoleBinding write: roleRef and subjects from the first full body."""
    if resource not in BINDING_RESOURCES or subresource or verb not in GRANTING_VERBS:
        return ()
    body = next((b for b in bodies if isinstance(b, dict) and isinstance(b.get("subjects"), list)), None)
    if body is None:
        return ()
    role_kind = optional_str(body, "roleRef", "kind")
    role_name = optional_str(body, "roleRef", "name")
    if not (role_kind and role_name):
        role_body: Any = next((b for b in bodies if isinstance(optional(b, "roleRef"), dict)), None)
        role_kind = optional_str(role_body, "roleRef", "kind")
        role_name = optional_str(role_body, "roleRef", "name")
    if not (role_kind and role_name):
        return ()
    privilege = f"{role_kind}:{role_name}"
    grants: dict[str, Grant] = {}
    for subject in body["subjects"]:
        kind, name = optional_str(subject, "kind"), optional_str(subject, "name")
        if not (kind and name):
            continue
        if kind == "ServiceAccount":
            sa_namespace = optional_str(subject, "namespace") or namespace or "default"
            grantee, grantee_kind = f"system:serviceaccount:{sa_namespace}:{name}", PrincipalKind.MACHINE
        elif kind == "User":
            grantee, grantee_kind = name, user_kind(name)
        else:
            grantee, grantee_kind = name, PrincipalKind.UNKNOWN
        grants.setdefault(
            grantee, build(Grant, {"grantee": grantee, "privilege": privilege, "grantee_kind": grantee_kind})
        )
    return tuple(grants.values())


def _kept_annotations(annotations: Any) -> dict[str, str] | None:
    if not isinstance(annotations, dict):
        return None
    kept = {
        str(k): v[:_TEXT_LIMIT]
        for k, v in annotations.items()
        if isinstance(v, str) and str(k).startswith(_KEPT_ANNOTATIONS)
    }
    return kept or None


def _clean(details: dict[str, Any]) -> dict[str, Any]:
    return dict(redact({k: v for k, v in details.items() if v is not None}))


def _time(value: Any, field: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ParseError(RejectReason.BAD_TIME, f"{field}: {exc}") from exc


# --- native and AKS events ----------------------------------------------------------------------------


def _aks_event(record: Record) -> tuple[Record, str | None, Any]:
    """The Event inside an AKS diagnostic record, the cluster named by its resourceId, its `time`."""
    log = optional(record, "properties", "log")
    if isinstance(log, str):
        try:
            log = orjson.loads(log)
        except (ValueError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
            raise ParseError(RejectReason.NOT_JSON, f"properties.log is not JSON: {exc}") from exc
    if log is None:
        raise ParseError(RejectReason.MISSING_FIELD, "missing field properties.log")
    if not isinstance(log, dict):
        raise ParseError(RejectReason.WRONG_SHAPE, "properties.log does not hold an audit Event object")
    if depth_exceeds(log, _MAX_INNER_DEPTH):
        raise ParseError(RejectReason.TOO_DEEP, f"properties.log nests deeper than {_MAX_INNER_DEPTH}")
    resource_id = record.get("resourceId")
    match = _AKS_CLUSTER.search(resource_id) if isinstance(resource_id, str) else None
    return log, (match.group(1) if match else None), record.get("time")


def _status_code(value: Any) -> int | None:
    """`responseStatus.code` as an int; a numeric string (some shippers stringify) counts too."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,4}\s*", value):
        return int(value)
    return None


def _outcome(code: int | None, stage: str | None, annotations: Any) -> tuple[Outcome, str | None]:
    if stage == "Panic":
        return Outcome.FAILED, "Panic"
    if code is not None:
        if 100 <= code < 400:
            return Outcome.SUCCESS, None
        return (Outcome.DENIED if code in (401, 403) else Outcome.FAILED), str(code)
    if optional(annotations, "authorization.k8s.io/decision") == "forbid":
        return Outcome.DENIED, "forbid"
    return Outcome.SUCCESS, None


def _from_event(
    event: Record, ctx: ParseContext, *, cluster: str | None, fallback_time: Any, shape: str
) -> ChangeEvent:
    stage = event.get("stage")
    if stage is not None and not isinstance(stage, str):
        raise ParseError(RejectReason.INVALID_VALUE, "field stage is not a string")
    if stage and stage not in FINAL_STAGES:
        raise _stage_rejection(stage)
    audit_id = require_str(event, "auditID")
    verb = require_str(event, "verb").lower()
    for field, value in (
        ("requestReceivedTimestamp", event.get("requestReceivedTimestamp")),
        ("stageTimestamp", event.get("stageTimestamp")),
        ("time", fallback_time),
    ):
        if value not in (None, ""):
            event_time = _time(value, field)
            break
    else:
        raise ParseError(RejectReason.MISSING_FIELD, "missing field requestReceivedTimestamp")

    annotations: Any = event.get("annotations")
    cluster = optional_str(annotations, CLUSTER_ANNOTATION) or cluster or DEFAULT_CLUSTER
    raw_ref = event.get("objectRef")
    object_ref: Record = raw_ref if isinstance(raw_ref, dict) else {}
    resource = optional_str(object_ref, "resource")
    subresource = optional_str(object_ref, "subresource")
    namespace = optional_str(object_ref, "namespace")
    request_uri = optional_str(event, "requestURI")
    request_body, response_body = event.get("requestObject"), event.get("responseObject")
    if resource:
        name = optional_str(object_ref, "name") or _object_name(request_body, response_body)
        action = f"k8s:{verb}:{resource}/{subresource}" if subresource else f"k8s:{verb}:{resource}"
        resources: tuple[str, ...] = (_resource_uid(cluster, namespace, resource, name),)
    elif request_uri:
        action = f"k8s:{verb}:{request_uri.split('?', 1)[0][:_TEXT_LIMIT]}"
        resources = ()
    else:
        raise ParseError(RejectReason.MISSING_FIELD, "missing field objectRef.resource (and requestURI)")

    code = _status_code(optional(event, "responseStatus", "code"))
    outcome, error_code = _outcome(code, stage, annotations)
    reason = optional_str(event, "responseStatus", "reason")
    scope = build(Scope, {"cluster": cluster, "namespace": namespace})
    source_ips = event.get("sourceIPs")
    groups = optional(event, "user", "groups")
    details = {
        "shape": shape,
        "stage": stage,
        "level": optional_str(event, "level"),
        "request_uri": request_uri[:_TEXT_LIMIT] if request_uri else None,
        "api_group": optional_str(object_ref, "apiGroup"),
        "api_version": optional_str(object_ref, "apiVersion"),
        "response_code": code,
        "response_message": (optional_str(event, "responseStatus", "message") or "")[:_TEXT_LIMIT] or None,
        "user_groups": [g for g in groups if isinstance(g, str)][:20] if isinstance(groups, list) else None,
        "annotations": _kept_annotations(annotations),
        "replicas": _replicas(request_body, resource, subresource),
    }
    return build(
        ChangeEvent,
        {
            "event_id": audit_id,
            "source": Source.K8S,
            "event_time": event_time,
            "received_time": ctx.received_time,
            "principal": _principal(event),
            "action": action,
            "resources": resources,
            "scope": scope,
            "environment": ctx.environments.resolve(Source.K8S, scope),
            "outcome": outcome,
            "error_code": reason or error_code if outcome is not Outcome.SUCCESS else None,
            "is_change": counts_as_change(_is_mutating(verb, resource, subresource), outcome),
            "source_ip": _first_str(source_ips),
            "user_agent": optional_str(event, "userAgent"),
            "grants": binding_grants(verb, resource, subresource, namespace, request_body, response_body)
            if outcome is Outcome.SUCCESS
            else (),
            "raw_ref": ctx.raw_ref(),
            "details": _clean(details),
        },
    )


_SCALABLE = frozenset({"deployments", "statefulsets", "replicasets", "replicationcontrollers"})


def _replicas(request_body: Any, resource: str | None, subresource: str | None) -> int | None:
    """The replica count a scale change asks for: the one number loop detection needs from a request body."""
    if resource not in _SCALABLE or subresource not in (None, "scale"):
        return None
    value = optional(request_body, "spec", "replicas") if isinstance(request_body, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- GKE ----------------------------------------------------------------------------------------------


def _gke_target(method: str, resource_name: str | None) -> tuple[str, str | None, str | None, str | None, str | None]:
    """(verb, resource, subresource, namespace, name) from `io.k8s.<group>.<version>.<resource>[.<sub>].<verb>`
    and `resourceName` `<group>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]`."""
    segments = method[len("io.k8s.") :].split(".")
    if len(segments) < 2 or not all(segments):
        raise ParseError(RejectReason.INVALID_VALUE, f"GKE methodName {method[:80]!r} names no verb")
    verb = segments[-1].lower()
    resource = subresource = namespace = name = None
    version_at = next((i for i, s in enumerate(segments[:-1]) if _VERSION.match(s)), None)
    if version_at is not None:
        between = segments[version_at + 1 : -1]
        resource = between[0] if between else None
        subresource = between[1] if len(between) > 1 else None
    parts = resource_name.strip("/").split("/") if resource_name else []
    if len(parts) >= 3 and _VERSION.match(parts[1]):
        rest = parts[2:]
        if rest[0] == "namespaces" and len(rest) >= 3 and resource != "namespaces":
            namespace, rest = rest[1], rest[2:]
        resource = rest[0] or resource
        name = rest[1] if len(rest) > 1 and rest[1] else None
        subresource = rest[2] if len(rest) > 2 and rest[2] else subresource
    return verb, resource, subresource, namespace, name


def _gke_event_id(record: Record, proto: dict[str, Any], operation: dict[str, Any] | None) -> str:
    event_id = gcp.entry_str(record, "insertId") or (operation or {}).get("id")
    if event_id:
        return str(event_id)
    basis = orjson.dumps(
        [gcp.entry_field(record, "timestamp"), proto.get("methodName"), proto.get("resourceName"),
         optional(proto, "authenticationInfo", "principalEmail"), gcp.entry_field(record, "resource")],
        default=str,
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
    )  # fmt: skip
    return "gke-" + hashlib.sha256(basis).hexdigest()[:32]


def _from_gke(record: Record, ctx: ParseContext) -> ChangeEvent:
    proto = gcp.proto_payload(record)
    if proto is None:
        raise ParseError(RejectReason.MISSING_FIELD, "missing field protoPayload")
    operation = gcp.operation_info(record)
    if operation and operation["first"] and not operation["last"]:
        raise _stage_rejection("first entry of a GKE operation")
    method = require_str(proto, "methodName")
    if not method.startswith("io.k8s."):
        raise ParseError(RejectReason.INVALID_VALUE, f"GKE methodName {method[:80]!r} is not io.k8s.*")
    event_time = gcp.entry_time_required(record)
    verb, resource, subresource, namespace, name = _gke_target(method, optional_str(proto, "resourceName"))
    labels: Any = gcp.entry_field(record, "labels")
    cluster = optional_str(labels, CLUSTER_ANNOTATION) or gcp.resource_label(record, "cluster_name") or DEFAULT_CLUSTER
    request_body, response_body = proto.get("request"), proto.get("response")
    if resource:
        name = name or _object_name(request_body, response_body)
        action = f"k8s:{verb}:{resource}/{subresource}" if subresource else f"k8s:{verb}:{resource}"
        resources: tuple[str, ...] = (_resource_uid(cluster, namespace, resource, name),)
    else:
        action, resources = f"k8s:{verb}:{method[len('io.k8s.') :]}", ()
    outcome, error_code = gcp.gcp_outcome(proto)
    scope = build(Scope, {"cluster": cluster, "namespace": namespace, "region": gcp.resource_label(record, "location")})
    source_ip, user_agent = gcp.request_metadata(proto)
    details = {
        "shape": "gke",
        "project": gcp.project_id(record),
        "log": gcp.log_type(record),
        "operation": operation,
        "status_message": gcp.status_message(proto),
        "annotations": _kept_annotations(labels),
    }
    return build(
        ChangeEvent,
        {
            "event_id": _gke_event_id(record, proto, operation),
            "source": Source.K8S,
            "event_time": event_time,
            "received_time": ctx.received_time,
            "principal": gcp.gcp_principal(proto, user_kind),
            "action": action,
            "resources": resources,
            "scope": scope,
            "environment": ctx.environments.resolve(Source.K8S, scope),
            "outcome": outcome,
            "error_code": error_code,
            "is_change": counts_as_change(_is_mutating(verb, resource, subresource), outcome),
            "source_ip": source_ip,
            "user_agent": user_agent,
            "grants": binding_grants(verb, resource, subresource, namespace, request_body, response_body)
            if outcome is Outcome.SUCCESS
            else (),
            "raw_ref": ctx.raw_ref(),
            "details": _clean(details),
        },
    )


# --- entry point --------------------------------------------------------------------------------------


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    if _is_aks(record):
        event, cluster, fallback_time = _aks_event(record)
        return [_from_event(event, ctx, cluster=cluster, fallback_time=fallback_time, shape="aks")]
    if gcp.is_gke_entry(record) and not _is_native(record):
        return [_from_gke(record, ctx)]
    return [_from_event(record, ctx, cluster=None, fallback_time=None, shape="native")]

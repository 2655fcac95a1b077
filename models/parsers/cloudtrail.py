"""AWS CloudTrail: one record (management or data event) into a ChangeEvent.

The dispatcher has already unwrapped S3 (`{"Records": [...]}`), array and JSON-lines envelopes, so `parse`
sees one record. Actions read like IAM actions (`iam:AttachRolePolicy`, API-version suffixes dropped),
resources are ARNs (from `resources[]`, else derived from a small table of request parameters), and IAM
grants are extracted for permission-creep detection. Secrets never reach the event: `responseElements` is
not kept at all and `requestParameters` goes through `models.redact`.
"""

from __future__ import annotations

import re
import urllib.parse
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

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

NAME = "cloudtrail"

#: Top-level CloudTrail fields; data-lake exports (Panther, Athena) sometimes lower-case them.
_FIELDS = (
    "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
    "userAgent", "requestParameters", "responseElements", "requestID", "eventID", "readOnly", "eventType",
    "managementEvent", "recipientAccountId", "eventCategory", "errorCode", "errorMessage", "resources",
    "sharedEventID", "sessionCredentialFromConsole", "vpcEndpointId", "apiVersion", "additionalEventData",
)  # fmt: skip
_LOWERED = {name.lower(): name for name in _FIELDS}
#: With eventSource and eventName, any one of these (or an AWS eventSource host) makes a record CloudTrail.
_ENOUGH = ("eventVersion", "userIdentity", "eventTime", "eventID", "awsRegion", "recipientAccountId")

#: eventSource host labels whose IAM action prefix differs.
_SERVICE_PREFIX = {"monitoring": "cloudwatch", "email": "ses", "tagging": "tag"}

#: `UpdateFunctionCode20150331v2`, `CreateFunction20150331`, `UpdateDistribution2020_05_31`.
_VERSION_SUFFIX = re.compile(r"(?:\d{8}|\d{4}_\d{2}_\d{2})(?:v\d+)?$")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SSO_ROLE_PREFIX = "AWSReservedSSO_"

_EC2_INSTANCE = "arn:{p}:ec2:{r}:{a}:instance/{v}"
#: requestParameters key -> ARN template, per service; `{v}`, last, is the value, used as is when it is an ARN.
_PARAM_ARNS: dict[str, tuple[tuple[str, str], ...]] = {
    "iam": (
        ("roleName", "arn:{p}:iam::{a}:role/{v}"),
        ("userName", "arn:{p}:iam::{a}:user/{v}"),
        ("groupName", "arn:{p}:iam::{a}:group/{v}"),
        ("instanceProfileName", "arn:{p}:iam::{a}:instance-profile/{v}"),
        ("policyArn", "{v}"),
    ),
    "ec2": (
        ("instanceId", _EC2_INSTANCE),
        ("groupId", "arn:{p}:ec2:{r}:{a}:security-group/{v}"),
        ("volumeId", "arn:{p}:ec2:{r}:{a}:volume/{v}"),
        ("snapshotId", "arn:{p}:ec2:{r}:{a}:snapshot/{v}"),
        ("vpcId", "arn:{p}:ec2:{r}:{a}:vpc/{v}"),
        ("subnetId", "arn:{p}:ec2:{r}:{a}:subnet/{v}"),
    ),
    "s3": (("bucketName", "arn:{p}:s3:::{v}"),),
    "lambda": (("functionName", "arn:{p}:lambda:{r}:{a}:function:{v}"),),
    "kms": (("keyId", "arn:{p}:kms:{r}:{a}:key/{v}"),),
    "rds": (
        ("dBInstanceIdentifier", "arn:{p}:rds:{r}:{a}:db:{v}"),
        ("dBClusterIdentifier", "arn:{p}:rds:{r}:{a}:cluster:{v}"),
    ),
    "dynamodb": (("tableName", "arn:{p}:dynamodb:{r}:{a}:table/{v}"),),
    "cloudtrail": (("name", "arn:{p}:cloudtrail:{r}:{a}:trail/{v}"),),
    "eks": (("clusterName", "arn:{p}:eks:{r}:{a}:cluster/{v}"),),
    "logs": (("logGroupName", "arn:{p}:logs:{r}:{a}:log-group:{v}"),),
    "sns": (("topicArn", "{v}"),),
    "secretsmanager": (("secretId", "arn:{p}:secretsmanager:{r}:{a}:secret:{v}"),),
}

#: IAM policy calls that give a principal power: eventName -> the request parameter naming the grantee.
_POLICY_GRANTS: dict[str, str] = {
    "AttachRolePolicy": "roleName",
    "AttachUserPolicy": "userName",
    "AttachGroupPolicy": "groupName",
    "PutRolePolicy": "roleName",
    "PutUserPolicy": "userName",
    "PutGroupPolicy": "groupName",
}
#: Grants that only count when made for another user (a user managing their own key is not creep).
_USER_GRANTS: dict[str, str] = {
    "CreateAccessKey": "access_key",
    "CreateLoginProfile": "console_password",
    "UpdateLoginProfile": "console_password",
}
_IAM_KIND = {"userName": "user", "roleName": "role", "groupName": "group"}

_MAX_STRING = 256
_MAX_ITEMS = 20
_MAX_DEPTH = 4
_MAX_AGENT = 512
#: A DeleteObjects data event can name thousands of objects; events are kept in state, so they are capped.
_MAX_RESOURCES = 100


def _canonical(record: Record) -> Record:
    """The record with lower-cased top-level CloudTrail keys (data-lake exports) under their real names."""
    if "eventName" in record or "eventname" not in record:
        return record
    view = dict(record)
    for key, value in record.items():
        name = _LOWERED.get(key) if isinstance(key, str) else None
        if name is not None and name not in view:
            view[name] = value
    return view


def matches(record: Record) -> bool:
    view = _canonical(record)
    name = view.get("eventName")
    if not isinstance(name, str) or not name:
        return False
    source = view.get("eventSource")
    if isinstance(source, str) and source:
        return source.endswith(".amazonaws.com") or any(key in view for key in _ENOUGH)
    # No eventSource: still CloudTrail when the rest is unmistakably AWS-shaped (rejected for the gap later).
    return source is None and isinstance(view.get("awsRegion"), str) and "recipientAccountId" in view


@lru_cache(maxsize=4096)
def canonical_action(event_source: str, event_name: str) -> str:
    """`iam.amazonaws.com` + `AttachRolePolicy` -> `iam:AttachRolePolicy`, API-version suffixes dropped.
    Remembered: an account calls a few hundred APIs, and the suffix regex cost ~18,000 instructions a record."""
    host = event_source.strip().lower()
    if host.endswith(".amazonaws.com"):
        host = host.removesuffix(".amazonaws.com").rsplit(".", 1)[-1]
    else:
        host = host.split(".", 1)[0]
    service = _SERVICE_PREFIX.get(host, host)
    operation = _VERSION_SUFFIX.sub("", event_name) or event_name
    return f"{service}:{operation}"


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _to_time(value: Any) -> datetime:
    """`parse_time`, plus the datetimes YAML fixtures load unquoted timestamps as; ValueError otherwise."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        return parse_time(value)
    except OverflowError as exc:  # an offset pushing year 1 or 9999 out of range
        raise ValueError(f"time out of range: {str(value)[:40]!r}") from exc


def _time(view: Record) -> datetime:
    value = view.get("eventTime")
    if value is None:
        raise ParseError(RejectReason.MISSING_FIELD, "missing field eventTime")
    try:
        return _to_time(value)
    except ValueError as exc:
        raise ParseError(RejectReason.BAD_TIME, f"eventTime: {exc}") from exc


def _optional_time(value: Any) -> datetime | None:
    if not isinstance(value, (str, datetime)):  # a tuple: Cython tests str in C first; a union is built each call
        return None
    try:
        return _to_time(value)
    except ValueError:
        return None


def _partition(identity: Record) -> str:
    arn = optional_str(identity, "arn")
    if arn and arn.startswith("arn:"):
        parts = arn.split(":", 2)
        if len(parts) > 2 and parts[1]:
            return parts[1]
    return "aws"


# -- principal -------------------------------------------------------------------------------------


def _credential(identity: Record, session_kind: bool) -> Credential | None:
    key_id = optional_str(identity, "accessKeyId")
    issued = _optional_time(optional(identity, "sessionContext", "attributes", "creationDate"))
    if key_id is None and issued is None:
        return None
    if key_id and key_id.startswith("AKIA"):
        kind = CredentialKind.STATIC
    elif (key_id and key_id.startswith("ASIA")) or session_kind:
        kind = CredentialKind.SHORT_LIVED  # role and federation sessions are STS credentials by construction
    else:
        kind = CredentialKind.UNKNOWN
    return build(Credential, {"id": key_id, "kind": kind, "issued_at": issued})


def _assumed_role(identity: Record, partition: str) -> Principal:
    arn = optional_str(identity, "arn")
    principal_id = optional_str(identity, "principalId")
    role = session = account = None
    if arn:
        fields = arn.split(":", 5)
        if len(fields) == 6 and fields[5].startswith("assumed-role/"):
            account = fields[4] or None
            parts = fields[5].split("/", 2)
            role = parts[1] if len(parts) > 1 and parts[1] else None
            session = parts[2] if len(parts) > 2 and parts[2] else None
    if session is None and principal_id and ":" in principal_id:
        session = principal_id.split(":", 1)[1] or None
    issuer = optional_str(identity, "sessionContext", "sessionIssuer", "arn")
    if issuer is None and role and account:
        issuer = f"arn:{partition}:iam::{account}:role/{role}"
    role_name = optional_str(identity, "sessionContext", "sessionIssuer", "userName") or role
    sso = any(x and _SSO_ROLE_PREFIX in x for x in (role, role_name, issuer))
    human_session = bool(session) and (sso or bool(_EMAIL.match(session or "")))
    return build(
        Principal,
        {
            "uid": arn or principal_id or issuer or "unknown",
            "kind": PrincipalKind.HUMAN if sso or human_session else PrincipalKind.MACHINE,
            "name": role_name,
            "issuer": issuer,
            "session_name": session,
            "human": session if human_session else None,
            "credential": _credential(identity, session_kind=True),
        },
    )


def _identity_type(identity: Record) -> str | None:
    kind = optional_str(identity, "type")
    if kind:
        return kind
    arn = optional_str(identity, "arn") or ""
    if ":assumed-role/" in arn:
        return "AssumedRole"
    if ":user/" in arn:
        return "IAMUser"
    if arn.endswith(":root"):
        return "Root"
    if ":federated-user/" in arn:
        return "FederatedUser"
    return None


def principal_of(identity: Any, partition: str = "aws") -> Principal:
    """The acting principal from `userIdentity`; absent, an unknown principal (never a crash)."""
    if identity is None:
        return build(Principal, {"uid": "unknown"})
    if not isinstance(identity, dict):
        found = type(identity).__name__
        raise ParseError(RejectReason.INVALID_VALUE, f"userIdentity is a {found}, not an object")
    kind = _identity_type(identity)
    arn = optional_str(identity, "arn")
    principal_id = optional_str(identity, "principalId")
    account = optional_str(identity, "accountId")
    user_name = optional_str(identity, "userName")
    if kind == "AssumedRole":
        return _assumed_role(identity, partition)
    if kind == "IAMUser":
        built = f"arn:{partition}:iam::{account}:user/{user_name}" if account and user_name else None
        return build(
            Principal,
            {
                "uid": arn or built or principal_id or user_name or "unknown",
                "kind": PrincipalKind.HUMAN,
                "name": user_name,
                "human": user_name,
                "credential": _credential(identity, session_kind=False),
            },
        )
    if kind == "Root":
        built = f"arn:{partition}:iam::{account}:root" if account else None
        return build(
            Principal,
            {
                "uid": arn or built or principal_id or "root",
                "kind": PrincipalKind.HUMAN,
                "name": user_name or "root",
                "credential": _credential(identity, session_kind=False),
            },
        )
    if kind == "AWSService":
        invoked_by = optional_str(identity, "invokedBy")
        uid = invoked_by or principal_id or "unknown"
        return build(Principal, {"uid": uid, "kind": PrincipalKind.SERVICE, "name": invoked_by})
    if kind == "FederatedUser":
        # GetFederationToken sessions: a broker names them; CloudTrail cannot say who is behind one.
        name = arn.rsplit("/", 1)[-1] if arn and "/" in arn else None
        return build(
            Principal,
            {
                "uid": arn or principal_id or "unknown",
                "kind": PrincipalKind.UNKNOWN,
                "name": name,
                "issuer": optional_str(identity, "sessionContext", "sessionIssuer", "arn"),
                "session_name": name,
                "credential": _credential(identity, session_kind=True),
            },
        )
    if kind == "AWSAccount":
        # A principal of another account; only the account and an opaque principal id are known.
        issuer = f"arn:{partition}:iam::{account}:root" if account else None
        return build(
            Principal, {"uid": principal_id or issuer or "unknown", "kind": PrincipalKind.UNKNOWN, "issuer": issuer}
        )
    if kind in ("IdentityCenterUser", "SAMLUser"):
        return build(
            Principal,
            {
                "uid": arn or principal_id or user_name or "unknown",
                "kind": PrincipalKind.HUMAN,
                "name": user_name,
                "human": user_name,
                "credential": _credential(identity, session_kind=True),
            },
        )
    return build(
        Principal,
        {
            "uid": arn or principal_id or user_name or "unknown",
            "kind": PrincipalKind.UNKNOWN,
            "name": user_name,
            "credential": _credential(identity, session_kind=False),
        },
    )


# -- outcome ---------------------------------------------------------------------------------------


def _error_code(view: Record) -> str | None:
    """errorCode as a string; a present but non-scalar one is refused rather than read as success."""
    value = view.get("errorCode")
    if value is None or value == "":
        return None
    code = optional_str(view, "errorCode")
    if code is None:
        raise ParseError(RejectReason.INVALID_VALUE, f"errorCode is a {type(value).__name__}, not a string")
    return code


def outcome_of(error_code: str | None, view: Record | None = None) -> Outcome:
    if error_code is None:
        if view is not None and optional(view, "responseElements", "ConsoleLogin") == "Failure":
            return Outcome.FAILED  # a failed console sign-in carries no errorCode
        return Outcome.SUCCESS
    lowered = error_code.lower()
    if "accessdenied" in lowered or lowered.endswith("unauthorizedoperation"):
        return Outcome.DENIED
    return Outcome.FAILED


# -- resources and grants --------------------------------------------------------------------------


def _arn(template: str, value: str, partition: str, account: str | None, region: str | None) -> str | None:
    if value.startswith("arn:"):
        return value
    prefix = _arn_prefix(template, partition, account, region)
    return None if prefix is None else prefix + value


@lru_cache(maxsize=4096)
def _arn_prefix(template: str, partition: str, account: str | None, region: str | None) -> str | None:
    """A template filled up to its value, which ends it; None when it needs an account or region the record lacks.
    Remembered: the same accounts and regions come with every record, and `str.format` cost 6,000 instructions."""
    if ("{a}" in template and not account) or ("{r}" in template and not region):
        return None
    return template.removesuffix("{v}").format(p=partition, a=account or "", r=region or "")


def _derived(view: Record, service: str, partition: str, acct: str | None, region: str | None) -> list[str]:
    """ARNs built from request parameters (and, for EC2 instances, the ids a RunInstances response names)."""
    params = view.get("requestParameters")
    params = params if isinstance(params, dict) else {}
    named = [(template, params.get(key)) for key, template in _PARAM_ARNS.get(service, ())]
    if service == "ec2":  # Run/Start/Stop/TerminateInstances name their instances in a set
        sets = (optional(params, "instancesSet"), optional(view, "responseElements", "instancesSet"))
        for items in (optional(s, "items") for s in sets):
            for item in items if isinstance(items, list) else ():
                named.append((_EC2_INSTANCE, item.get("instanceId") if isinstance(item, dict) else None))
    arns: list[str] = []
    for template, value in named:
        if isinstance(value, str) and value and (arn := _arn(template, value, partition, acct, region)):
            arns.append(arn)
    return arns


def _listed_resources(resources: Any) -> list[str]:
    if not isinstance(resources, list):
        return []
    found: list[str] = []
    for item in resources:
        value = item.get("ARN", item.get("arn")) if isinstance(item, dict) else None
        if isinstance(value, str) and value:
            found.append(value)
    return found


def _iam_arn(key: str, name: str, partition: str, account: str | None) -> str:
    if name.startswith("arn:"):
        return name
    kind = _IAM_KIND[key]
    return f"arn:{partition}:iam::{account}:{kind}/{name}" if account else f"{kind}/{name}"


def _grants_everything(document: Any) -> bool:
    """Whether an IAM policy document (a JSON string, maybe URL-encoded, or a dict) allows `*` on `*`."""
    if isinstance(document, str):
        for text in (document, urllib.parse.unquote(document)):
            try:
                document = orjson.loads(text)
                break
            except orjson.JSONDecodeError:
                continue
        else:
            return False
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return False

    def star(value: Any) -> bool:
        values = value if isinstance(value, list) else [value]
        return any(v in ("*", "*:*") for v in values)

    allowed = [s for s in statements if isinstance(s, dict) and s.get("Effect") == "Allow"]
    return any(star(s.get("Action")) and star(s.get("Resource")) for s in allowed)


def grants_of(
    event_name: str, params: Any, principal: Principal, identity: Any, partition: str, account: str | None
) -> tuple[Grant, ...]:
    """The privileges a successful IAM call gives to a role, user or group."""
    if not isinstance(params, dict):
        return ()

    def name_of(key: str) -> str | None:
        value = params.get(key)
        return value if isinstance(value, str) and value else None

    grants: list[Grant] = []
    if event_name in _POLICY_GRANTS:
        key = _POLICY_GRANTS[event_name]
        target = name_of(key)
        if target is None:
            return ()
        grantee = _iam_arn(key, target, partition, account)
        grantee_kind = PrincipalKind.HUMAN if key == "userName" else PrincipalKind.UNKNOWN
        privileges: list[str] = []
        if event_name.startswith("Attach"):
            policy = name_of("policyArn")
            privileges += [policy] if policy else []
        else:
            policy_name = name_of("policyName")
            privileges += [f"inline:{policy_name}"] if policy_name else []
            if _grants_everything(params.get("policyDocument")):
                privileges.append("*:*")
        grants += [build(Grant, {"grantee": grantee, "privilege": p, "grantee_kind": grantee_kind}) for p in privileges]
    elif event_name == "AddUserToGroup":
        user, group = name_of("userName"), name_of("groupName")
        if user and group:
            grants.append(
                build(
                    Grant,
                    {
                        "grantee": _iam_arn("userName", user, partition, account),
                        "privilege": f"group:{_iam_arn('groupName', group, partition, account)}",
                        "grantee_kind": PrincipalKind.HUMAN,
                    },
                )
            )
    elif event_name == "UpdateAssumeRolePolicy":
        role = name_of("roleName")
        if role:
            role_arn = _iam_arn("roleName", role, partition, account)
            grants.append(build(Grant, {"grantee": role_arn, "privilege": "trust_policy"}))
    elif event_name in _USER_GRANTS:
        user = name_of("userName")
        own = optional_str(identity, "userName") if optional_str(identity, "type") == "IAMUser" else None
        if user and user != own:
            user_arn = _iam_arn("userName", user, partition, account)
            if user_arn not in principal.identities():
                privilege = _USER_GRANTS[event_name]
                grants.append(
                    build(Grant, {"grantee": user_arn, "privilege": privilege, "grantee_kind": PrincipalKind.HUMAN})
                )
    return tuple(grants)


# -- details ---------------------------------------------------------------------------------------


def _shrink(value: Any, depth: int = 0) -> Any:
    """Bounded copy: long strings cut, long containers truncated, deep nesting elided."""
    if isinstance(value, str):
        return value if len(value) <= _MAX_STRING else value[:_MAX_STRING] + "…"
    if isinstance(value, dict):
        if depth >= _MAX_DEPTH:
            return "{…}"
        items = value.items() if len(value) <= _MAX_ITEMS else list(value.items())[:_MAX_ITEMS]
        out = {str(k): _shrink(v, depth + 1) for k, v in items}
        if len(value) > _MAX_ITEMS:
            out["…"] = f"{len(value) - _MAX_ITEMS} more keys"
        return out
    if isinstance(value, list | tuple):
        if depth >= _MAX_DEPTH:
            return "[…]"
        shrunk = [_shrink(v, depth + 1) for v in value[:_MAX_ITEMS]]
        if len(value) > _MAX_ITEMS:
            shrunk.append(f"… {len(value) - _MAX_ITEMS} more")
        return shrunk
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)[:_MAX_STRING]


def _details(view: Record, identity: Any) -> dict[str, Any]:
    details: dict[str, Any] = {
        "eventSource": view.get("eventSource"),
        "eventName": view.get("eventName"),
    }
    for key in ("eventType", "eventCategory", "readOnly", "managementEvent", "sharedEventID", "requestID",
                "sessionCredentialFromConsole", "vpcEndpointId", "errorMessage"):  # fmt: skip
        value = view.get(key)
        if value is not None:
            details[key] = value
    if isinstance(identity, dict):
        identity_type = optional_str(identity, "type")
        if identity_type:
            details["userIdentityType"] = identity_type
        mfa = optional(identity, "sessionContext", "attributes", "mfaAuthenticated")
        if mfa is not None:
            details["mfaAuthenticated"] = _is_true(mfa)
    console = optional(view, "responseElements", "ConsoleLogin")
    if isinstance(console, str):
        details["consoleLogin"] = console
    params = view.get("requestParameters")
    if isinstance(params, dict) and params:
        details["requestParameters"] = params
    shrunk: dict[str, Any] = _shrink(redact(details), depth=-1)
    return shrunk


# -- parse -----------------------------------------------------------------------------------------


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    view = _canonical(record)
    event_id = require_str(view, "eventID")
    event_source = require_str(view, "eventSource")
    event_name = require_str(view, "eventName")
    event_time = _time(view)
    identity = view.get("userIdentity")
    partition = _partition(identity) if isinstance(identity, dict) else "aws"
    principal = principal_of(identity, partition)

    account = optional_str(view, "recipientAccountId") or optional_str(identity or {}, "accountId")
    region = optional_str(view, "awsRegion")
    scope = build(Scope, {"account": account, "region": region})
    action = canonical_action(event_source, event_name)
    service, operation = action.split(":", 1)

    error_code = _error_code(view)
    outcome = outcome_of(error_code, view)
    mutating = is_change_operation(action) and not _is_true(view.get("readOnly"))
    params = view.get("requestParameters")

    listed = _listed_resources(view.get("resources"))
    resources = list(dict.fromkeys(listed or _derived(view, service, partition, account, region)))
    grants: tuple[Grant, ...] = ()
    if service == "iam" and outcome is Outcome.SUCCESS:
        grants = grants_of(operation, params, principal, identity, partition, account)

    user_agent = optional_str(view, "userAgent")
    return [
        build(
            ChangeEvent,
            {
                "event_id": event_id,
                "source": Source.CLOUDTRAIL,
                "event_time": event_time,
                "received_time": ctx.received_time,
                "principal": principal,
                "action": action,
                "resources": tuple(resources[:_MAX_RESOURCES]),
                "scope": scope,
                "environment": ctx.environments.resolve(Source.CLOUDTRAIL, scope),
                "outcome": outcome,
                "error_code": error_code,
                "is_change": counts_as_change(mutating, outcome),
                "source_ip": optional_str(view, "sourceIPAddress"),
                "user_agent": user_agent[:_MAX_AGENT] if user_agent else None,
                "grants": grants,
                "raw_ref": ctx.raw_ref(),
                "details": _details(view, identity),
            },
        )
    ]

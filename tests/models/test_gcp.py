"""GCP Cloud Audit LogEntry parser: inline fixtures per shape and decision, and junk that must not crash it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.config import EnvironmentConfig, EnvironmentSelectors
from models.events import ChangeEvent, CredentialKind, Outcome, PrincipalKind, Source
from models.parsers import gcp, parse_document
from models.parsers.base import ParseContext
from models.rejection import RejectReason
from tests.models.parsing import single_event, single_rejection

RECEIVED = datetime(2024, 5, 1, 12, 0, 5, tzinfo=UTC)
CTX = ParseContext(received_time=RECEIVED, origin="topic-gcp")


def entry(**proto: Any) -> dict[str, Any]:
    """An admin-activity LogEntry for a compute instance insert; `proto` overrides protoPayload keys."""
    payload: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "serviceName": "compute.googleapis.com",
        "methodName": "v1.compute.instances.insert",
        "resourceName": "projects/shop-prod/zones/europe-west1-b/instances/web-1",
        "authenticationInfo": {"principalEmail": "alice@example.com"},
        "requestMetadata": {"callerIp": "203.0.113.9", "callerSuppliedUserAgent": "gcloud/471.0.0"},
        "status": {},
    }
    payload.update(proto)
    return {
        "insertId": "abc123",
        "logName": "projects/shop-prod/logs/cloudaudit.googleapis.com%2Factivity",
        "timestamp": "2024-05-01T12:00:00.123456Z",
        "receiveTimestamp": "2024-05-01T12:00:01Z",
        "resource": {"type": "gce_instance", "labels": {"project_id": "shop-prod", "zone": "europe-west1-b"}},
        "severity": "NOTICE",
        "protoPayload": payload,
    }


def parse_one(record: dict[str, Any], ctx: ParseContext = CTX) -> ChangeEvent:
    return single_event(record, "gcp", ctx)


def reject(record: dict[str, Any]) -> RejectReason:
    return single_rejection(record, "gcp", CTX).reason


def test_activity_entry_maps_every_field() -> None:
    event = parse_one(entry())
    assert event.source is Source.GCP
    assert event.event_id == "abc123"
    assert event.event_time == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert event.received_time == RECEIVED
    assert event.action == "gcp:v1.compute.instances.insert"
    assert event.resources == ("//compute.googleapis.com/projects/shop-prod/zones/europe-west1-b/instances/web-1",)
    assert event.scope.account == "shop-prod"
    assert event.scope.region == "europe-west1-b"
    assert event.principal.uid == "alice@example.com"
    assert event.principal.kind is PrincipalKind.HUMAN
    assert event.principal.human == "alice@example.com"
    assert event.outcome is Outcome.SUCCESS
    assert event.is_change is True
    assert event.source_ip == "203.0.113.9"
    assert event.user_agent == "gcloud/471.0.0"
    assert event.raw_ref is not None
    assert (event.raw_ref.origin, event.raw_ref.index) == ("topic-gcp", 0)
    assert event.details["log"] == "activity"
    assert event.environment == "production"


def test_environment_resolves_on_project() -> None:
    environments = EnvironmentConfig(environments={"staging": EnvironmentSelectors(projects=("shop-stg*",))})
    record = entry()
    record["resource"]["labels"]["project_id"] = "shop-stg-1"
    assert parse_one(record, ParseContext(environments=environments)).environment == "staging"


def test_project_falls_back_to_log_name_and_caller_ip_spelling() -> None:
    record = entry(requestMetadata={"callerIP": "198.51.100.1"})
    del record["resource"]
    event = parse_one(record)
    assert event.scope.account == "shop-prod"
    assert event.source_ip == "198.51.100.1"


def test_resource_name_forms() -> None:
    assert parse_one(entry(resourceName="//iam.googleapis.com/projects/p/serviceAccounts/x")).resources == (
        "//iam.googleapis.com/projects/p/serviceAccounts/x",
    )
    no_service = entry(resourceName="organizations/1")
    del no_service["protoPayload"]["serviceName"]
    assert parse_one(no_service).resources == ("organizations/1",)
    no_resource = entry()
    del no_resource["protoPayload"]["resourceName"]
    assert parse_one(no_resource).resources == ()


def test_top_level_keys_are_case_insensitive() -> None:
    record = entry()
    record["insertid"] = record.pop("insertId")
    record["logname"] = record.pop("logName")
    event = parse_one(record)
    assert event.event_id == "abc123"
    assert event.details["log"] == "activity"


@pytest.mark.parametrize(
    ("email", "kind"),
    [
        ("alice@example.com", PrincipalKind.HUMAN),
        ("deployer@shop-prod.iam.gserviceaccount.com", PrincipalKind.MACHINE),
        ("123456789-compute@developer.gserviceaccount.com", PrincipalKind.MACHINE),
        ("service-123456789@gcp-sa-logging.iam.gserviceaccount.com", PrincipalKind.SERVICE),
        ("123456789@cloudservices.gserviceaccount.com", PrincipalKind.SERVICE),
        ("service-agent-manager@system.gserviceaccount.com", PrincipalKind.SERVICE),
        ("service-123@container-engine-robot.iam.gserviceaccount.com", PrincipalKind.SERVICE),
    ],
)
def test_principal_kinds(email: str, kind: PrincipalKind) -> None:
    event = parse_one(entry(authenticationInfo={"principalEmail": email}))
    assert event.principal.uid == email
    assert event.principal.kind is kind
    assert event.principal.human == (email if kind is PrincipalKind.HUMAN else None)


def test_caller_without_identity_is_unknown_but_kept() -> None:
    event = parse_one(entry(authenticationInfo={}))
    assert event.principal.uid == "unknown"
    assert event.principal.kind is PrincipalKind.UNKNOWN
    assert event.is_change is True


def test_delegation_chain_resolves_to_the_person() -> None:
    auth = {
        "principalEmail": "deployer@shop-prod.iam.gserviceaccount.com",
        "serviceAccountDelegationInfo": [
            {"firstPartyPrincipal": {"principalEmail": "bob@example.com"}},
            {"firstPartyPrincipal": {"principalEmail": "middle@shop-prod.iam.gserviceaccount.com"}},
        ],
    }
    event = parse_one(entry(authenticationInfo=auth))
    assert event.principal.uid == "deployer@shop-prod.iam.gserviceaccount.com"
    assert event.principal.kind is PrincipalKind.MACHINE
    assert event.principal.issuer == "bob@example.com"
    assert event.principal.human == "bob@example.com"
    assert event.principal.identities() == ("deployer@shop-prod.iam.gserviceaccount.com", "bob@example.com")
    assert event.principal.credential is not None
    assert event.principal.credential.kind is CredentialKind.SHORT_LIVED
    assert event.details["delegation"] == ["bob@example.com", "middle@shop-prod.iam.gserviceaccount.com"]


def test_delegation_from_a_machine_has_no_human_and_subject_form_is_stripped() -> None:
    auth = {
        "principalEmail": "target@p.iam.gserviceaccount.com",
        "serviceAccountDelegationInfo": [{"principalSubject": "serviceAccount:ci@p.iam.gserviceaccount.com"}],
    }
    principal = parse_one(entry(authenticationInfo=auth)).principal
    assert principal.issuer == "ci@p.iam.gserviceaccount.com"
    assert principal.human is None


def test_service_account_key_is_a_static_credential_id() -> None:
    key = "//iam.googleapis.com/projects/p/serviceAccounts/ci@p.iam.gserviceaccount.com/keys/0a1b2c"
    auth = {"principalEmail": "ci@p.iam.gserviceaccount.com", "serviceAccountKeyName": key}
    credential = parse_one(entry(authenticationInfo=auth)).principal.credential
    assert credential is not None
    assert credential.id == key
    assert credential.kind is CredentialKind.STATIC


@pytest.mark.parametrize(
    ("proto", "outcome", "error_code"),
    [
        ({"status": {}}, Outcome.SUCCESS, None),
        ({"status": {"code": 0}}, Outcome.SUCCESS, None),
        ({"status": {"code": 7, "message": "denied"}}, Outcome.DENIED, "PERMISSION_DENIED"),
        ({"status": {"code": 16}}, Outcome.DENIED, "UNAUTHENTICATED"),
        ({"status": {"code": "7"}}, Outcome.DENIED, "PERMISSION_DENIED"),
        ({"status": {"code": 5, "message": "not found"}}, Outcome.FAILED, "NOT_FOUND"),
        ({"status": {"code": 99}}, Outcome.FAILED, "99"),
        ({"authorizationInfo": [{"permission": "compute.instances.create", "granted": False}]}, Outcome.DENIED, None),
    ],
)
def test_outcomes(proto: dict[str, Any], outcome: Outcome, error_code: str | None) -> None:
    event = parse_one(entry(**proto))
    assert event.outcome is outcome
    if error_code is not None:
        assert event.error_code == error_code
    assert event.is_change is (outcome is Outcome.SUCCESS)


@pytest.mark.parametrize(
    ("log", "method", "is_change"),
    [
        ("activity", "v1.compute.instances.insert", True),
        ("activity", "SetIamPolicy", True),
        ("activity", "v1.compute.instances.get", False),
        ("data_access", "storage.objects.create", True),
        ("data_access", "storage.objects.delete", True),
        ("data_access", "storage.objects.get", False),
        ("data_access", "jobservice.insert", False),
        ("data_access", "google.cloud.bigquery.v2.JobService.InsertJob", False),
        ("system_event", "v1.compute.instances.migrateOnHostMaintenance", False),
        ("system_event", "v1.compute.instances.stop", False),
        ("policy", "google.storage.objects.delete", False),
        ("activity", "DestroyCryptoKeyVersion", True),
        ("data_access", "SignJwt", False),
    ],
)
def test_which_entries_are_changes(log: str, method: str, is_change: bool) -> None:
    record = entry(methodName=method)
    record["logName"] = f"projects/shop-prod/logs/cloudaudit.googleapis.com%2F{log}"
    event = parse_one(record)
    assert event.details["log"] == log
    assert event.is_change is is_change


def test_entry_without_log_name_is_judged_like_activity() -> None:
    record = entry()
    del record["logName"]
    event = parse_one(record)
    assert "log" not in event.details
    assert event.is_change is True


def test_slash_log_name_form() -> None:
    record = entry()
    record["logName"] = "projects/shop-prod/logs/cloudaudit.googleapis.com/activity"
    assert parse_one(record).details["log"] == "activity"


def test_long_running_operation_counts_its_first_entry_once() -> None:
    first, last, single = entry(), entry(), entry()
    first["operation"] = {"id": "op-1", "producer": "compute.googleapis.com", "first": True}
    last["operation"] = {"id": "op-1", "producer": "compute.googleapis.com", "last": True}
    last["insertId"] = "abc124"
    single["operation"] = {"id": "op-2", "producer": "compute.googleapis.com", "first": True, "last": True}
    assert parse_one(first).is_change is True
    completion = parse_one(last)
    assert completion.is_change is False
    assert completion.details["operation"] == {"id": "op-1", "first": False, "last": True}
    assert parse_one(single).is_change is True


SET_IAM_POLICY = {
    "serviceName": "cloudresourcemanager.googleapis.com",
    "methodName": "SetIamPolicy",
    "resourceName": "projects/shop-prod",
    "serviceData": {
        "@type": "type.googleapis.com/google.iam.v1.logging.AuditData",
        "policyDelta": {
            "bindingDeltas": [
                {"action": "ADD", "role": "roles/owner", "member": "user:mallory@example.com"},
                {
                    "action": "ADD",
                    "role": "roles/editor",
                    "member": "serviceAccount:ci@p.iam.gserviceaccount.com",
                },
                {"action": "ADD", "role": "roles/viewer", "member": "group:auditors@example.com"},
                {"action": "ADD", "role": "roles/storage.objectViewer", "member": "allUsers"},
                {"action": "REMOVE", "role": "roles/owner", "member": "user:old@example.com"},
                {"action": "ADD", "role": "roles/owner"},
                "junk",
            ]
        },
    },
}


def test_set_iam_policy_grants_one_per_added_binding() -> None:
    event = parse_one(entry(**SET_IAM_POLICY))
    assert event.action == "gcp:SetIamPolicy"
    assert event.is_change is True
    assert [(g.grantee, g.privilege, g.grantee_kind) for g in event.grants] == [
        ("mallory@example.com", "roles/owner", PrincipalKind.HUMAN),
        ("ci@p.iam.gserviceaccount.com", "roles/editor", PrincipalKind.MACHINE),
        ("group:auditors@example.com", "roles/viewer", PrincipalKind.UNKNOWN),
        ("allUsers", "roles/storage.objectViewer", PrincipalKind.UNKNOWN),
    ]


def test_denied_set_iam_policy_grants_nothing() -> None:
    event = parse_one(entry(**SET_IAM_POLICY, status={"code": 7}))
    assert event.outcome is Outcome.DENIED
    assert event.grants == ()
    assert event.is_change is False


def test_bigquery_dataset_binding_deltas() -> None:
    metadata = {
        "datasetChange": {
            "bindingDeltas": [{"action": "ADD", "role": "roles/bigquery.dataViewer", "member": "user:eve@example.com"}]
        }
    }
    event = parse_one(entry(methodName="google.iam.v1.IAMPolicy.SetIamPolicy", metadata=metadata))
    assert [(g.grantee, g.privilege) for g in event.grants] == [("eve@example.com", "roles/bigquery.dataViewer")]


def test_details_are_redacted() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
    event = parse_one(entry(status={"code": 3, "message": f"bad token {token}"}))
    assert token not in event.model_dump_json()
    assert "[REDACTED]" in event.details["status_message"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r.pop("insertId"), RejectReason.MISSING_FIELD),
        (lambda r: r.pop("timestamp"), RejectReason.MISSING_FIELD),
        (lambda r: r.update(timestamp="yesterday"), RejectReason.BAD_TIME),
        (lambda r: r.update(timestamp=["2024"]), RejectReason.BAD_TIME),
        (lambda r: r["protoPayload"].pop("methodName"), RejectReason.MISSING_FIELD),
        (lambda r: r["protoPayload"].update(methodName={"x": 1}), RejectReason.INVALID_VALUE),
        (lambda r: r.update(protoPayload="text"), RejectReason.WRONG_SHAPE),
    ],
)
def test_partial_or_swapped_entries_are_rejected(mutate: Any, reason: RejectReason) -> None:
    record = entry()
    mutate(record)
    assert reject(record) is reason


def test_matches_is_specific() -> None:
    assert gcp.matches(entry())
    gke = entry(serviceName="k8s.io", methodName="io.k8s.core.v1.pods.create")
    assert not gcp.matches(gke)
    cloudtrail = {"eventVersion": "1.08", "eventSource": "iam.amazonaws.com", "eventName": "CreateUser"}
    assert not gcp.matches(cloudtrail)
    azure = {"operationName": "Microsoft.Compute/virtualMachines/write", "time": "2024-01-01T00:00:00Z"}
    assert not gcp.matches(azure)
    assert not gcp.matches({"methodName": "v1.compute.firewalls.insert"})


# --- junk: shared by the k8s and azure tests ------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=20)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Arbitrary JSON documents orjson can serialise."""
    return st.recursive(
        _SCALARS,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
        max_leaves=max_leaves,
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


@st.composite
def mutated(draw: st.DrawFn, fixture: Any) -> Any:
    """`fixture` with a few of its fields deleted, type-swapped, or its JSON-string values truncated."""
    record = copy.deepcopy(fixture)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(record)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = record
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["delete", "swap", "truncate"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "swap" or not isinstance(parent[path[-1]], str):
            parent[path[-1]] = draw(json_values(max_leaves=5))
        else:
            text = parent[path[-1]]
            parent[path[-1]] = text[: draw(st.integers(min_value=0, max_value=max(len(text) - 1, 0)))]
    return record


def assert_survives(record: Any, sources: tuple[str, ...], source: Source) -> None:
    """Objects or rejections, never an exception, never a processing error; a lone record gives one of them."""
    result = parse_document(orjson.dumps(record), ParseContext(), sources=sources)
    if isinstance(record, dict):
        assert result.items or result.rejections
    assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in result.rejections), result.rejections
    for item in result.items:
        assert isinstance(item, ChangeEvent)
        assert item.source is source


JUNK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@JUNK
@given(json_values())
def test_arbitrary_json_never_crashes(value: Any) -> None:
    assert_survives(value, ("gcp",), Source.GCP)


@JUNK
@given(mutated(entry(**SET_IAM_POLICY)))
def test_mutated_set_iam_policy_never_crashes(record: Any) -> None:
    assert_survives(record, ("gcp",), Source.GCP)


@JUNK
@given(
    mutated(
        entry(
            authenticationInfo={
                "principalEmail": "sa@p.iam.gserviceaccount.com",
                "serviceAccountDelegationInfo": [{"firstPartyPrincipal": {"principalEmail": "a@example.com"}}],
            },
            status={"code": 7, "message": "no"},
            authorizationInfo=[{"granted": False, "permission": "x"}],
        )
        | {"operation": {"id": "op", "first": True}}
    )
)
def test_mutated_entry_never_crashes(record: Any) -> None:
    assert_survives(record, ("gcp",), Source.GCP)

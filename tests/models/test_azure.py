"""Azure Activity Log parser: REST/portal and Event Hub shapes, statuses, identities, grants, and junk."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given

from models.config import EnvironmentConfig, EnvironmentSelectors
from models.events import ChangeEvent, Outcome, PrincipalKind, Source
from models.parsers import azure, detect, parse_document
from models.parsers.base import ParseContext
from models.rejection import RejectReason
from tests.models.parsing import single_event, single_rejection
from tests.models.test_gcp import JUNK, assert_survives, json_values, mutated

RECEIVED = datetime(2024, 5, 1, 12, 0, 9, tzinfo=UTC)
CTX = ParseContext(received_time=RECEIVED, origin="topic-azure")
SUB = "7E1D2C3B-0000-4000-8000-00000000ABCD"
NSG = f"/subscriptions/{SUB}/resourceGroups/Shop-RG/providers/Microsoft.Network/networkSecurityGroups/Web-NSG"
UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def rest(**overrides: Any) -> dict[str, Any]:
    """A REST/portal Activity Log event: a person updating a network security group."""
    record: dict[str, Any] = {
        "authorization": {"action": "Microsoft.Network/networkSecurityGroups/write", "scope": NSG},
        "caller": "rob@contoso.com",
        "channels": "Operation",
        "claims": {
            UPN: "rob@contoso.com",
            "name": "Rob Robertson",
            "appid": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
            "ipaddr": "203.0.113.20",
            "aio": "A3GgTJdwK4vy7Fa7l6DgJC2mI0GX44tML385OpU1Q+z+jaPnFMwB",
            "uti": "IdP3SUJGtkGlt7dDQVRPAA",
            "http://schemas.microsoft.com/identity/claims/objectidentifier": "f409edeb-4d29-44b5-9763-ee9348ad91bb",
            "http://schemas.microsoft.com/identity/claims/tenantid": "aaaabbbb-0000-cccc-1111-dddd2222eeee",
            "xms_cc": JWT,
        },
        "correlationId": "aaaa0000-bb11-2222-33cc-444444dddddd",
        "eventDataId": "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e",
        "eventName": {"value": "EndRequest", "localizedValue": "End request"},
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "eventTimestamp": "2024-05-01T12:00:00.1234567Z",
        "level": "Informational",
        "operationId": "04e575f8-48d0-4c43-a8b3-78c4eb01d287",
        "operationName": {
            "value": "Microsoft.Network/networkSecurityGroups/write",
            "localizedValue": "Create or Update Network Security Group",
        },
        "resourceId": NSG,
        "status": {"value": "Succeeded", "localizedValue": "Succeeded"},
        "subStatus": {"value": "", "localizedValue": ""},
        "submissionTimestamp": "2024-05-01T12:00:20Z",
        "subscriptionId": SUB,
        "properties": {"statusCode": "Created", "requestbody": "", "responseBody": ""},
    }
    record.update(overrides)
    return record


def hub(**overrides: Any) -> dict[str, Any]:
    """An Event Hub / storage record: the same kind of change in the resource-log schema."""
    record: dict[str, Any] = {
        "time": "2024-05-01T12:00:00.1234567Z",
        "resourceId": NSG.upper(),
        "operationName": "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WRITE",
        "category": "Administrative",
        "resultType": "Success",
        "resultSignature": "Succeeded.Created",
        "durationMs": 2826,
        "callerIpAddress": "203.0.113.21",
        "correlationId": "bbbb0000-bb11-2222-33cc-444444dddddd",
        "identity": {
            "authorization": {
                "scope": NSG,
                "action": "Microsoft.Network/networkSecurityGroups/write",
                "evidence": {
                    "role": "Network Contributor",
                    "roleAssignmentId": "123abc2a6c314b0ab03a891259123abc",
                    "principalId": "0d3b2a1c-1111-2222-3333-444455556666",
                    "principalType": "User",
                },
            },
            "claims": {UPN: "admin@contoso.com", "name": "John Smith", "aio": "secret-ish-aio-value"},
        },
        "level": "Information",
        "location": "westeurope",
        "properties": {"statusCode": "Created", "serviceRequestId": "12345678-8ca0-47ad-9b80-6cde2207f97c"},
    }
    record.update(overrides)
    return record


def role_assignment(body: Any, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "operationName": "Microsoft.Authorization/roleAssignments/write",
        "resourceId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/ra-1",
        "resultSignature": "Succeeded.Created",
        "properties": {"requestbody": body},
    }
    fields.update(overrides)
    return hub(**fields)


def assignment_body(principal: str, role: str, principal_type: str = "ServicePrincipal") -> str:
    properties = {"PrincipalId": principal, "PrincipalType": principal_type, "RoleDefinitionId": role, "Scope": "/"}
    return orjson.dumps({"Id": "ra-1", "Properties": properties}).decode()


def parse_one(record: Any, ctx: ParseContext = CTX) -> ChangeEvent:
    return single_event(record, "azure", ctx)


def rejection(record: Any) -> tuple[RejectReason, str]:
    refused = single_rejection(record, "azure", CTX)
    return refused.reason, refused.detail


# --- shapes -------------------------------------------------------------------------------------------


def test_rest_event_maps_every_field() -> None:
    event = parse_one(rest())
    assert event.source is Source.AZURE
    assert event.event_id == "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
    assert event.event_time == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert event.received_time == RECEIVED
    assert event.action == "microsoft.network/networksecuritygroups/write"
    assert event.resources == (NSG.lower(),)
    assert event.scope.account == SUB.lower()
    assert event.environment == "production"
    assert (event.principal.uid, event.principal.kind) == ("rob@contoso.com", PrincipalKind.HUMAN)
    assert (event.principal.name, event.principal.human) == ("Rob Robertson", "rob@contoso.com")
    assert (event.outcome, event.error_code, event.is_change) == (Outcome.SUCCESS, None, True)
    assert event.source_ip == "203.0.113.20"
    assert event.raw_ref is not None
    assert (event.raw_ref.origin, event.raw_ref.index) == ("topic-azure", 0)
    assert event.details["shape"] == "rest"
    assert event.details["category"] == "Administrative"
    assert event.details["status"] == "Succeeded"
    assert event.details["correlation_id"] == "aaaa0000-bb11-2222-33cc-444444dddddd"
    assert event.details["app_id"] == "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"


def test_event_hub_record_maps_every_field() -> None:
    event = parse_one(hub())
    assert event.event_id.startswith("azure-")
    assert event.event_id == parse_one(hub()).event_id
    assert event.action == "microsoft.network/networksecuritygroups/write"
    assert event.resources == (NSG.lower(),)
    assert (event.scope.account, event.scope.region) == (SUB.lower(), "westeurope")
    assert (event.principal.uid, event.principal.kind, event.principal.name) == (
        "admin@contoso.com",
        PrincipalKind.HUMAN,
        "John Smith",
    )
    assert event.source_ip == "203.0.113.21"
    assert event.is_change is True
    assert event.details["shape"] == "eventhub"
    assert event.details["caller_role"] == "Network Contributor"


def test_operation_names_and_resource_ids_are_case_insensitive() -> None:
    upper = parse_one(hub())
    mixed = parse_one(hub(operationName="Microsoft.Network/networkSecurityGroups/write", resourceId=NSG))
    assert upper.action == mixed.action == "microsoft.network/networksecuritygroups/write"
    assert upper.resources == mixed.resources


def test_environment_resolves_on_subscription_ignoring_case() -> None:
    environments = EnvironmentConfig(environments={"staging": EnvironmentSelectors(subscriptions=(SUB,))})
    assert parse_one(hub(), ParseContext(environments=environments)).environment == "staging"


def test_subscription_from_resource_id_and_missing_resource() -> None:
    record = rest()
    del record["subscriptionId"]
    assert parse_one(record).scope.account == SUB.lower()
    bare = rest()
    del bare["resourceId"], bare["subscriptionId"]
    event = parse_one(bare)
    assert (event.resources, event.scope.account) == ((), None)


def test_stable_ids_distinguish_the_entries_of_one_operation() -> None:
    started = parse_one(hub(resultType="Start"))
    succeeded = parse_one(hub())
    assert started.event_id != succeeded.event_id
    with_id = parse_one(hub(properties={"eventDataId": "given-id"}))
    assert with_id.event_id == "given-id"


# --- statuses -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "outcome", "error_code", "terminal"),
    [
        ({"status": {"value": "Succeeded"}}, Outcome.SUCCESS, None, True),
        ({"status": {"value": "Started"}}, Outcome.SUCCESS, None, False),
        ({"status": {"value": "Accepted"}}, Outcome.SUCCESS, None, False),
        ({"status": {"value": "Failed"}, "subStatus": {"value": "Forbidden"}}, Outcome.DENIED, "Forbidden", True),
        ({"status": {"value": "Failed"}, "subStatus": {"value": "Conflict"}}, Outcome.FAILED, "Conflict", True),
        ({"status": {"value": "Failed"}, "subStatus": {"value": ""}}, Outcome.FAILED, "Created", True),
        ({"status": {"value": "Canceled"}}, Outcome.FAILED, "Created", True),
        ({"status": None}, Outcome.SUCCESS, None, True),
    ],
)
def test_rest_statuses(fields: dict[str, Any], outcome: Outcome, error_code: str | None, terminal: bool) -> None:
    event = parse_one(rest(**fields))
    assert event.outcome is outcome
    assert event.error_code == error_code
    assert event.is_change is (terminal and outcome is Outcome.SUCCESS)


@pytest.mark.parametrize(
    ("fields", "outcome", "is_change"),
    [
        ({"resultType": "Success"}, Outcome.SUCCESS, True),
        ({"resultType": "Succeeded"}, Outcome.SUCCESS, True),
        ({"resultType": "Start"}, Outcome.SUCCESS, False),
        ({"resultType": "Accept"}, Outcome.SUCCESS, False),
        ({"resultType": "Failure", "resultSignature": "403"}, Outcome.DENIED, False),
        ({"resultType": "Failed", "resultSignature": "401"}, Outcome.DENIED, False),
        ({"resultType": "Failed", "resultSignature": "Failed.Conflict", "properties": {}}, Outcome.FAILED, False),
        (
            {"resultType": "Failed", "resultSignature": None, "properties": {"statusCode": "Forbidden"}},
            Outcome.DENIED,
            False,
        ),
        (
            {
                "resultType": "Failed",
                "resultSignature": None,
                "properties": {"statusCode": "BadRequest", "statusMessage": '{"error":{"code":"AuthorizationFailed"}}'},
            },
            Outcome.DENIED,
            False,
        ),
    ],
)
def test_event_hub_statuses(fields: dict[str, Any], outcome: Outcome, is_change: bool) -> None:
    event = parse_one(hub(**fields))
    assert event.outcome is outcome
    assert event.is_change is is_change


def test_started_then_succeeded_is_one_change() -> None:
    records = [hub(resultType="Start"), hub(resultType="Success")]
    result = parse_document(orjson.dumps({"records": records}), CTX)
    events = [e for e in result.items if isinstance(e, ChangeEvent)]
    assert [(e.details["status"], e.is_change) for e in events] == [("Start", False), ("Success", True)]


@pytest.mark.parametrize(
    ("category", "operation", "is_change"),
    [
        ("Administrative", "Microsoft.Compute/virtualMachines/delete", True),
        ("Write", "Microsoft.Compute/virtualMachines/write", True),
        (None, "Microsoft.Compute/virtualMachines/restart/action", True),
        ("Administrative", "Microsoft.Compute/virtualMachines/read", False),
        ("Administrative", "Microsoft.Storage/storageAccounts/listKeys/action", False),
        ("Administrative", "Microsoft.KeyVault/vaults/secrets/getSecret/action", False),
        ("Administrative", "Microsoft.Compute/disks/beginGetAccess/action", False),
        ("Policy", "Microsoft.Authorization/policies/audit/action", False),
        ("ServiceHealth", "Microsoft.ServiceHealth/incident/action", False),
        ("Alert", "Microsoft.Insights/AlertRules/Activated/Action", False),
    ],
)
def test_which_entries_are_changes(category: str | None, operation: str, is_change: bool) -> None:
    record = hub(operationName=operation, category=category)
    if category is None:
        del record["category"]
    assert parse_one(record).is_change is is_change


# --- identities ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "uid", "kind", "issuer"),
    [
        ({"caller": "rob@contoso.com"}, "rob@contoso.com", PrincipalKind.HUMAN, None),
        ({"caller": "9f0b2c1d-aaaa-bbbb-cccc-0123456789ab", "claims": {"appid": "9f0b2c1d"}},
         "9f0b2c1d-aaaa-bbbb-cccc-0123456789ab", PrincipalKind.MACHINE, None),
        ({"caller": None, "claims": {"appid": "app-1", "idtyp": "app"}}, "app-1", PrincipalKind.MACHINE, None),
        ({"caller": None, "claims": {"appid": "app-2"}}, "app-2", PrincipalKind.MACHINE, None),
        ({"caller": "5e5e5e5e-0000-1111-2222-333344445555",
          "claims": {"xms_mirid": "/subscriptions/S/providers/Microsoft.ManagedIdentity/userAssignedIdentities/Fixer"}},
         "5e5e5e5e-0000-1111-2222-333344445555", PrincipalKind.MACHINE,
         "/subscriptions/s/providers/microsoft.managedidentity/userassignedidentities/fixer"),
        ({"caller": None, "claims": {}, "authorization": {"evidence": {"principalId": "p-1", "principalType": "User"}}},
         "p-1", PrincipalKind.HUMAN, None),
        ({"caller": None, "claims": {},
          "authorization": {"evidence": {"principalId": "p-2", "principalType": "ServicePrincipal"}}},
         "p-2", PrincipalKind.MACHINE, None),
        ({"caller": "Microsoft.Advisor", "claims": {}}, "Microsoft.Advisor", PrincipalKind.UNKNOWN, None),
        ({"caller": None, "claims": None}, "unknown", PrincipalKind.UNKNOWN, None),
    ],
)  # fmt: skip
def test_principals(fields: dict[str, Any], uid: str, kind: PrincipalKind, issuer: str | None) -> None:
    record = {k: v for k, v in rest(**fields).items() if v is not None}
    principal = parse_one(record).principal
    assert (principal.uid, principal.kind, principal.issuer) == (uid, kind, issuer)
    assert principal.human == (uid if kind is PrincipalKind.HUMAN and "@" in uid else None)


def test_claims_token_material_is_not_kept() -> None:
    dumped = parse_one(rest()).model_dump_json()
    for value in (JWT, "A3GgTJdwK4vy7Fa7l6DgJC2mI0GX44tML385OpU1Q+z+jaPnFMwB", "IdP3SUJGtkGlt7dDQVRPAA"):
        assert value not in dumped
    assert "secret-ish-aio-value" not in parse_one(hub()).model_dump_json()


def test_kept_details_are_redacted() -> None:
    event = parse_one(rest(correlationId=f"Bearer {JWT}"))
    assert JWT not in event.model_dump_json()


# --- grants -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "privilege"),
    [
        (f"/providers/Microsoft.Authorization/roleDefinitions/{OWNER}", "Owner"),
        ("/subscriptions/S/providers/Microsoft.Authorization/roleDefinitions/B24988AC-6180-42A0-AB88-20F7382DD24C",
         "Contributor"),
        ("/providers/Microsoft.Authorization/roleDefinitions/18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
         "User Access Administrator"),
        ("/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
         "acdd72a7-3385-48ef-bd42-f606fba81ae7"),
    ],
)  # fmt: skip
def test_role_assignment_grants(role: str, privilege: str) -> None:
    event = parse_one(role_assignment(assignment_body("770797c4-e05a-43f9-bda2-1f1f379987ae", role)))
    assert event.action == azure.ROLE_ASSIGNMENT_WRITE
    assert event.is_change is True
    assert [(g.grantee, g.privilege, g.grantee_kind) for g in event.grants] == [
        ("770797c4-e05a-43f9-bda2-1f1f379987ae", privilege, PrincipalKind.MACHINE)
    ]
    # The evidence names the caller's own assignment, never the grantee.
    assert event.principal.uid == "admin@contoso.com"


def test_role_assignment_body_forms() -> None:
    as_object = {"properties": {"principalId": "u-1", "principalType": "User", "roleDefinitionId": OWNER}}
    assert [(g.grantee, g.grantee_kind) for g in parse_one(role_assignment(as_object)).grants] == [
        ("u-1", PrincipalKind.HUMAN)
    ]
    response = role_assignment(
        "", properties={"requestbody": "", "responseBody": assignment_body("g-1", OWNER, "Group")}
    )
    assert [(g.grantee, g.privilege, g.grantee_kind) for g in parse_one(response).grants] == [
        ("g-1", "Owner", PrincipalKind.UNKNOWN)
    ]
    named = {"properties": {"principalId": "u-2", "roleDefinitionId": "x/custom-guid", "roleDefinitionName": "Reader"}}
    assert [g.privilege for g in parse_one(role_assignment(named)).grants] == ["Reader"]


@pytest.mark.parametrize(
    "fields",
    [
        {"resultType": "Failed", "resultSignature": "403"},
        {"resultType": "Start"},
        {"operationName": "Microsoft.Authorization/roleAssignments/delete"},
        {"properties": {"requestbody": "{not json"}},
        {"properties": {"requestbody": '{"Properties": {"PrincipalId": "x"}}'}},
        {"properties": "text"},
    ],
)
def test_no_grant_without_a_successful_complete_assignment(fields: dict[str, Any]) -> None:
    body = fields.pop("body", assignment_body("p", OWNER))
    assert parse_one(role_assignment(body, **fields)).grants == ()


# --- rejections, recognition, envelopes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "reason", "field"),
    [
        (lambda r: r.pop("operationName"), RejectReason.WRONG_SHAPE, "azure"),
        (lambda r: r.update(operationName={"value": None}), RejectReason.INVALID_VALUE, "operationName"),
        (lambda r: r.update(operationName={"localizedValue": "x"}), RejectReason.INVALID_VALUE, "operationName"),
        (lambda r: r.update(operationName=["Microsoft.X/y/write"]), RejectReason.INVALID_VALUE, "operationName"),
        (lambda r: r.pop("eventTimestamp"), RejectReason.MISSING_FIELD, "eventTimestamp"),
        (lambda r: r.update(eventTimestamp="last tuesday"), RejectReason.BAD_TIME, "eventTimestamp"),
        (lambda r: r.update(eventTimestamp={"t": 1}), RejectReason.BAD_TIME, "eventTimestamp"),
    ],
)
def test_partial_or_swapped_records_are_rejected(mutate: Any, reason: RejectReason, field: str) -> None:
    record = rest()
    mutate(record)
    got, detail = rejection(record)
    assert got is reason
    assert field in detail


def test_storage_resource_logs_are_named_not_unknown() -> None:
    blob = {
        "time": "2024-12-19T16:37:59.255Z",
        "resourceId": f"/subscriptions/{SUB}/providers/Microsoft.Storage/storageAccounts/sa/blobServices/default",
        "operationName": "DeleteBlob",
        "category": "StorageDelete",
        "properties": {"objectKey": "/sa/c/blob.txt"},
    }
    reason, detail = rejection(blob)
    assert reason is RejectReason.WRONG_SHAPE
    assert "StorageDelete" in detail


def test_matches_is_specific() -> None:
    assert azure.matches(rest())
    assert azure.matches(hub())
    aks = {
        "category": "kube-audit",
        "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
        "properties": {"log": "{}"},
    }
    assert not azure.matches(aks)
    parser = detect(aks)
    assert parser is not None
    assert parser.NAME == "k8s"
    for record in (
        {"eventVersion": "1.08", "eventSource": "iam.amazonaws.com", "eventName": "CreateRole", "eventTime": "x"},
        {"insertId": "x", "protoPayload": {"methodName": "SetIamPolicy"}, "timestamp": "x"},
        {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "x", "verb": "get"},
        {"operationName": "Microsoft.Compute/virtualMachines/write"},
    ):
        assert not azure.matches(record)


@pytest.mark.parametrize("record", [rest(), hub()])
def test_auto_detection_picks_azure(record: dict[str, Any]) -> None:
    parser = detect(record)
    assert parser is not None
    assert parser.NAME == "azure"


def test_records_envelope() -> None:
    result = parse_document(orjson.dumps({"records": [hub(), rest(), {"time": "x"}]}), CTX)
    events = [e for e in result.items if isinstance(e, ChangeEvent)]
    assert [(e.source, e.raw_ref.index if e.raw_ref else None) for e in events] == [
        (Source.AZURE, 0),
        (Source.AZURE, 1),
    ]
    assert [(r.reason, r.index) for r in result.rejections] == [(RejectReason.UNKNOWN_SOURCE, 2)]


# --- junk ---------------------------------------------------------------------------------------------


@JUNK
@given(json_values())
def test_arbitrary_json_never_crashes(value: Any) -> None:
    assert_survives(value, ("azure",), Source.AZURE)


@JUNK
@given(mutated(rest(status={"value": "Failed"}, subStatus={"value": "Forbidden"})))
def test_mutated_rest_event_never_crashes(record: Any) -> None:
    assert_survives(record, ("azure",), Source.AZURE)


@JUNK
@given(mutated(role_assignment(assignment_body("p", OWNER), claims={"xms_mirid": "/x", "idtyp": "app"})))
def test_mutated_role_assignment_never_crashes(record: Any) -> None:
    assert_survives(record, ("azure",), Source.AZURE)

"""Every Azure Activity Log sample parses or is rejected with a reason: Panther's azure_activity_rules
(Event Hub / storage record shape) and the two Microsoft documentation samples (REST/portal shape, and
the `{"records": [...]}` export).

Panther's records carry no eventDataId and mostly no caller identity: they get stable ids and the
`unknown` principal. Eleven are Azure Storage resource logs (StorageRead/StorageWrite/StorageDelete,
operations like `DeleteBlob`) filed under the same LogType: not Activity Log, rejected as wrong_shape.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest

from models.events import ChangeEvent, Outcome, PrincipalKind, Source
from models.parsers import detect, parse_document
from models.parsers.base import ParseContext
from models.rejection import RejectReason
from tests.conformance.outcomes import Outcomes, folder_outcomes
from tests.samples import require_samples

FOLDER = "azure_activity_rules"


@pytest.fixture(scope="module")
def outcomes() -> dict[tuple[str, str], Outcomes]:
    return folder_outcomes(FOLDER)


def test_every_case_parses_or_is_rejected_with_a_reason(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    assert len(outcomes) == 103
    for key, outcome in outcomes.items():
        assert outcome.case.log_types == ("Azure.MonitorActivity",)
        assert len(outcome.events) + len(outcome.rejections) == 1, key
        assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in outcome.rejections), key
        assert all(r.detail for r in outcome.rejections), key


def test_every_case_reaches_the_azure_parser(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    for key, outcome in outcomes.items():
        assert outcome.detected == "azure", key
        assert all(e.source is Source.AZURE for e in outcome.events), key


def test_counts(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    counts: Counter[tuple[str | None, str]] = Counter()
    for outcome in outcomes.values():
        counts.update((outcome.detected, "parsed") for _ in outcome.events)
        counts.update((outcome.detected, r.reason.value) for r in outcome.rejections)
    assert counts == {("azure", "parsed"): 92, ("azure", RejectReason.WRONG_SHAPE.value): 11}
    storage = [o for o in outcomes.values() if o.rejections]
    assert {o.case.log.get("category") for o in storage} == {"StorageRead", "StorageWrite", "StorageDelete", None}
    assert all("/" not in o.case.log["operationName"] for o in storage)
    events = [e for o in outcomes.values() for e in o.events]
    assert sum(e.is_change for e in events) == 79
    assert Counter(e.outcome for e in events) == {Outcome.SUCCESS: 89, Outcome.DENIED: 3}
    assert Counter(e.principal.kind for e in events) == {
        PrincipalKind.UNKNOWN: 84,
        PrincipalKind.HUMAN: 6,
        PrincipalKind.MACHINE: 2,
    }
    # Stable ids hash correlationId, operation, status, time and resource. Panther reuses one such tuple for
    # differently-enriched variants in 5 cases (e.g. "Soft Delete Enabled" in two files): those share ids.
    assert len({e.event_id for e in events}) == len(events) - 5


def one(outcomes: dict[tuple[str, str], Outcomes], file: str, name: str) -> ChangeEvent:
    outcome = outcomes[(file, name)]
    assert outcome.rejections == []
    return outcome.events[0]


def test_case_insensitive_operations(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    upper = one(outcomes, "azure_automation_account_created.yml", "Automation Account Created Successfully")
    lower = one(outcomes, "azure_automation_account_created.yml", "Automation Account Created Case Insensitive")
    assert upper.action == lower.action == "microsoft.automation/automationaccounts/write"
    assert upper.is_change
    assert lower.is_change
    assert upper.resources == (
        "/subscriptions/12345678-1234-1234-1234-123456789abc/resourcegroups/automation-rg/providers"
        "/microsoft.automation/automationaccounts/malicious-automation",
    )
    assert upper.scope.account == "12345678-1234-1234-1234-123456789abc"
    assert upper.event_id.startswith("azure-")


def test_owner_role_assignment_grant(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    event = one(outcomes, "azure_role_assignment_privileged_or_elevated.yml", "Owner Role Assignment")
    assert event.action == "microsoft.authorization/roleassignments/write"
    assert event.is_change is True
    assert [(g.grantee, g.privilege, g.grantee_kind) for g in event.grants] == [
        ("770797c4-e05a-43f9-bda2-1f1f379987ae", "Owner", PrincipalKind.MACHINE)
    ]
    # identity.authorization.evidence is the caller's own (Owner) assignment: it names the caller.
    assert (event.principal.uid, event.principal.kind) == ("6b6d44f0-b13a-46a0-bfde-161324d4c34d", PrincipalKind.HUMAN)
    other = one(outcomes, "azure_role_assignment_privileged_or_elevated.yml", "Non-Privileged Role Assignment")
    assert [g.privilege for g in other.grants] == ["acdd72a7-3385-48ef-bd42-f606fba81ae7"]


def test_denied_and_read_operations_are_not_changes(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    lock = one(outcomes, "azure_resource_lock_deleted.yml", "Failed Lock Deletion")
    assert (lock.outcome, lock.error_code, lock.is_change) == (Outcome.DENIED, "403", False)
    keys = one(outcomes, "azure_storage_account_keys_listed.yml", "Storage Account Keys Listed")
    assert (keys.action, keys.is_change) == ("microsoft.storage/storageaccounts/listkeys/action", False)
    secret = one(outcomes, "azure_keyvault_secret_accessed_or_recovered.yml", "Secret Accessed")
    assert secret.is_change is False
    assert (secret.principal.uid, secret.principal.kind) == (
        "12345678-1234-1234-1234-123456789abc",
        PrincipalKind.MACHINE,
    )
    recovered = one(outcomes, "azure_keyvault_secret_accessed_or_recovered.yml", "Soft-Deleted Secret Recovered")
    assert recovered.is_change is True


def test_identity_claims_and_rest_operation_object(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    lock = one(outcomes, "azure_resource_lock_deleted.yml", "Resource Lock Deleted Successfully")
    assert (lock.principal.uid, lock.principal.kind, lock.principal.human) == (
        "compromised-admin@company.com",
        PrincipalKind.HUMAN,
        "compromised-admin@company.com",
    )
    elevate = one(
        outcomes, "azure_role_assignment_privileged_or_elevated.yml", "Elevate Access to All Azure Subscriptions"
    )
    assert elevate.action == "microsoft.authorization/elevateaccess/action"
    assert elevate.is_change is True
    assert elevate.scope.account is None


def test_storage_resource_log_rejection_names_it(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    blob = outcomes[("azure_storage_blob_bulk_deletion.yml", "Successful Blob Deletion")]
    assert [r.reason for r in blob.rejections] == [RejectReason.WRONG_SHAPE]
    assert "deleteblob" in blob.rejections[0].detail
    assert "StorageWrite" in blob.rejections[0].detail


# --- Microsoft's documentation samples ----------------------------------------------------------------


def docs_sample(name: str) -> bytes:
    return (require_samples() / "azure-monitor-docs-activity-log" / name).read_bytes()


def parse_docs(name: str) -> ChangeEvent:
    data = docs_sample(name)
    result = parse_document(data, ParseContext(origin=name))
    assert result.rejections == []
    assert len(result.items) == 1
    event = result.items[0]
    assert isinstance(event, ChangeEvent)
    assert event.source is Source.AZURE
    return event


def test_docs_rest_sample() -> None:
    event = parse_docs("administrative_category_rest_api_sample.json")
    parser = detect(orjson.loads(docs_sample("administrative_category_rest_api_sample.json")))
    assert parser is not None
    assert parser.NAME == "azure"
    assert event.event_id == "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
    assert event.event_time == datetime(2018, 1, 29, 20, 42, 31, 381067, tzinfo=UTC)
    assert event.action == "microsoft.network/networksecuritygroups/write"
    assert (event.principal.uid, event.principal.kind, event.principal.name) == (
        "rob@contoso.com",
        PrincipalKind.HUMAN,
        "Rob Robertson",
    )
    assert (event.outcome, event.is_change) == (Outcome.SUCCESS, True)
    assert event.source_ip == "111.111.1.111"
    assert event.details["shape"] == "rest"
    # Token-ish claims of the sample (aio, uti, nameidentifier) are not carried over.
    dumped = event.model_dump_json()
    for value in ("A3GgTJdwK4vy7Fa7l6DgJC2mI0GX44tML385OpU1Q", "IdP3SUJGtkGlt7dDQVRPAA", "b-24Jf94A3FH2sHWVIFqO3"):
        assert value not in dumped


def test_docs_records_sample() -> None:
    event = parse_docs("storage_eventhub_resource_log_schema_sample.json")
    assert event.event_id.startswith("azure-")
    assert event.action == "microsoft.support/supporttickets/write"
    assert event.resources == (
        "/subscriptions/s1/resourcegroups/mssupportgroup/providers/microsoft.support/supporttickets/123456112305841",
    )
    assert (event.principal.uid, event.principal.name) == ("admin@contoso.com", "John Smith")
    assert event.scope.account == "s1"
    assert event.details["shape"] == "eventhub"
    assert event.details["caller_role"] == "Azure Eventhubs Service Role"
    assert event.is_change is True

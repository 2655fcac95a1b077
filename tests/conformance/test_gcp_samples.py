"""Every GCP Cloud Audit LogEntry in Panther's gcp_audit_rules parses or is rejected with a reason.

Panther's tests trim many entries to the fields one rule reads (no insertId, no timestamp, no
protoPayload at all): those are partial records and must be rejected as such, never crash a parser.
The counts below were checked case by case; a change in them is a change in parser behaviour.
"""

from __future__ import annotations

from typing import Any

import pytest

from models.events import ChangeEvent, CredentialKind, Outcome, PrincipalKind
from models.rejection import RejectReason
from tests.conformance.outcomes import Outcomes, folder_outcomes, tally

FOLDER = "gcp_audit_rules"


def expected_source(log: Any) -> str | None:
    """Which parser a record belongs to, from its shape alone (independent of the parsers' own checks)."""
    if not isinstance(log, dict):
        return None
    proto = next((v for k, v in log.items() if k.lower() == "protopayload"), None)
    if isinstance(proto, dict):
        gke = proto.get("serviceName") == "k8s.io" or str(proto.get("methodName", "")).startswith("io.k8s.")
        return "k8s" if gke else "gcp"
    if isinstance(log.get("operation"), dict) and log["operation"].get("producer") == "k8s.io":
        return "k8s"
    return None


@pytest.fixture(scope="module")
def outcomes() -> dict[tuple[str, str], Outcomes]:
    return folder_outcomes(FOLDER)


def test_every_case_parses_or_is_rejected_with_a_reason(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    assert len(outcomes) == 71
    for key, outcome in outcomes.items():
        assert len(outcome.events) + len(outcome.rejections) == 1, key
        assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in outcome.rejections), key
        assert all(r.detail for r in outcome.rejections), key


def test_detected_source_matches_the_shape(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    for key, outcome in outcomes.items():
        assert "GCP.AuditLog" in outcome.case.log_types
        assert outcome.detected == expected_source(outcome.case.log), key
        assert all(e.source.value == outcome.detected for e in outcome.events), key


def test_counts(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    # 25 trimmed entries lack insertId (19), timestamp (2, nested into protoPayload) or methodName (1), or
    # carry GKE's serviceName in the wrong place; 2 are a bare `{"methodName": ...}` no parser claims.
    assert tally(outcomes) == {
        ("gcp", "parsed"): 44,
        ("gcp", RejectReason.MISSING_FIELD.value): 25,
        (None, RejectReason.UNKNOWN_SOURCE.value): 2,
    }
    changes = sum(e.is_change for o in outcomes.values() for e in o.events)
    assert changes == 33


def one(outcomes: dict[tuple[str, str], Outcomes], file: str, name: str) -> ChangeEvent:
    outcome = outcomes[(file, name)]
    assert outcome.rejections == []
    return outcome.events[0]


def test_org_iam_policy_change_by_terraform_key(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    event = one(outcomes, "gcp_iam_org_folder_changes.yml", "Terraform User Agent")
    assert event.action == "gcp:SetIamPolicy"
    assert event.resources == ("//cloudresourcemanager.googleapis.com/organizations/888888888888",)
    assert event.principal.uid == "terraform@platform.iam.gserviceaccount.com"
    assert event.principal.kind is PrincipalKind.MACHINE
    assert event.principal.credential is not None
    assert event.principal.credential.kind is CredentialKind.STATIC
    assert event.is_change is True
    assert [(g.grantee, g.privilege, g.grantee_kind) for g in event.grants] == [
        ("backdoor@example.com", "roles/owner", PrincipalKind.HUMAN)
    ]
    assert event.user_agent is not None
    assert event.user_agent.startswith("Terraform/")


def test_removed_binding_grants_nothing(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    event = one(outcomes, "gcp_iam_org_folder_changes.yml", "Manual Change")
    assert event.is_change is True
    assert event.grants == ()


def test_public_bucket_and_service_agent_grants(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    public = one(outcomes, "gcp_gcs_public.yml", "GCS AllUsers Read Permission")
    assert [(g.grantee, g.privilege) for g in public.grants] == [("allUsers", "roles/storage.objectViewer")]
    assert public.scope.account == "western-verve-123456"
    agent = one(outcomes, "gcp_iam_corp_email.yml", "Expected GCP service account added by Service Agent Manager")
    assert agent.principal.kind is PrincipalKind.SERVICE
    assert [(g.grantee_kind, g.privilege) for g in agent.grants] == [
        (PrincipalKind.SERVICE, "roles/logging.serviceAgent")
    ]


def test_denied_and_failed_calls_are_not_changes(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    vpc = one(outcomes, "gcp_access_attempts_violating_vpc_service_controls.yml", "VPC control violation")
    assert (vpc.outcome, vpc.error_code, vpc.details["log"], vpc.is_change) == (
        Outcome.DENIED,
        "PERMISSION_DENIED",
        "policy",
        False,
    )
    exists = one(outcomes, "gcp_cloud_run_service_created.yml", "GCP Run Service Not Created")
    assert (exists.outcome, exists.error_code, exists.is_change) == (Outcome.FAILED, "ALREADY_EXISTS", False)
    not_granted = one(outcomes, "gcp_iam_service_accounts_sign_blob.yml", "iam.serviceAccounts.signBlob not granted")
    assert not_granted.outcome is Outcome.DENIED
    bigquery = one(
        outcomes,
        "gcp_unused_regions.yml",
        "BigQuery access log (does not have standard attribute: resource.labels.location)",
    )
    assert (bigquery.details["log"], bigquery.outcome, bigquery.is_change) == ("data_access", Outcome.FAILED, False)


def test_changes_and_reads(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    created = one(outcomes, "gcp_cloud_run_service_created.yml", "GCP Run Service Created")
    assert created.action == "gcp:google.cloud.run.v1.Services.CreateService"
    assert created.is_change is True
    key = one(outcomes, "gcp_service_account_or_keys_created.yml", "Created Service Account Key")
    assert key.action == "gcp:google.iam.admin.v1.CreateServiceAccountKey"
    assert key.is_change is True
    read = one(outcomes, "gcp_dns_zone_modified_or_deleted.yml", "dns.managedZones.get-should-not-alert")
    assert read.is_change is False
    sign = one(outcomes, "gcp_iam_service_accounts_sign_blob.yml", "iam.serviceAccounts.signBlob granted")
    assert (sign.outcome, sign.is_change, sign.principal.kind) == (Outcome.SUCCESS, False, PrincipalKind.MACHINE)


def test_long_running_operation_completion_is_context(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    event = one(outcomes, "gcp_unused_regions.yml", "GCE Instance Terminated")
    assert event.action == "gcp:v1.compute.instances.delete"
    assert event.details["operation"]["last"] is True
    assert event.is_change is False


def test_partial_entries_name_the_missing_field(outcomes: dict[tuple[str, str], Outcomes]) -> None:
    no_method = outcomes[("gcp_cloud_run_service_created.yml", "GCP No methodName found")]
    assert [r.detail for r in no_method.rejections] == ["missing field methodName"]
    no_id = outcomes[("gcp_cloudfunctions_functions_create.yml", "privilege-escalation")]
    assert [r.detail for r in no_id.rejections] == ["missing field insertId"]

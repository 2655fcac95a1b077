"""CloudTrail parser against real third-party records: Panther's rule tests and an S3-delivered benchmark.

Every record must become an event or a rejection with a reason, never a processing error. The counts are
hard-asserted so that a regression (a record that used to parse and no longer does) shows.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import orjson
import pytest

from models.events import ChangeEvent, CredentialKind, Grant, Outcome, PrincipalKind
from models.parsers import PARSERS, cloudtrail, detect, parse_document
from models.parsers.base import ParseContext
from models.rejection import Rejection, RejectReason
from tests.samples import PantherCase, panther_cases, require_samples

CLOUDTRAIL_FOLDERS = ("aws_cloudtrail_rules",)
#: Kubernetes, GCP and Azure rule folders: their records must not be taken for CloudTrail.
OTHER_FOLDERS = (
    "aws_eks_rules",
    "kubernetes_rules",
    "gcp_audit_rules",
    "gcp_k8s_rules",
    "azure_activity_rules",
)
BENCHMARK = "sequence-level-cloudtrail-benchmark/raw"

#: Panther's correlation-rule tests in the CloudTrail folder carry no log at all.
PANTHER_WITHOUT_LOG = 3
PANTHER_PARSED = 410
#: 48 test events lack eventID, 2 lack eventSource (and eventTime); one has eventTime "redacted".
PANTHER_REJECTED = {RejectReason.MISSING_FIELD: 50, RejectReason.BAD_TIME: 1}
BENCHMARK_FILES = 2
BENCHMARK_PARSED = 9


def _origin(case: PantherCase) -> str:
    return f"{case.file.name}#{case.name}"


@cache
def panther_results() -> dict[str, tuple[list[ChangeEvent], list[Rejection]]]:
    """Each CloudTrail Panther test event parsed on its own, keyed by `file#test name`."""
    results: dict[str, tuple[list[ChangeEvent], list[Rejection]]] = {}
    for folder in CLOUDTRAIL_FOLDERS:
        for case in panther_cases(folder):
            if case.log is None:
                continue
            ctx = ParseContext(origin=_origin(case))
            result = parse_document(orjson.dumps(case.log), ctx, sources=("cloudtrail",))
            events = [item for item in result.items if isinstance(item, ChangeEvent)]
            assert len(events) == len(result.items)
            results[_origin(case)] = (events, result.rejections)
    return results


def panther_event(origin: str) -> ChangeEvent:
    events, rejections = panther_results()[origin]
    assert rejections == []
    [event] = events
    return event


@cache
def benchmark_results() -> dict[str, tuple[list[ChangeEvent], list[Rejection]]]:
    results: dict[str, tuple[list[ChangeEvent], list[Rejection]]] = {}
    for path in sorted((require_samples() / BENCHMARK).glob("**/*.json")):
        result = parse_document(path.read_bytes(), ParseContext(origin=path.name), sources=("cloudtrail",))
        events = [item for item in result.items if isinstance(item, ChangeEvent)]
        results[path.name] = (events, result.rejections)
    return results


def test_panther_cloudtrail_counts() -> None:
    cases = [case for folder in CLOUDTRAIL_FOLDERS for case in panther_cases(folder)]
    without_log = sum(1 for case in cases if case.log is None)
    assert without_log == PANTHER_WITHOUT_LOG
    results = panther_results()
    parsed = sum(len(events) for events, _ in results.values())
    reasons = Counter(r.reason for _, rejections in results.values() for r in rejections)
    for origin, (events, rejections) in results.items():
        assert len(events) + len(rejections) == 1, origin
        for rejection in rejections:
            assert rejection.detail, origin
    assert RejectReason.PROCESSING_ERROR not in reasons
    assert parsed == PANTHER_PARSED
    assert dict(reasons) == PANTHER_REJECTED


def test_panther_rejections_say_why() -> None:
    results = panther_results()
    details = {origin: rejections[0].detail for origin, (_, rejections) in results.items() if rejections}
    assert details["aws_root_activity.yml#Root User Failed Activity"].startswith("eventTime:")
    assert details["aws_s3_bucket_deleted.yml#S3 Bucket Deletion Failed"] == "missing field eventSource"
    missing_id = [origin for origin, detail in details.items() if detail == "missing field eventID"]
    assert len(missing_id) == 48


def test_benchmark_counts() -> None:
    results = benchmark_results()
    assert len(results) == BENCHMARK_FILES
    assert sum(len(events) for events, _ in results.values()) == BENCHMARK_PARSED
    assert [r for _, rejections in results.values() for r in rejections] == []


def test_panther_cloudtrail_events_are_sane() -> None:
    events = [event for events, _ in panther_results().values() for event in events]
    for event in events:
        service, _, operation = event.action.partition(":")
        assert service, event.action
        assert operation, event.action
        assert service == service.lower(), event.action
        assert not re.search(r"\d{8}(v\d+)?$", operation), event.action
        assert event.event_time.tzinfo is not None
        assert event.principal.uid
        if event.is_change:
            assert event.outcome is Outcome.SUCCESS
        for grant in event.grants:
            assert event.action.startswith("iam:")
            assert event.outcome is Outcome.SUCCESS
            assert grant.grantee.startswith("arn:aws:iam::"), grant
    kinds = Counter(event.principal.kind for event in events)
    assert set(kinds) == set(PrincipalKind)
    assert sum(event.is_change for event in events) > 200
    assert Counter(event.outcome for event in events)[Outcome.DENIED] > 30


def test_dispatch_recognises_cloudtrail_samples() -> None:
    """With every parser in play, CloudTrail records are recognised as CloudTrail and nothing else."""
    for folder in CLOUDTRAIL_FOLDERS:
        for case in panther_cases(folder):
            if isinstance(case.log, dict) and cloudtrail.matches(case.log):
                assert detect(case.log, PARSERS) is cloudtrail, _origin(case)


def test_other_sources_do_not_match() -> None:
    seen = 0
    for folder in OTHER_FOLDERS:
        for case in panther_cases(folder):
            if isinstance(case.log, dict):
                seen += 1
                assert not cloudtrail.matches(case.log), _origin(case)
    root = require_samples()
    for path in sorted(Path(root, "azure-monitor-docs-activity-log").glob("**/*.json")):
        document = orjson.loads(path.read_bytes())
        for record in document.get("records", [document]) if isinstance(document, dict) else document:
            if isinstance(record, dict):
                seen += 1
                assert not cloudtrail.matches(record), path.name
    assert seen > 100


# -- semantic facts on real records ----------------------------------------------------------------


def test_attach_admin_role_policy() -> None:
    name = "IAM Role Policy Attached with Administrator Access"
    event = panther_event(f"aws_iam_attach_admin_role_policy.yml#{name}")
    assert event.action == "iam:AttachRolePolicy"
    assert event.is_change is True
    assert event.principal.kind is PrincipalKind.MACHINE
    assert event.principal.issuer == "arn:aws:iam::123456789012:role/tester"
    [grant] = event.grants
    assert grant.privilege == "arn:aws:iam::aws:policy/AdministratorAccess"
    assert grant.grantee.startswith("arn:aws:iam::123456789012:role/")


def test_failed_attach_role_policy_is_not_a_change() -> None:
    event = panther_event("aws_iam_anything_changed.yml#Error Making IAM Change")
    assert event.action == "iam:AttachRolePolicy"
    assert event.outcome is Outcome.FAILED
    assert event.error_code
    assert event.is_change is False
    assert event.grants == ()


def test_access_keys_created_for_another_user() -> None:
    other = panther_event("aws_iam_user_key_created.yml#user1 create keys for user2")
    assert other.action == "iam:CreateAccessKey"
    assert other.is_change is True
    assert other.grants == (
        Grant(
            grantee="arn:aws:iam::123456789:user/user2",
            privilege="access_key",
            grantee_kind=PrincipalKind.HUMAN,
        ),
    )
    own = panther_event("aws_iam_user_key_created.yml#user1 create keys for user1")
    assert own.is_change is True
    assert own.grants == ()
    failed = panther_event("aws_iam_user_key_created.yml#CreateKey returns error code")
    assert failed.is_change is False
    assert failed.grants == ()


def test_lambda_api_version_suffix_dropped() -> None:
    event = panther_event("aws_overwrite_lambda_code.yml#AssumedRole Updates Lambda Code v2 (Normal CI/CD)")
    assert event.action == "lambda:UpdateFunctionCode"
    assert event.is_change is True
    assert event.resources
    assert event.resources[0].startswith("arn:aws:lambda:")


def test_sso_session_resolves_to_human() -> None:
    event = panther_event("aws_overwrite_lambda_code.yml#SSO AssumedRole Updates Lambda Code")
    assert event.principal.kind is PrincipalKind.HUMAN
    assert event.principal.human == "bob.ross"
    assert event.principal.issuer is not None
    assert "AWSReservedSSO_DevAdmin" in event.principal.issuer
    assert event.principal.credential is not None
    assert event.principal.credential.kind is CredentialKind.SHORT_LIVED


def test_console_login_is_not_a_change() -> None:
    every = [event for events, _ in panther_results().values() for event in events]
    events = [event for event in every if event.action == "signin:ConsoleLogin"]
    assert len(events) >= 10
    assert not any(event.is_change for event in events)


def test_lower_cased_panther_rows_parse() -> None:
    event = panther_event("aws_ipset_modified.yml#CreateIPSet Event")
    assert event.action == "guardduty:CreateIPSet"
    assert event.is_change is True
    assert event.scope.account == "123456789012"


def test_benchmark_attach_user_policy() -> None:
    events, _ = benchmark_results()["06_iam_user_create.json"]
    [attach] = [event for event in events if event.action == "iam:AttachUserPolicy"]
    assert attach.is_change is True
    assert attach.principal.kind is PrincipalKind.HUMAN
    [grant] = attach.grants
    assert grant.grantee == "arn:aws:iam::ACCOUNT_9E7B-54AF-AAC0:user/USER_A184-DA0C-4964"
    assert grant.privilege == "arn:aws:iam::ACCOUNT_D962-B54C-CC9C:RESOURCE_BED3-A3FE-5E57"
    reads = [event for event in events if event.action in ("iam:ListUsers", "sts:GetCallerIdentity")]
    assert reads
    assert not any(event.is_change for event in reads)


@pytest.mark.parametrize("name", ["06_iam_user_create.json", "09_access_key_management.json"])
def test_benchmark_records_keep_their_position(name: str) -> None:
    events, _ = benchmark_results()[name]
    assert [event.raw_ref.index for event in events if event.raw_ref] == list(range(len(events)))
    assert all(event.raw_ref and event.raw_ref.origin == name for event in events)

"""The IAM privilege-escalation techniques in Panther's CloudTrail samples raise permission_creep on the grantee.

Each case goes through the real CloudTrail parser and the detector catalog, as `replay` would run it.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import orjson
import pytest

from detectors.catalog import build_detectors
from detectors.engine import Engine, run
from models.config import OpswardenConfig
from models.finding import Activity, DetectionFinding, Severity
from models.parsers import parse_document
from models.parsers.base import ParseContext, Parsed
from tests.samples import panther_cases

ACCOUNT = "arn:aws:iam::123456789012"


@cache
def _cases() -> dict[tuple[str, str], Any]:
    return {(case.file.stem, case.name): case.log for case in panther_cases("aws_cloudtrail_rules")}


def sample(rule: str, name: str) -> dict[str, Any]:
    """A fresh copy of one Panther test log, so a test may edit it."""
    return copy.deepcopy(_cases()[(rule, name)])


def replay(*logs: dict[str, Any]) -> list[DetectionFinding]:
    items: list[Parsed] = []
    for log in logs:
        result = parse_document(orjson.dumps(log), ParseContext())
        assert not result.rejections, result.rejections
        items += result.items
    config = OpswardenConfig()
    return run(Engine(config, build_detectors(config)), items).findings


def creep_on(findings: list[DetectionFinding]) -> dict[str, list[str]]:
    return {
        f.unmapped["grantee"]: f.unmapped["signals"]
        for f in findings
        if f.finding_type == "permission_creep" and f.activity_id is Activity.CREATE
    }


def test_create_user_then_attach_administrator_access() -> None:
    created = sample("aws_iam_create_user", "IAM User Created")
    attached = sample("aws_iam_attach_admin_user_policy", "IAM User Policy Attached with Administrator Access")
    assert creep_on(replay(created, attached)) == {f"{ACCOUNT}:user/new-user": ["admin_grant"]}


def test_backdoor_role_created_then_given_administrator_access() -> None:
    created = sample("aws_iam_create_role", "IAM Role Created")
    attached = sample("aws_iam_attach_admin_role_policy", "IAM Role Policy Attached with Administrator Access")
    assert creep_on(replay(created, attached)) == {f"{ACCOUNT}:role/new-role": ["admin_grant"]}


def test_backdoor_trust_policy_opened_to_everyone() -> None:
    """Panther's sample omits `roleName`, which real CloudTrail records always carry; with it, the role that
    anyone may now assume is the grantee."""
    log = sample("aws_iam_backdoor_role", "IAM Role Policy Updated to Allow Internet Access")
    log["requestParameters"]["roleName"] = "new-role"
    assert creep_on(replay(log)) == {f"{ACCOUNT}:role/new-role": ["takeover_grant"]}


def test_backdoor_trust_policy_without_a_role_name_still_raises_a_high_finding_on_the_actor() -> None:
    log = sample("aws_iam_backdoor_role", "IAM Role Policy Updated to Allow Internet Access")
    found = replay(log)
    actor = "arn:aws:sts::123456789012:assumed-role/tester"
    assert any(
        f.severity_id >= Severity.HIGH
        and f.evidences
        and f.evidences[0].actor
        and f.evidences[0].actor.user.uid == actor
        for f in found
    )


@pytest.mark.parametrize(
    ("name", "grantee"),
    [
        ("user1 create keys for user2", "arn:aws:iam::123456789:user/user2"),
        ("jackson create keys for jack", "arn:aws:iam::123456789:user/jack"),
        ("jack create keys for jackson", "arn:aws:iam::123456789:user/jackson"),
    ],
)
def test_access_key_created_for_another_user(name: str, grantee: str) -> None:
    assert creep_on(replay(sample("aws_iam_user_key_created", name))) == {grantee: ["takeover_grant"]}


def test_own_access_key_and_a_read_only_policy_are_not_creep() -> None:
    own = sample("aws_iam_user_key_created", "user1 create keys for user1")
    read_only = sample("aws_iam_attach_admin_user_policy", "IAM User Policy Attached without Administrator Access")
    assert creep_on(replay(own, read_only)) == {}

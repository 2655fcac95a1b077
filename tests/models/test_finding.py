"""The OCSF Detection Finding model against golden JSON: the SIEM's contract must not drift silently."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from detectors.findings import FindingSpec, finding_uid
from models.events import Credential, CredentialKind, Principal, PrincipalKind
from models.finding import Activity, DetectionFinding, Severity, Status
from tests.detectors.builders import at

GOLDEN = Path(__file__).parent / "golden"

SPEC = FindingSpec(
    detector="authorization",
    finding_type="unauthorized_change",
    subject="arn:aws:sts::111122223333:assumed-role/remediator/run-77",
    first_event_id="3b1c7a8e-0000-4000-8000-000000000001",
    time=at(0),
    first_seen=at(0),
    severity=Severity.HIGH,
    message="remediator ran ec2:AuthorizeSecurityGroupIngress in production: Unauthorized change",
    principal=Principal(
        uid="arn:aws:sts::111122223333:assumed-role/remediator/run-77",
        kind=PrincipalKind.MACHINE,
        issuer="arn:aws:iam::111122223333:role/remediator",
        session_name="run-77",
        credential=Credential(id="ASIAEXAMPLE", kind=CredentialKind.SHORT_LIVED),
    ),
    action="ec2:AuthorizeSecurityGroupIngress",
    resources=("arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a1b",),
    related_event_ids=("3b1c7a8e-0000-4000-8000-000000000001",),
    environment="production",
    source="cloudtrail",
    account="111122223333",
    region="eu-west-1",
    source_ip="203.0.113.7",
    evidence={"candidates": [], "action_class": "network_exposure"},
    unmapped={"verdict": "unauthorized_change"},
    description="no record names this principal",
)


def wire(finding: DetectionFinding) -> bytes:
    return orjson.dumps(finding.model_dump_ocsf(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("unauthorized_change.create.json", SPEC),
        ("unauthorized_change.close.json", replace(SPEC, activity=Activity.CLOSE, revision=1, time=at(90))),
    ],
)
def test_finding_matches_its_golden_json(name: str, spec: FindingSpec) -> None:
    """Regenerate deliberately with OPSWARDEN_REGENERATE_GOLDEN=1 after a reviewed contract change."""
    path = GOLDEN / name
    if os.environ.get("OPSWARDEN_REGENERATE_GOLDEN") == "1":
        path.write_bytes(wire(spec.build()))
    assert wire(spec.build()) == path.read_bytes()


def test_golden_json_reads_back_into_the_model_unchanged() -> None:
    for path in sorted(GOLDEN.glob("*.json")):
        data = orjson.loads(path.read_bytes())
        assert DetectionFinding.model_validate(data).model_dump_ocsf() == data


def test_lifecycle_keeps_the_uid_and_numbers_each_message() -> None:
    create = SPEC.build()
    update = replace(SPEC, activity=Activity.UPDATE, revision=1).build()
    close = replace(SPEC, activity=Activity.CLOSE, revision=2).build()
    assert (
        create.uid
        == update.uid
        == close.uid
        == finding_uid("authorization", "unauthorized_change", SPEC.subject, SPEC.first_event_id)
    )
    assert len({create.metadata.uid, update.metadata.uid, close.metadata.uid}) == 3
    assert [f.type_uid for f in (create, update, close)] == [200401, 200402, 200403]
    assert [f.status_id for f in (create, update, close)] == [Status.NEW, Status.IN_PROGRESS, Status.RESOLVED]
    assert close.is_alert is False


def test_uid_depends_on_detector_type_subject_and_first_event_only() -> None:
    assert SPEC.build().uid == replace(SPEC, time=at(5), message="other").build().uid
    assert SPEC.build().uid != replace(SPEC, first_event_id="other").build().uid
    assert SPEC.build().uid != replace(SPEC, finding_type="out_of_window_change").build().uid


def test_unknown_fields_are_refused_not_dropped() -> None:
    data = orjson.loads((GOLDEN / "unauthorized_change.create.json").read_bytes())
    data["finding_info"]["surprise"] = 1
    with pytest.raises(ValueError, match="surprise"):
        DetectionFinding.model_validate(data)

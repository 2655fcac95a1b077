"""The checked-in finding schema is the model's; the detectors' findings and the documented examples conform to it."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from models.finding import Activity, DetectionFinding
from schemas import examples, generate
from streams.metrics import FINDING_TYPES
from tests.dashboards.conftest import ROOT

FINDINGS_DOC = ROOT / "docs" / "findings.md"


@cache
def validator() -> Draft202012Validator:
    schema = json.loads(generate.SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@cache
def produced() -> tuple[DetectionFinding, ...]:
    return tuple(examples.scenario_findings())


def documented_examples() -> dict[str, dict[str, Any]]:
    section = FINDINGS_DOC.read_text().split(examples.EXAMPLES_START, 1)[1].split(examples.EXAMPLES_END, 1)[0]
    blocks = re.findall(r"^### (\w+)\n\n```json\n(.*?)\n```", section, flags=re.MULTILINE | re.DOTALL)
    return {heading: json.loads(body) for heading, body in blocks}


def test_checked_in_schema_is_the_models() -> None:
    assert generate.SCHEMA_FILE.read_text() == generate.render(), "stale schema: run python -m schemas.generate"


def test_every_finding_the_detectors_publish_conforms() -> None:
    assert {finding.finding_type for finding in produced()} == set(FINDING_TYPES)
    for finding in produced():
        errors = [error.message for error in validator().iter_errors(finding.model_dump_ocsf())]
        assert not errors, (finding.finding_type, errors)


def test_the_schema_rejects_what_consumers_must_not_receive() -> None:
    message = produced()[0].model_dump_ocsf()
    without_uid = {**message, "finding_info": {k: v for k, v in message["finding_info"].items() if k != "uid"}}
    assert not validator().is_valid(without_uid)
    assert not validator().is_valid({**message, "activity_id": 9})
    assert not validator().is_valid({**message, "unexpected": True})


def test_every_type_is_documented_with_a_conforming_example() -> None:
    documented = documented_examples()
    assert list(documented) == list(FINDING_TYPES)
    for finding_type, message in documented.items():
        assert message["finding_info"]["types"] == [finding_type]
        assert validator().is_valid(message), finding_type
    table_types = re.findall(r"^\| `(\w+)` \| ", (ROOT / "README.md").read_text(), flags=re.MULTILINE)
    assert set(FINDING_TYPES) <= set(table_types)


def test_activities_of_one_finding_share_its_uid_and_differ_in_message_uid() -> None:
    """The dedup contract: `finding_info.uid` per finding, `metadata.uid` per message."""
    by_finding: dict[str, list[DetectionFinding]] = defaultdict(list)
    for finding in produced():
        by_finding[finding.uid].append(finding)
    lifecycles = [group for group in by_finding.values() if {f.activity_id for f in group} == set(Activity)]
    assert lifecycles, "the example scenarios show a Create, Update and Close of one finding"
    for group in lifecycles:
        assert group[0].activity_id is Activity.CREATE
        assert group[-1].activity_id is Activity.CLOSE
        assert not group[-1].is_alert
        assert len({finding.metadata.uid for finding in group}) == len(group)


def test_the_same_input_gives_the_same_uids() -> None:
    first = [(f.uid, f.metadata.uid) for f in produced()]
    again = [(f.uid, f.metadata.uid) for f in examples.scenario_findings()]
    assert again == first

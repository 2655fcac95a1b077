"""One real finding of every type, from the detectors run over small seeded scenarios, for docs/findings.md.

`python -m schemas.examples` prints them as the Markdown the findings contract embeds; the schema test runs the
same scenarios and validates every finding they produce against the checked-in JSON Schema.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors import scenario
from detectors.catalog import build_detectors
from detectors.engine import Engine, run
from models.authorization import AuthorizationRecord
from models.config import OpswardenConfig
from models.events import (
    ActionEvent,
    ActionPhase,
    ChangeEvent,
    Credential,
    CredentialKind,
    Principal,
    PrincipalKind,
    Scope,
    Source,
)
from models.finding import Activity, DetectionFinding
from models.parsers.base import Parsed
from models.registry import Workflow
from streams.metrics import FINDING_TYPES

FINDINGS_DOC = Path(__file__).parents[1] / "docs" / "findings.md"
EXAMPLES_START = "<!-- examples -->"
EXAMPLES_END = "<!-- /examples -->"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
CAROL = f"arn:aws:iam::{ACCOUNT}:user/carol"
ADVISOR = f"arn:aws:iam::{ACCOUNT}:role/aiops-capacity-advisor"
HEALER = f"arn:aws:iam::{ACCOUNT}:role/aiops-sg-healer"
SECURITY_GROUP = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:security-group/sg-0a1b2c3d"


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _change(event_id: str, minutes: float, who: Principal, action: str) -> ChangeEvent:
    return ChangeEvent(
        event_id=event_id,
        source=Source.CLOUDTRAIL,
        event_time=_at(minutes),
        principal=who,
        action=action,
        resources=(SECURITY_GROUP,),
        scope=Scope(account=ACCOUNT, region="eu-west-1"),
        is_change=True,
        source_ip="10.20.30.40",
    )


def _record(record_id: str, **fields: object) -> AuthorizationRecord:
    base: dict[str, object] = {
        "id": record_id,
        "status": "approved",
        "owner": "team-network",
        "requested_by": "alice@example.com",
        "approved_by": ["bob@example.com"],
        "principals": [CAROL],
        "actions": ["ec2:*SecurityGroup*"],
        "resources": ["*"],
        "environments": ["production"],
        "window": {"start": _at(-60).isoformat(), "end": _at(60).isoformat()},
    }
    return AuthorizationRecord.model_validate({**base, **fields})


def judge_checks_scenario() -> tuple[list[Workflow], list[Parsed]]:
    """The verdicts and automation checks the demo story does not show, one change each."""
    carol = Principal(uid=CAROL, kind=PrincipalKind.HUMAN, name="carol")
    advisor = Principal(uid=f"{ADVISOR}/advisor-7", kind=PrincipalKind.MACHINE, issuer=ADVISOR)
    static_key = Credential(id="AKIAEXAMPLESTATIC01", kind=CredentialKind.STATIC)
    run_key = Credential(id="ASIAEXAMPLERUN00042", kind=CredentialKind.SHORT_LIVED)
    healer = Principal(uid=f"{HEALER}/heal-42", kind=PrincipalKind.MACHINE, issuer=HEALER, credential=run_key)
    healer_static = healer.model_copy(update={"uid": f"{HEALER}/heal-43", "credential": static_key})
    workflows = [
        Workflow.model_validate(
            {"name": "capacity-advisor", "class": "advisory", "owner": "team-capacity", "principals": [ADVISOR]}
        ),
        Workflow.model_validate(
            {"name": "sg-healer", "class": "execution", "owner": "team-network", "principals": [HEALER]}
        ),
    ]
    revoked = _record(
        "CHG0040007",
        status="revoked",
        status_changes=[
            {"status": "approved", "at": _at(-120).isoformat()},
            {"status": "revoked", "at": _at(-5).isoformat()},
        ],
    )
    run_ended = ActionEvent(
        id="act-heal-42-done",
        time=_at(1),
        workflow="sg-healer",
        run_id="heal-42",
        phase=ActionPhase.SUCCEEDED,
        action="ec2:AuthorizeSecurityGroupIngress",
        target=SECURITY_GROUP,
        environment="production",
        principal=HEALER,
        credential=run_key,
    )
    items: list[Parsed] = [
        _record("CHG0040001", actions=["ec2:*SecurityGroup*"]),
        revoked.model_copy(update={"principals": (f"{CAROL}-contractor",)}),
        run_ended,
        _change("evt-scope", 2, carol, "ec2:DeleteVpc"),
        _change(
            "evt-revoked", 3, Principal(uid=f"{CAROL}-contractor", kind=PrincipalKind.HUMAN), "ec2:CreateSecurityGroup"
        ),
        _change("evt-advisor", 4, advisor, "ec2:ModifyInstanceAttribute"),
        _change("evt-static-key", 5, healer_static, "ec2:AuthorizeSecurityGroupIngress"),
        _change("evt-after-run", 20, healer, "ec2:RevokeSecurityGroupIngress"),
    ]
    return workflows, items


def _anomaly_scenario() -> list[Parsed]:
    """A steady principal's days of routine, then a burst of terminations (the seeded generator's pieces)."""
    builder = scenario.Builder(random.Random(7))
    steady = scenario.steady_principals(builder, 2)
    scenario.bursts(builder, steady[:1], denied=False)
    return builder.items()


def scenario_findings() -> Iterator[DetectionFinding]:
    """Every finding the detectors issue over the three example scenarios, in order."""
    config = OpswardenConfig()
    yield from run(Engine(config, build_detectors(config)), scenario.demo_scenario()).findings
    workflows, items = judge_checks_scenario()
    engine = Engine(config, build_detectors(config))
    for workflow in workflows:
        engine.upsert_workflow(workflow)
    yield from run(engine, items).findings
    yield from run(Engine(config, build_detectors(config)), _anomaly_scenario()).findings


def example_findings() -> dict[str, DetectionFinding]:
    """The first finding of each type (its Create, when there is one)."""
    examples: dict[str, DetectionFinding] = {}
    for finding in scenario_findings():
        current = examples.get(finding.finding_type)
        if current is None or (current.activity_id is not Activity.CREATE and finding.activity_id is Activity.CREATE):
            examples[finding.finding_type] = finding
    return examples


def markdown() -> str:
    examples = example_findings()
    sections = []
    for finding_type in FINDING_TYPES:
        finding = examples.get(finding_type)
        body = (
            f"```json\n{json.dumps(finding.model_dump_ocsf(), indent=2)}\n```"
            if finding is not None
            else "_No example yet: no committed detector issues this type in the example scenarios._"
        )
        sections.append(f"### {finding_type}\n\n{body}\n")
    return "\n".join(sections)


def write_examples(document: Path = FINDINGS_DOC) -> None:
    """Replace the examples between the document's markers with freshly generated ones."""
    text = document.read_text()
    head, rest = text.split(EXAMPLES_START, 1)
    _, tail = rest.split(EXAMPLES_END, 1)
    document.write_text(f"{head}{EXAMPLES_START}\n{markdown()}{EXAMPLES_END}{tail}")


def main() -> None:
    if sys.argv[1:] == ["--write"]:
        write_examples()
        print(f"wrote the examples in {FINDINGS_DOC}")
    else:
        print(markdown(), end="")


if __name__ == "__main__":
    main()

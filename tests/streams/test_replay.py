"""`opswarden replay` over real CloudTrail and Kubernetes samples with authorization files written for them."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from models.parsers import parse_document
from models.parsers.base import ParseContext
from streams.cli import main
from tests.samples import panther_cases
from tests.streams.records import cloudtrail_change

#: (rule file, Panther test name) of the real events in the scenario.
CASES = {
    "A": ("aws_iam_attach_admin_role_policy.yml", "IAM Role Policy Attached without Administrator Access"),
    "B": ("aws_rds_instance_deletion.yml", "RDS Cluster Deleted"),
    "C": ("aws_rds_instance_deletion.yml", "RDS Instance Deleted With Final Snapshot"),
    "D": ("aws_rds_instance_deletion.yml", "Different RDS Event"),
    "E": ("aws_rds_instance_deletion.yml", "RDS Instance Deleted Without Final Snapshot - Critical"),
    "F": ("k8s_pod_hostpath_volume.yml", "GCP GKE Pod With HostPath"),
}

AUTHORIZATIONS: list[dict[str, Any]] = [
    {  # covers A: the tester role attaching a read-only policy, in a one-hour window
        "kind": "authorization", "id": "CHG-A", "status": "approved", "type": "standard",
        "owner": "iam-team@example.com", "requested_by": "dana@example.com", "approved_by": ["erin@example.com"],
        "principals": ["arn:aws:iam::123456789012:role/tester"], "actions": ["iam:AttachRolePolicy"],
        "resources": ["arn:aws:iam::123456789012:role/*", "arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "environments": ["production"],
        "window": {"start": "2018-12-31T23:30:00Z", "end": "2019-01-01T00:30:00Z"},
    },
    {  # would cover B, but was revoked two and a half hours before the cluster was deleted
        "kind": "authorization", "id": "CHG-B", "status": "revoked", "type": "normal",
        "owner": "dba@example.com", "requested_by": "dana@example.com", "approved_by": ["erin@example.com"],
        "status_changes": [{"status": "approved", "at": "2024-01-10T09:00:00Z"},
                           {"status": "revoked", "at": "2024-01-15T12:30:00Z"}],
        "principals": ["arn:aws:iam::123456789012:role/Admin"], "actions": ["rds:Delete*"],
        "resources": ["arn:aws:rds:*:123456789012:cluster:*"], "environments": ["*"],
        "window": {"start": "2024-01-15T00:00:00Z", "end": "2024-01-16T00:00:00Z"},
    },
    {  # covers C's action and database, but its window opens ninety minutes later
        "kind": "authorization", "id": "CHG-C", "status": "approved", "type": "normal",
        "owner": "dba@example.com", "requested_by": "dana@example.com", "approved_by": ["erin@example.com"],
        "principals": ["arn:aws:iam::123456789012:role/DBARole"], "actions": ["rds:DeleteDBInstance"],
        "resources": ["arn:aws:rds:us-east-1:123456789012:db:*"], "environments": ["production"],
        "window": {"start": "2024-01-15T16:00:00Z", "end": "2024-01-15T18:00:00Z"},
    },
    {  # covers F, but its requester is its only approver and ran the change herself
        "kind": "authorization", "id": "CHG-F", "status": "approved", "type": "standard",
        "owner": "platform@example.com", "requested_by": "user@company.com", "approved_by": ["user@company.com"],
        "principals": ["user@company.com"], "actions": ["k8s:create:pods"],
        "resources": ["k8s:gke-cluster/default/*"], "environments": ["production"],
        "window": {"rrule": "FREQ=WEEKLY;BYDAY=FR", "dtstart": "2024-01-05T09:00:00", "duration": "PT8H",
                   "tz": "Europe/London"},
    },
]  # fmt: skip


@pytest.fixture
def scenario(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """The selected real events as JSON lines, the authorization file, and each case's event id."""
    wanted = {value: key for key, value in CASES.items()}
    logs, ids = [], {}
    for folder in ("aws_cloudtrail_rules", "kubernetes_rules"):
        for case in panther_cases(folder):
            key = wanted.get((case.file.name, case.name))
            if key:
                logs.append(case.log)
                (event,) = parse_document(orjson.dumps(case.log), ParseContext()).items
                ids[key] = event.event_id
    assert sorted(ids) == sorted(CASES), "a selected sample disappeared"
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(orjson.dumps(log) + b"\n" for log in logs))
    authorizations = tmp_path / "authorizations.jsonl"
    authorizations.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in AUTHORIZATIONS))
    return events, authorizations, ids


def replay(*args: str) -> tuple[list[dict[str, Any]], str]:
    result = CliRunner().invoke(main, ["replay", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return [orjson.loads(line) for line in lines], result.stderr


def test_each_real_change_gets_the_verdict_its_authorization_implies(
    scenario: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    events, authorizations, ids = scenario
    ledger_file = tmp_path / "ledger.jsonl"
    findings, summary = replay("--authorizations", str(authorizations), "--ledger", str(ledger_file), str(events))
    ledger = {entry["event_id"]: entry for entry in map(orjson.loads, ledger_file.read_bytes().splitlines())}
    verdicts = {key: ledger[ids[key]]["verdict"] for key in CASES}
    assert verdicts == {
        "A": "authorized",
        "B": "revoked_authorization_used",
        "C": "out_of_window_change",
        "D": "unauthorized_change",
        "E": "unauthorized_change",
        "F": "authorized",
    }
    assert (ledger[ids["A"]]["authorized_by"], ledger[ids["A"]]["owner"]) == ("CHG-A", "iam-team@example.com")
    by_event = Counter((f["finding_info"]["related_events"][0]["uid"], f["finding_info"]["types"][0]) for f in findings)
    assert by_event[(ids["F"], "separation_of_duties_violation")] == 1
    assert by_event[(ids["B"], "revoked_authorization_used")] == 1
    late = next(f for f in findings if f["finding_info"]["types"][0] == "out_of_window_change")
    assert "CHG-C" in late["finding_info"]["desc"]
    assert "opens 1.5 h later" in late["finding_info"]["desc"]
    assert "ledger: authorized" in summary


def test_replay_output_is_byte_identical_across_runs(
    scenario: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    events, authorizations, _ = scenario
    outputs = []
    for run in ("one", "two"):
        target = tmp_path / f"{run}.jsonl"
        replay("--authorizations", str(authorizations), "--output", str(target), str(events))
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"\n") >= 5


def test_replay_reports_what_each_suppression_rule_hid(
    scenario: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    events, authorizations, _ = scenario
    config = tmp_path / "config.yaml"
    config.write_text(
        "suppressions:\n"
        "  - id: dba-unowned\n    finding_type: unowned_automation_change\n    principal: '*:assumed-role/*'\n"
        "    reason: DBA roles are registered next quarter\n    owner: soc@example.com\n    ticket: SEC-12\n"
    )
    findings, summary = replay("--config", str(config), "--authorizations", str(authorizations), str(events))
    suppressed = [f for f in findings if f["status_id"] == 3]
    assert suppressed
    assert {f["finding_info"]["types"][0] for f in suppressed} == {"unowned_automation_change"}
    assert all(f["unmapped"]["suppression"]["rule"] == "dba-unowned" for f in suppressed)
    assert re.search(rf"suppressed by dba-unowned\s*│\s*│\s*{len(suppressed)}\s", summary)


def test_replay_reads_a_servicenow_export_as_authorizations(tmp_path: Path) -> None:
    from tests.samples import require_samples

    export = require_samples() / "demisto-servicenow" / "create_co_from_template_result.json"
    findings, summary = replay("--authorizations", str(export), str(tmp_path))
    assert findings == []
    assert "rejected input" not in summary


def test_parse_and_replay_reject_an_event_dated_after_they_read_it_as_the_workers_do(tmp_path: Path) -> None:
    record = cloudtrail_change("from-tomorrow", datetime.now(UTC) + timedelta(days=1))
    path = tmp_path / "future.json"
    path.write_bytes(orjson.dumps(record))
    parsed = CliRunner().invoke(main, ["parse", str(path)], catch_exceptions=False)
    assert parsed.stdout == ""
    (rejection,) = [orjson.loads(line) for line in parsed.stderr.splitlines() if line.startswith("{")]
    assert (rejection["reason"], rejection["native_id"]) == ("future_time", "from-tomorrow")
    findings, summary = replay(str(path))
    assert findings == []
    assert "future_time" in summary

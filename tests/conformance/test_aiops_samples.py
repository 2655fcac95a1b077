"""AIOps-side parsers against real third-party payloads: ServiceNow, PagerDuty v3, Rundeck, StackStorm,
Alertmanager, and Jira (which is out of scope and must be refused with a reason).

Every file goes through the full dispatcher (every parser, recognition order included) and must become
objects or rejections with a reason, never a processing error. Counts are hard-asserted so a regression
(or another parser starting to claim these shapes) shows.
"""

from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from models.authorization import AuthorizationRecord, AuthStatus, AuthType, StatusChange
from models.events import ActionEvent, ActionPhase, AlertEvent, AlertStatus
from models.parsers import ParseResult, alertmanager, detect, pagerduty, parse_document, rundeck, servicenow, stackstorm
from models.parsers.base import ParseContext
from models.rejection import RejectReason
from tests.samples import require_samples

FOLDERS = (
    "demisto-servicenow",
    "zulip-pagerduty-webhooks",
    "zulip-rundeck-webhooks",
    "zulip-alertmanager-webhooks",
    "zulip-jira-webhooks",
    "stackstorm-st2-fixtures",
)
#: What each folder gives: object kinds parsed, and rejection reasons.
EXPECTED: dict[str, tuple[dict[str, int], dict[RejectReason, int]]] = {
    "demisto-servicenow": ({"authorization": 1}, {}),
    # 5 incident events → alerts, 2 incident-workflow runs → actions, the note (annotated) refused.
    "zulip-pagerduty-webhooks": ({"alert": 5, "aiops.action": 2}, {RejectReason.WRONG_SHAPE: 1}),
    "zulip-rundeck-webhooks": ({"aiops.action": 3}, {}),
    "zulip-alertmanager-webhooks": ({"alert": 2}, {}),
    "zulip-jira-webhooks": ({}, {RejectReason.UNKNOWN_SOURCE: 1}),
    # 14 executions and 4 live actions with an id parse; 5 live actions without an id, 8 traces and 4
    # trigger instances are refused; 9 pack/rule/runner definitions are no source at all.
    "stackstorm-st2-fixtures": (
        {"aiops.action": 18},
        {RejectReason.MISSING_FIELD: 5, RejectReason.WRONG_SHAPE: 12, RejectReason.UNKNOWN_SOURCE: 9},
    ),
}
FILE_COUNTS = {
    "demisto-servicenow": 1,
    "zulip-pagerduty-webhooks": 8,
    "zulip-rundeck-webhooks": 3,
    "zulip-alertmanager-webhooks": 1,
    "zulip-jira-webhooks": 1,
    "stackstorm-st2-fixtures": 44,
}
PARSER_OF = {
    "demisto-servicenow": servicenow,
    "zulip-pagerduty-webhooks": pagerduty,
    "zulip-rundeck-webhooks": rundeck,
    "zulip-alertmanager-webhooks": alertmanager,
    "stackstorm-st2-fixtures": stackstorm,
}


def sample_files(folder: str) -> list[Path]:
    root = require_samples() / folder
    return sorted(p for p in root.rglob("*") if p.suffix in (".json", ".yaml", ".yml"))


def parse_file(path: Path) -> ParseResult:
    return parse_document(path.read_bytes(), ParseContext(origin=str(path)), as_yaml=path.suffix != ".json")


@cache
def results(folder: str) -> dict[str, ParseResult]:
    root = require_samples() / folder
    return {str(path.relative_to(root)): parse_file(path) for path in sample_files(folder)}


def only(folder: str, name: str) -> Any:
    result = results(folder)[name]
    assert result.rejections == []
    [item] = result.items
    return item


@pytest.mark.parametrize("folder", FOLDERS)
def test_counts_and_no_processing_errors(folder: str) -> None:
    by_file = results(folder)
    assert len(by_file) == FILE_COUNTS[folder]
    kinds = Counter(item.kind for result in by_file.values() for item in result.items)
    reasons = Counter(r.reason for result in by_file.values() for r in result.rejections)
    assert RejectReason.PROCESSING_ERROR not in reasons
    assert (dict(kinds), dict(reasons)) == EXPECTED[folder]
    for result in by_file.values():
        assert all(r.detail for r in result.rejections)


@pytest.mark.parametrize("folder", sorted(PARSER_OF))
def test_recognised_by_the_right_parser(folder: str) -> None:
    for path in sample_files(folder):
        data = path.read_bytes()
        record = orjson.loads(data) if path.suffix == ".json" else yaml.safe_load(data)
        if parse_file(path).items:
            assert detect(record) is PARSER_OF[folder], path


@pytest.mark.parametrize("folder", FOLDERS)
def test_raw_refs_name_the_file(folder: str) -> None:
    root = require_samples() / folder
    for name, result in results(folder).items():
        for item in result.items:
            if isinstance(item, ActionEvent | AlertEvent):
                assert item.raw_ref is not None
                assert item.raw_ref.origin == str(root / name)


# ---------------------------------------------------------------------------------------------------
# ServiceNow
# ---------------------------------------------------------------------------------------------------


def test_servicenow_change_request() -> None:
    record = only("demisto-servicenow", "create_co_from_template_result.json")
    assert isinstance(record, AuthorizationRecord)
    assert record.id == "CHG0031889"
    assert record.status is AuthStatus.APPROVED  # approval "approved" while state is New (-5.0)
    assert record.type is AuthType.STANDARD
    assert record.purpose == "Add network switch to cabinet"
    assert record.requested_by == "Content Test admin"
    assert record.owner == "Content Test admin"  # no assignee or group: the requester
    assert record.approved_by == ()
    assert record.window is None  # start_date / end_date are empty in this record
    # opened_at and approval_set are the same instant (UTC `value`, not the local display value)
    assert record.status_changes == (
        StatusChange(status=AuthStatus.APPROVED, at=datetime(2022, 1, 6, 12, 12, 43, tzinfo=UTC)),
    )
    # no u_opswarden_scope: kept as evidence, authorizes no one
    assert record.principals == (servicenow.UNSCOPED,)
    assert record.actions == (servicenow.UNSCOPED,)
    assert record.resources == ("*",)


def test_servicenow_without_display_values() -> None:
    """The same record as `sysparm_display_value=false` would return it: plain values, numbers as strings."""
    path = require_samples() / "demisto-servicenow" / "create_co_from_template_result.json"
    full = orjson.loads(path.read_bytes())["result"]
    plain = {
        k: (str(v["value"]) if isinstance(v.get("value"), float) else v["value"])
        for k, v in full.items()
        if "value" in v
    }
    plain["start_date"], plain["end_date"] = "2022-01-07 09:00:00", "2022-01-07 11:00:00"
    plain["state"] = "3"
    plain["closed_at"] = "2022-01-07 12:00:00"
    result = parse_document(orjson.dumps({"result": [plain]}), ParseContext(), sources=("servicenow",))
    [record] = result.items
    assert isinstance(record, AuthorizationRecord)
    assert record.id == "CHG0031889"
    assert record.status is AuthStatus.CLOSED
    assert record.status_at(datetime(2022, 1, 7, 10, tzinfo=UTC)) is AuthStatus.APPROVED
    assert record.status_at(datetime(2022, 1, 7, 12, tzinfo=UTC)) is AuthStatus.CLOSED
    assert record.owner == "46428af1db202c1026fca015ca961994"  # the requester's sys_id: no display value


# ---------------------------------------------------------------------------------------------------
# PagerDuty
# ---------------------------------------------------------------------------------------------------

PD = "zulip-pagerduty-webhooks"


def test_pagerduty_triggered() -> None:
    alert = only(PD, "v3/triggered_v3.json")
    assert isinstance(alert, AlertEvent)
    assert alert.status is AlertStatus.FIRING
    assert alert.id == "01BZYIL05THJDFF2Y08X9SVMTU"
    assert alert.time == datetime(2021, 6, 4, 13, 35, 29, 781000, tzinfo=UTC)
    assert alert.alert == "Test Incident 3"
    assert alert.fingerprint == "PFQZPSY"  # no incident_key in this payload: the incident id
    assert alert.target == "pagerduty:service/PA2P440"
    assert alert.severity == "high"


@pytest.mark.parametrize(
    ("name", "status", "fingerprint", "severity"),
    [
        ("v3/acknowledged_v3.json", AlertStatus.FIRING, "PQ1K5C8", "high"),
        ("v3/resolved_v3.json", AlertStatus.RESOLVED, "PCPZE64", "high"),
        ("v3/escalate_v3.json", AlertStatus.FIRING, "d387d7bd2e0a4294a5307339dfe1669a", "P1"),
        ("v3/service_updated_v3.json", AlertStatus.FIRING, "d387d7bd2e0a4294a5307339dfe1669a", "P2"),
    ],
)
def test_pagerduty_incident_states(name: str, status: AlertStatus, fingerprint: str, severity: str) -> None:
    alert = only(PD, name)
    assert (alert.status, alert.fingerprint, alert.severity) == (status, fingerprint, severity)


def test_pagerduty_incident_workflow_runs() -> None:
    started = only(PD, "v3/workflow_started_v3.json")
    completed = only(PD, "v3/workflow_completed_v3.json")
    assert isinstance(started, ActionEvent)
    assert isinstance(completed, ActionEvent)
    assert (started.phase, completed.phase) == (ActionPhase.STARTED, ActionPhase.SUCCEEDED)
    assert started.workflow == completed.workflow == "pagerduty:incident_workflow/POWB54R"
    assert started.run_id == completed.run_id == "PU3WKIK"
    assert started.target == "pagerduty:incident/Q3B15VLMF3ASBD"
    assert started.principal == "pagerduty:user/PXRUEF2"
    assert completed.principal is None  # the completion has no agent


def test_pagerduty_note_is_refused() -> None:
    result = results(PD)["v3/annotated_v3.json"]
    [rejection] = result.rejections
    assert rejection.reason is RejectReason.WRONG_SHAPE
    assert "incident.annotated" in rejection.detail


# ---------------------------------------------------------------------------------------------------
# Rundeck
# ---------------------------------------------------------------------------------------------------

RD = "zulip-rundeck-webhooks"
RD_WORKFLOW = "rundeck:welcome-project-community/Basic Examples/Basic Workflows/Global Log Filter Usage"


@pytest.mark.parametrize(
    ("name", "phase", "run_id", "time"),
    [
        ("start.json", ActionPhase.STARTED, "3", datetime(2023, 4, 7, 6, 12, 13, 368000, tzinfo=UTC)),
        # no date-ended in the notification: the start time is the best evidence
        ("success.json", ActionPhase.SUCCEEDED, "3", datetime(2023, 4, 7, 6, 12, 13, 368000, tzinfo=UTC)),
        ("failure.json", ActionPhase.FAILED, "7", datetime(2023, 4, 7, 6, 15, 23, 396000, tzinfo=UTC)),
    ],
)
def test_rundeck_notifications(name: str, phase: ActionPhase, run_id: str, time: datetime) -> None:
    event = only(RD, name)
    assert isinstance(event, ActionEvent)
    assert event.phase is phase
    assert event.run_id == run_id
    assert event.time == time
    assert event.workflow == RD_WORKFLOW
    assert event.action == "rundeck:RunJob"
    assert event.target == "rundeck:job/a0296d93-4b10-48d7-8b7d-86ad3f603b85"
    assert event.principal == "rundeck:user/admin"


def test_rundeck_start_and_success_pair_up() -> None:
    start, success = only(RD, "start.json"), only(RD, "success.json")
    assert (start.workflow, start.run_id) == (success.workflow, success.run_id)
    assert start.id != success.id


# ---------------------------------------------------------------------------------------------------
# Alertmanager and Jira
# ---------------------------------------------------------------------------------------------------


def test_alertmanager_alerts() -> None:
    result = results("zulip-alertmanager-webhooks")["alert.json"]
    assert result.rejections == []
    first, second = result.items
    assert isinstance(first, AlertEvent)
    assert isinstance(second, AlertEvent)
    assert [a.fingerprint for a in (first, second)] == ["a1bc48475b20e73d", "c2ea85182f28cbd9"]
    for alert in (first, second):
        assert alert.status is AlertStatus.FIRING
        assert alert.alert == "High CPU Temperature"
        assert alert.time == datetime(2020, 2, 6, 0, 17, 58, 432911, tzinfo=UTC)
        assert alert.target == "host:andromeda"
        assert alert.severity == "critical"
    assert first.id != second.id


def test_jira_is_not_a_change_record() -> None:
    result = results("zulip-jira-webhooks")["issue_updated__status.json"]
    assert result.items == []
    [rejection] = result.rejections
    assert rejection.reason is RejectReason.UNKNOWN_SOURCE
    assert rejection.detail


# ---------------------------------------------------------------------------------------------------
# StackStorm
# ---------------------------------------------------------------------------------------------------

ST2 = "stackstorm-st2-fixtures"


def test_stackstorm_root_execution() -> None:
    event = only(ST2, "fixtures/descendants/executions/root_execution.yaml")
    assert isinstance(event, ActionEvent)
    assert event.id == "st2:54e657d60640fd16887d6855:succeeded"
    assert event.phase is ActionPhase.SUCCEEDED
    assert event.time == datetime(2014, 9, 1, 0, 0, 59, tzinfo=UTC)  # end_timestamp
    assert event.workflow == "st2:pointlessaction"
    assert event.target == "st2:action/pointlessaction"
    assert event.principal is None


def test_stackstorm_scheduled_execution_counts_as_started() -> None:
    event = only(ST2, "fixtures/generic/executions/execution1.yaml")
    assert event.phase is ActionPhase.STARTED
    assert event.time == datetime(2014, 9, 1, 0, 0, 1, tzinfo=UTC)  # start_timestamp
    assert event.workflow == "st2:core.local"  # action.ref wins over the live action's name
    assert event.principal == "st2:user/system"


def test_stackstorm_rule_fired_liveaction() -> None:
    event = only(ST2, "fixtures/generic/liveactions/liveaction4.yaml")
    assert event.phase is ActionPhase.STARTED
    assert event.run_id == "54c6b6d60640fd4f5354e74a"
    assert event.principal == "st2:user/stanley"


@pytest.mark.parametrize(
    ("name", "reason", "fragment"),
    [
        ("fixtures/generic/liveactions/liveaction1.yaml", RejectReason.MISSING_FIELD, "id"),
        ("fixtures/generic/liveactions/successful_liveaction.yaml", RejectReason.MISSING_FIELD, "id"),
        ("fixtures/traces/traces/trace_one_each.yaml", RejectReason.WRONG_SHAPE, "trace, not an execution"),
        ("fixtures/generic/triggerinstances/trigger_instance_1.yaml", RejectReason.WRONG_SHAPE, "trigger instance"),
        ("fixtures/packs/executions/runners.yaml", RejectReason.UNKNOWN_SOURCE, "no known source"),
    ],
)
def test_stackstorm_refusals(name: str, reason: RejectReason, fragment: str) -> None:
    result = results(ST2)[name]
    assert result.items == []
    [rejection] = result.rejections
    assert rejection.reason is reason
    assert fragment in rejection.detail


def test_stackstorm_pack_liveactions_with_parameters() -> None:
    """packs/executions/liveactions.yaml maps task names to live actions; each is a real shape without an id."""
    path = require_samples() / ST2 / "fixtures/packs/executions/liveactions.yaml"
    tasks = yaml.safe_load(path.read_bytes())
    assert sorted(tasks) == ["task1", "task2", "workflow"]
    for name, live in tasks.items():
        bare = parse_document(orjson.dumps(live), ParseContext(), sources=("stackstorm",))
        assert [r.reason for r in bare.rejections] == [RejectReason.MISSING_FIELD]
        with_id = copy.deepcopy(live) | {"id": f"la-{name}"}
        [event] = parse_document(orjson.dumps(with_id), ParseContext(), sources=("stackstorm",)).items
        assert isinstance(event, ActionEvent)
        assert event.phase is ActionPhase.SUCCEEDED
        expected = "host:localhost" if name.startswith("task") else "st2:action/executions.chain"
        assert event.target == expected

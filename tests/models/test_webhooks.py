"""Webhook adapters: PagerDuty v3, Rundeck notifications, StackStorm executions, Alertmanager v4."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.events import ActionEvent, ActionPhase, AlertEvent, AlertStatus
from models.parsers import ParseResult, alertmanager, pagerduty, parse_document, rundeck, stackstorm
from models.parsers.base import ParseContext
from models.rejection import RejectReason
from tests.models.test_aiops import JSON_VALUES

SECRET = "hunter2-very-secret"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhaW9wcyJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def run(record: Any, source: str | None) -> ParseResult:
    return parse_document(orjson.dumps(record), ParseContext(origin="hook"), sources=(source,) if source else None)


def items(record: Any, source: str | None) -> list[Any]:
    result = run(record, source)
    assert result.rejections == []
    return result.items


def rejected(record: Any, source: str | None) -> tuple[RejectReason, str]:
    result = run(record, source)
    assert result.items == []
    assert len(result.rejections) == 1
    return result.rejections[0].reason, result.rejections[0].detail


def dumped(events: list[Any]) -> str:
    return " ".join(orjson.dumps(e.model_dump(mode="json")).decode() for e in events)


def path_set(record: dict[str, Any], path: str, value: Any) -> None:
    holder: Any = record
    *parents, leaf = path.split(".")
    for key in parents:
        holder = holder[int(key)] if isinstance(holder, list) else holder[key]
    if isinstance(holder, list):
        holder[int(leaf)] = value
    else:
        holder[leaf] = value


# ---------------------------------------------------------------------------------------------------
# PagerDuty
# ---------------------------------------------------------------------------------------------------

INCIDENT: dict[str, Any] = {
    "event": {
        "id": "01DEN7XJQZXOPE1PHBBQR8F3LM",
        "event_type": "incident.triggered",
        "resource_type": "incident",
        "occurred_at": "2026-03-01T10:00:00.123Z",
        "agent": {"id": "PLH1HKV", "type": "user_reference", "summary": "Tenex Engineer"},
        "client": None,
        "data": {
            "id": "PGR0VU2",
            "type": "incident",
            "number": 2,
            "status": "triggered",
            "incident_key": "d3640fbd41094207a1c11e58e46b1662",
            "title": "Checkout API high latency",
            "service": {"id": "PF9KMXH", "type": "service_reference", "summary": "Checkout API"},
            "priority": {"id": "P0ELYOF", "type": "priority_reference", "summary": "P1"},
            "urgency": "high",
        },
    }
}
WORKFLOW: dict[str, Any] = {
    "event": {
        "id": "wf-event-1",
        "event_type": "incident.workflow.started",
        "resource_type": "incident",
        "occurred_at": "2026-03-01T10:01:00Z",
        "agent": {"id": "PXRUEF2", "type": "user_reference"},
        "data": {
            "id": "PU3WKIK",
            "type": "incident_workflow_instance",
            "incident_workflow": {"id": "POWB54R", "type": "incident_workflow_reference"},
            "incident": {"id": "Q3B15VLMF3ASBD", "type": "incident_reference", "summary": "Checkout API high latency"},
            "service": {"id": "P844A2S", "type": "service_reference"},
        },
    }
}


def incident(event_type: str = "incident.triggered", **data: Any) -> dict[str, Any]:
    out = copy.deepcopy(INCIDENT)
    out["event"]["event_type"] = event_type
    out["event"]["data"].update(data)
    return out


def test_pagerduty_triggered() -> None:
    [alert] = items(INCIDENT, "pagerduty")
    assert isinstance(alert, AlertEvent)
    assert alert.id == "01DEN7XJQZXOPE1PHBBQR8F3LM"
    assert alert.time == datetime(2026, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert alert.status is AlertStatus.FIRING
    assert alert.alert == "Checkout API high latency"
    assert alert.fingerprint == "d3640fbd41094207a1c11e58e46b1662"
    assert alert.target == "pagerduty:service/PF9KMXH"
    assert alert.severity == "P1"


@pytest.mark.parametrize(
    ("event_type", "status", "expected"),
    [
        ("incident.acknowledged", "acknowledged", AlertStatus.FIRING),
        ("incident.unacknowledged", "triggered", AlertStatus.FIRING),
        ("incident.escalated", "triggered", AlertStatus.FIRING),
        ("incident.reopened", "triggered", AlertStatus.FIRING),
        ("incident.priority_updated", "acknowledged", AlertStatus.FIRING),
        ("incident.resolved", "resolved", AlertStatus.RESOLVED),
        ("incident.resolved", None, AlertStatus.RESOLVED),
        ("incident.triggered", None, AlertStatus.FIRING),
    ],
)
def test_pagerduty_incident_states(event_type: str, status: str | None, expected: AlertStatus) -> None:
    [alert] = items(incident(event_type, status=status), "pagerduty")
    assert alert.status is expected


def test_pagerduty_fallbacks() -> None:
    [alert] = items(incident(incident_key=None, priority=None, urgency="low", service=None), "pagerduty")
    assert alert.fingerprint == "PGR0VU2"
    assert alert.severity == "low"
    assert alert.target is None


@pytest.mark.parametrize("phase", ["started", "completed"])
def test_pagerduty_incident_workflow(phase: str) -> None:
    record = copy.deepcopy(WORKFLOW)
    record["event"]["event_type"] = f"incident.workflow.{phase}"
    [run_event] = items(record, "pagerduty")
    assert isinstance(run_event, ActionEvent)
    assert run_event.phase is (ActionPhase.STARTED if phase == "started" else ActionPhase.SUCCEEDED)
    assert run_event.workflow == "pagerduty:incident_workflow/POWB54R"
    assert run_event.run_id == "PU3WKIK"
    assert run_event.action == "pagerduty:RunIncidentWorkflow"
    assert run_event.target == "pagerduty:incident/Q3B15VLMF3ASBD"
    assert run_event.principal == "pagerduty:user/PXRUEF2"
    assert run_event.trigger is not None
    assert run_event.trigger.fingerprint == "Q3B15VLMF3ASBD"


def test_pagerduty_workflow_without_agent() -> None:
    record = copy.deepcopy(WORKFLOW)
    record["event"]["agent"] = None
    [run_event] = items(record, "pagerduty")
    assert run_event.principal is None


@pytest.mark.parametrize(
    ("record", "reason", "fragment"),
    [
        (
            {"event": {"id": "e", "event_type": "incident.annotated", "occurred_at": "2026-03-01T10:00:00Z",
                       "data": {"id": "n", "type": "incident_note", "content": "x"}}},
            RejectReason.WRONG_SHAPE,
            "incident.annotated",
        ),
        (
            {"event": {"id": "e", "event_type": "service.created", "occurred_at": "2026-03-01T10:00:00Z",
                       "data": {"id": "s", "type": "service"}}},
            RejectReason.WRONG_SHAPE,
            "service.created",
        ),
        (incident(status="snoozed"), RejectReason.INVALID_VALUE, "event.data.status"),
        (incident(id=None), RejectReason.MISSING_FIELD, "event.data.id"),
    ],
)  # fmt: skip
def test_pagerduty_rejections(record: dict[str, Any], reason: RejectReason, fragment: str) -> None:
    got, detail = rejected(record, "pagerduty")
    assert got is reason
    assert fragment in detail


def test_pagerduty_bad_time() -> None:
    record = incident()
    record["event"]["occurred_at"] = "a while ago"
    assert rejected(record, "pagerduty")[0] is RejectReason.BAD_TIME


def test_pagerduty_matches() -> None:
    assert pagerduty.matches(INCIDENT)
    assert not pagerduty.matches({"event": "incident.triggered"})
    assert not pagerduty.matches({"event": {"type": "x"}})


# ---------------------------------------------------------------------------------------------------
# Rundeck
# ---------------------------------------------------------------------------------------------------

RUNDECK: dict[str, Any] = {
    "trigger": "success",
    "status": "succeeded",
    "executionId": 42,
    "execution": {
        "id": 42,
        "status": "succeeded",
        "project": "ops",
        "executionType": "user",
        "user": "aiops-bot",
        "date-started": {"unixtime": 1772359200000, "date": "2026-03-01T10:00:00Z"},
        "date-ended": {"unixtime": 1772359260000, "date": "2026-03-01T10:01:00Z"},
        "job": {
            "id": "a0296d93-4b10-48d7-8b7d-86ad3f603b85",
            "name": "Restart service",
            "group": "remediation/web",
            "project": "ops",
            "options": {
                "hosts": "web1,web2",
                "environment": "production",
                "fingerprint": "a1bc48475b20e73d",
                "alertname": "HighLatency",
                "db_password": SECRET,
            },
        },
        "argstring": f"-hosts web1,web2 -db_password {SECRET}",
        "successfulNodes": ["web1", "web2"],
        "failedNodes": [],
    },
}


def rundeck_record(trigger: str = "success", **execution: Any) -> dict[str, Any]:
    out = copy.deepcopy(RUNDECK)
    out["trigger"] = trigger
    out["execution"].update(execution)
    return out


def test_rundeck_success_with_options() -> None:
    events = items(RUNDECK, "rundeck")
    assert [e.target for e in events] == ["host:web1", "host:web2"]
    assert len({e.id for e in events}) == 2
    event = events[0]
    assert isinstance(event, ActionEvent)
    assert event.workflow == "rundeck:ops/remediation/web/Restart service"
    assert event.run_id == "42"
    assert event.phase is ActionPhase.SUCCEEDED
    assert event.action == "rundeck:RunJob"
    assert event.principal == "rundeck:user/aiops-bot"
    assert event.environment == "production"
    assert event.time == datetime(2026, 3, 1, 10, 1, tzinfo=UTC)  # date-ended for a finished run
    assert event.trigger is not None
    assert (event.trigger.alert, event.trigger.fingerprint) == ("HighLatency", "a1bc48475b20e73d")
    assert SECRET not in dumped(events)


@pytest.mark.parametrize(
    ("trigger", "phase"),
    [
        ("start", ActionPhase.STARTED),
        ("onstart", ActionPhase.STARTED),
        ("avgduration", ActionPhase.STARTED),
        ("success", ActionPhase.SUCCEEDED),
        ("failure", ActionPhase.FAILED),
        ("retryablefailure", ActionPhase.FAILED),
    ],
)
def test_rundeck_phases(trigger: str, phase: ActionPhase) -> None:
    events = items(rundeck_record(trigger), "rundeck")
    assert {e.phase for e in events} == {phase}
    expected = datetime(2026, 3, 1, 10, 1 if phase.is_terminal else 0, tzinfo=UTC)
    assert {e.time for e in events} == {expected}


@pytest.mark.parametrize(("status", "phase"), [("aborted", ActionPhase.FAILED), ("running", ActionPhase.STARTED)])
def test_rundeck_phase_from_status(status: str, phase: ActionPhase) -> None:
    [event, _] = items(rundeck_record("custom", status=status), "rundeck")
    assert event.phase is phase


def test_rundeck_target_fallbacks() -> None:
    record = rundeck_record()
    record["execution"]["job"]["options"] = {
        "target": "k8s:prod/payments/deployments/api",
        "action": "k8s:patch:deployments",
    }
    [event] = items(record, "rundeck")
    assert event.target == "k8s:prod/payments/deployments/api"
    assert event.action == "k8s:patch:deployments"

    del record["execution"]["job"]["options"]
    record["execution"]["failedNodes"] = ["web3"]
    assert [e.target for e in items(record, "rundeck")] == ["host:web1", "host:web2", "host:web3"]

    record["execution"]["successfulNodes"] = record["execution"]["failedNodes"] = []
    record["execution"]["job"]["nodefilters"] = {"filter": "tags: web"}
    [event] = items(record, "rundeck")
    assert event.target == "rundeck:nodes/tags: web"

    del record["execution"]["job"]["nodefilters"]
    [event] = items(record, "rundeck")
    assert event.target == "rundeck:job/a0296d93-4b10-48d7-8b7d-86ad3f603b85"


def test_rundeck_adhoc_and_scalar_dates() -> None:
    record = rundeck_record("start", **{"date-started": "2026-03-01T10:00:00Z", "date-ended": None})
    del record["execution"]["job"]
    record["execution"]["successfulNodes"] = []
    [event] = items(record, "rundeck")
    assert event.workflow == "rundeck:ops/adhoc"
    assert event.target == "rundeck:project/ops"
    assert event.time == datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_rundeck_finished_without_end_uses_start() -> None:
    [event, _] = items(rundeck_record("failure", **{"date-ended": None}), "rundeck")
    assert event.time == datetime(2026, 3, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("record", "reason", "fragment"),
    [
        (rundeck_record("start", **{"date-started": None}), RejectReason.MISSING_FIELD, "date-started"),
        (rundeck_record("start", **{"date-started": {"date": "noon"}}), RejectReason.BAD_TIME, "date-started"),
        (rundeck_record("whenever", status="weird"), RejectReason.INVALID_VALUE, "not a job phase"),
        (rundeck_record(id=None), RejectReason.MISSING_FIELD, "execution.id"),
    ],
)
def test_rundeck_rejections(record: dict[str, Any], reason: RejectReason, fragment: str) -> None:
    if record["execution"].get("id") is None:
        del record["executionId"]
    got, detail = rejected(record, "rundeck")
    assert got is reason
    assert fragment in detail


def test_rundeck_too_many_targets() -> None:
    record = rundeck_record()
    record["execution"]["job"]["options"]["hosts"] = ",".join(f"h{i}" for i in range(80))
    assert rejected(record, "rundeck")[0] is RejectReason.TOO_LARGE


def test_rundeck_matches() -> None:
    assert rundeck.matches(RUNDECK)
    assert not rundeck.matches({"execution": {"project": "x"}})
    assert not rundeck.matches({"trigger": "start"})


# ---------------------------------------------------------------------------------------------------
# StackStorm
# ---------------------------------------------------------------------------------------------------

EXECUTION: dict[str, Any] = {
    "id": "5f0c1b2e3d4a5b6c7d8e9f00",
    "status": "succeeded",
    "start_timestamp": "2026-03-01T10:00:00.000000Z",
    "end_timestamp": "2026-03-01T10:00:30.000000Z",
    "action": {"ref": "remediation.restart_service", "name": "restart_service", "pack": "remediation"},
    "runner": {"name": "remote-shell-cmd"},
    "liveaction": {
        "id": "5f0c1b2e3d4a5b6c7d8e9eff",
        "action": "remediation.restart_service",
        "context": {"user": "stanley"},
        "parameters": {},
    },
    "context": {"user": "stanley"},
    "parameters": {
        "hosts": "db1.example.com",
        "password": SECRET,
        "cmd": f"systemctl restart mysql --token {JWT}",
        "environment": "production",
        "authorization_id": "CHG0040001",
    },
    "rule": {"ref": "remediation.on_high_latency", "id": "r1"},
    "trigger": {"ref": "core.st2.webhook", "type": "core.st2.webhook"},
    "trigger_instance": {"id": "ti1"},
}
LIVEACTION: dict[str, Any] = {
    "id": "54c6b6d60640fd4f5354e74a",
    "action": "core.local",
    "callback": {},
    "context": {"user": "system"},
    "parameters": {"cmd": "uname"},
    "start_timestamp": "2026-03-01T10:00:00Z",
    "end_timestamp": "2026-03-01T10:00:05Z",
    "status": "requested",
}


def execution(**overrides: Any) -> dict[str, Any]:
    out = copy.deepcopy(EXECUTION)
    out.update(overrides)
    return out


def liveaction(**overrides: Any) -> dict[str, Any]:
    out = copy.deepcopy(LIVEACTION)
    out.update(overrides)
    return out


def test_stackstorm_execution() -> None:
    [event] = items(EXECUTION, "stackstorm")
    assert isinstance(event, ActionEvent)
    assert event.id == "st2:5f0c1b2e3d4a5b6c7d8e9f00:succeeded"
    assert event.workflow == "st2:remediation.restart_service"
    assert event.run_id == "5f0c1b2e3d4a5b6c7d8e9f00"
    assert event.phase is ActionPhase.SUCCEEDED
    assert event.action == "st2:remediation.restart_service"
    assert event.target == "host:db1.example.com"
    assert event.principal == "st2:user/stanley"
    assert event.environment == "production"
    assert event.authorization_id == "CHG0040001"
    assert event.time == datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)
    assert event.trigger is not None
    assert event.trigger.alert == "core.st2.webhook"
    text = dumped([event])
    assert SECRET not in text
    assert JWT not in text


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        ("pending", ActionPhase.RECOMMENDED),
        ("requested", ActionPhase.STARTED),
        ("scheduled", ActionPhase.STARTED),
        ("delayed", ActionPhase.STARTED),
        ("running", ActionPhase.STARTED),
        ("paused", ActionPhase.STARTED),
        ("canceling", ActionPhase.STARTED),
        ("succeeded", ActionPhase.SUCCEEDED),
        ("failed", ActionPhase.FAILED),
        ("timeout", ActionPhase.FAILED),
        ("abandoned", ActionPhase.FAILED),
        ("canceled", ActionPhase.FAILED),
    ],
)
def test_stackstorm_phases(status: str, phase: ActionPhase) -> None:
    [event] = items(liveaction(status=status), "stackstorm")
    assert event.phase is phase
    assert event.id == f"st2:54c6b6d60640fd4f5354e74a:{status}"
    assert event.time == datetime(2026, 3, 1, 10, 0, 5 if phase.is_terminal else 0, tzinfo=UTC)


def test_stackstorm_liveaction_defaults() -> None:
    [event] = items(LIVEACTION, "stackstorm")
    assert event.workflow == "st2:core.local"
    assert event.target == "st2:action/core.local"
    assert event.principal == "st2:user/system"
    assert event.trigger is None


def test_stackstorm_several_hosts_and_canonical_target() -> None:
    events = items(execution(parameters={"hosts": ["web1", "web2"]}), "stackstorm")
    assert [e.target for e in events] == ["host:web1", "host:web2"]
    [event] = items(
        execution(parameters={"resource": "k8s:prod/payments/pods/api-1", "action": "k8s:delete:pods"}), "stackstorm"
    )
    assert (event.target, event.action) == ("k8s:prod/payments/pods/api-1", "k8s:delete:pods")


def test_stackstorm_secret_looking_target_is_not_used() -> None:
    [event] = items(execution(parameters={"target": JWT}), "stackstorm")
    assert event.target == "st2:action/remediation.restart_service"


def test_stackstorm_yaml_timestamps() -> None:
    """Unquoted YAML timestamps arrive as datetimes."""
    text = (
        "id: 54c6b6d60640fd4f5354e74a\naction: core.local\ncallback: {}\nstatus: succeeded\n"
        "start_timestamp: 2026-03-01 10:00:00Z\nend_timestamp: 2026-03-01 10:00:05\n"
    )
    result = parse_document(text.encode(), ParseContext(), sources=("stackstorm",), as_yaml=True)
    assert result.rejections == []
    assert result.items[0].time == datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)


TRACE = {"trace_tag": "t", "action_executions": [], "rules": [], "trigger_instances": []}
TRIGGER_INSTANCE = {"id": "t1", "trigger": "p.t", "occurrence_time": "2026-03-01T10:00:00Z", "payload": {}}
ENFORCEMENT = {"id": "e", "rule": {"ref": "r"}, "trigger_instance_id": "t", "execution_id": "x"}


@pytest.mark.parametrize(
    ("record", "reason", "fragment"),
    [
        (TRACE, RejectReason.WRONG_SHAPE, "trace"),
        (TRIGGER_INSTANCE, RejectReason.WRONG_SHAPE, "trigger instance, not an execution"),
        (ENFORCEMENT, RejectReason.WRONG_SHAPE, "rule enforcement"),
        (liveaction(id=None), RejectReason.MISSING_FIELD, "id"),
        (liveaction(start_timestamp=None, end_timestamp=None), RejectReason.MISSING_FIELD, "start_timestamp"),
        (liveaction(start_timestamp="at dawn"), RejectReason.BAD_TIME, "start_timestamp"),
        (liveaction(status="exploded"), RejectReason.INVALID_VALUE, "not a StackStorm action status"),
    ],
)
def test_stackstorm_rejections(record: dict[str, Any], reason: RejectReason, fragment: str) -> None:
    got, detail = rejected(record, "stackstorm")
    assert got is reason
    assert fragment in detail


def test_stackstorm_matches() -> None:
    assert stackstorm.matches(EXECUTION)
    assert stackstorm.matches(LIVEACTION)
    assert not stackstorm.matches({"action": "core.local", "status": "requested"})
    assert not stackstorm.matches({"name": "st2.webhook", "pack": "core"})


# ---------------------------------------------------------------------------------------------------
# Alertmanager
# ---------------------------------------------------------------------------------------------------

ALERTMANAGER: dict[str, Any] = {
    "receiver": "aiops",
    "status": "firing",
    "version": "4",
    "groupKey": '{}:{alertname="KubePodCrashLooping"}',
    "groupLabels": {"alertname": "KubePodCrashLooping"},
    "commonLabels": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "KubePodCrashLooping",
                "cluster": "prod-eu",
                "namespace": "payments",
                "pod": "api-7f9c",
                "severity": "critical",
                "environment": "production",
            },
            "annotations": {"summary": "crash looping"},
            "startsAt": "2026-03-01T10:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "a1bc48475b20e73d",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "NodeDown", "instance": "10.0.0.7:9100", "job": "node", "severity": "warning"},
            "startsAt": "2026-03-01T09:00:00Z",
            "endsAt": "2026-03-01T09:30:00Z",
        },
    ],
}


def alerts_payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {**copy.deepcopy(ALERTMANAGER), "status": status, "alerts": [copy.deepcopy(a) for a in alerts]}


def test_alertmanager_one_event_per_alert() -> None:
    firing, resolved = items(ALERTMANAGER, "alertmanager")
    assert isinstance(firing, AlertEvent)
    assert firing.status is AlertStatus.FIRING
    assert firing.time == datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert firing.alert == "KubePodCrashLooping"
    assert firing.fingerprint == "a1bc48475b20e73d"
    assert firing.target == "k8s:prod-eu/payments/pods/api-7f9c"
    assert firing.severity == "critical"
    assert firing.environment == "production"
    assert firing.id == "alertmanager:a1bc48475b20e73d:firing:2026-03-01T10:00:00.123456Z"
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.time == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert resolved.target == "host:10.0.0.7"
    assert len(resolved.fingerprint) == 16


def test_alertmanager_fingerprint_fallback_is_stable() -> None:
    labels = {"alertname": "A", "b": "2", "a": "1"}
    one = alerts_payload({"labels": labels, "startsAt": "2026-03-01T10:00:00Z"})
    two = alerts_payload({"labels": dict(reversed(list(labels.items()))), "startsAt": "2026-03-01T10:00:00Z"})
    other = alerts_payload({"labels": {**labels, "a": "3"}, "startsAt": "2026-03-01T10:00:00Z"})
    fingerprints = [items(p, "alertmanager")[0].fingerprint for p in (one, two, other)]
    assert fingerprints[0] == fingerprints[1] != fingerprints[2]


@pytest.mark.parametrize(
    ("labels", "target"),
    [
        ({"namespace": "pay", "deployment": "api", "pod": "api-1"}, "k8s:unknown/pay/deployments/api"),
        ({"namespace": "pay", "statefulset": "db", "cluster": "c1"}, "k8s:c1/pay/statefulsets/db"),
        ({"namespace": "pay", "job_name": "backup", "job": "kube-state-metrics"}, "k8s:unknown/pay/jobs/backup"),
        ({"namespace": "pay", "job": "kube-state-metrics"}, "prometheus:job/kube-state-metrics"),
        ({"instance": "[::1]:9100"}, "host:[::1]"),
        ({"instance": "db1"}, "host:db1"),
        ({"host": "andromeda", "instance": "x:1"}, "host:andromeda"),
        ({}, None),
    ],
)
def test_alertmanager_targets(labels: dict[str, str], target: str | None) -> None:
    assert alertmanager.target_of(labels) == target


def test_alertmanager_status_from_payload() -> None:
    [event] = items(
        alerts_payload({"labels": {"alertname": "A"}, "endsAt": "2026-03-01T10:00:00Z"}, status="resolved"),
        "alertmanager",
    )
    assert event.status is AlertStatus.RESOLVED


ZERO = "0001-01-01T00:00:00Z"
T0 = "2026-03-01T10:00:00Z"


@pytest.mark.parametrize(
    ("alert", "reason", "fragment"),
    [
        ({"status": "resolved", "labels": {"alertname": "A"}, "endsAt": ZERO}, RejectReason.MISSING_FIELD, "0.endsAt"),
        ({"labels": {"alertname": "A"}, "startsAt": "soon"}, RejectReason.BAD_TIME, "alerts.0.startsAt"),
        ({"labels": {"severity": "x"}, "startsAt": T0}, RejectReason.MISSING_FIELD, "alertname"),
        ({"status": "pending", "labels": {"alertname": "A"}}, RejectReason.INVALID_VALUE, "firing/resolved"),
        ({"labels": "alertname=A"}, RejectReason.INVALID_VALUE, "alerts.0.labels"),
    ],
)
def test_alertmanager_rejections(alert: dict[str, Any], reason: RejectReason, fragment: str) -> None:
    got, detail = rejected(alerts_payload(alert), "alertmanager")
    assert got is reason
    assert fragment in detail


def test_alertmanager_empty_alerts() -> None:
    assert rejected(alerts_payload(), "alertmanager")[0] is RejectReason.MISSING_FIELD


def test_alertmanager_matches() -> None:
    assert alertmanager.matches(ALERTMANAGER)
    assert not alertmanager.matches({"alerts": []})


# ---------------------------------------------------------------------------------------------------
# Recognition across sources, and junk
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "kind"),
    [(INCIDENT, AlertEvent), (WORKFLOW, ActionEvent), (RUNDECK, ActionEvent), (EXECUTION, ActionEvent),
     (LIVEACTION, ActionEvent), (ALERTMANAGER, AlertEvent)],
)  # fmt: skip
def test_recognised_without_source_filter(record: dict[str, Any], kind: type) -> None:
    result = run(record, None)
    assert result.rejections == []
    assert result.items
    assert all(isinstance(item, kind) for item in result.items)


_FIXTURES = {"pagerduty": INCIDENT, "rundeck": RUNDECK, "stackstorm": EXECUTION, "alertmanager": ALERTMANAGER}
_PATHS = {
    "pagerduty": ["event", "event.event_type", "event.occurred_at", "event.id", "event.data", "event.data.status",
                  "event.data.service", "event.data.priority", "event.data.title", "event.data.incident_key"],
    "rundeck": ["trigger", "execution", "execution.id", "execution.user", "execution.date-started",
                "execution.date-ended", "execution.job", "execution.job.options", "execution.job.options.hosts",
                "execution.successfulNodes", "execution.project", "execution.job.name"],
    "stackstorm": ["id", "status", "action", "liveaction", "parameters", "parameters.hosts", "start_timestamp",
                   "end_timestamp", "context", "context.user", "trigger", "liveaction.context"],
    "alertmanager": ["alerts", "status", "alerts.0", "alerts.0.labels", "alerts.0.startsAt", "alerts.0.status",
                     "alerts.0.fingerprint", "alerts.1.endsAt", "alerts.0.labels.namespace",
                     "alerts.0.labels.alertname"],
}  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES, st.sampled_from([*_FIXTURES, None]))
def test_arbitrary_json_never_raises(value: Any, source: str | None) -> None:
    for candidate in (
        value,
        {"event": value},
        {"execution": value, "trigger": "start"},
        {"receiver": "r", "alerts": value},
    ):
        result = run(candidate, source)
        assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in result.rejections)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(_FIXTURES)), st.data(), JSON_VALUES)
def test_type_swapped_fields_never_raise(source: str, data: st.DataObject, value: Any) -> None:
    record = copy.deepcopy(_FIXTURES[source])
    path_set(record, data.draw(st.sampled_from(_PATHS[source])), value)
    result = run(record, source)
    assert result.items or result.rejections
    assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in result.rejections)

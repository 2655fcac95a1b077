"""PagerDuty v3 webhooks (`{"event": {"event_type", "occurred_at", "data"}}`) → AlertEvent / ActionEvent.

Incident events whose `data` is the incident (`data.type == "incident"`: triggered, acknowledged,
unacknowledged, escalated, reassigned, priority_updated, service_updated, reopened, resolved, …)
become an AlertEvent whose status is the incident's own `data.status`: triggered and acknowledged are
firing (an acknowledgement means someone is on it, not that the condition cleared), resolved is
resolved. Without `data.status`, `incident.resolved` is resolved and the rest firing.

- id = the webhook event id; time = `occurred_at`; alert = the incident title.
- fingerprint = `incident_key` (the dedup key, stable across re-triggered incidents, so a repeat
  after a fix shows as a repeat), else the incident id.
- target = `pagerduty:service/<service id>`; severity = the priority name (P1…), else the urgency.

Incident workflow events (`incident.workflow.started` / `.completed`) are automation runs and become
an ActionEvent: workflow `pagerduty:incident_workflow/<id>`, run_id = the workflow instance id,
phase started / succeeded, action `pagerduty:RunIncidentWorkflow`, target
`pagerduty:incident/<incident id>`, principal `pagerduty:user/<agent id>` when a person started it
(`pagerduty:<type>/<id>` for other agents),
trigger fingerprint = the incident id.

Anything else (notes, responder requests, service / non-incident events) carries no incident state
and is rejected as WRONG_SHAPE with the event type in the detail.
"""

from __future__ import annotations

from typing import Any

from models.events import ActionEvent, ActionPhase, AlertEvent, AlertStatus, Trigger
from models.parsers.aiops import as_time, mapping, optional_text, text
from models.parsers.base import ParseContext, Parsed, Record, build, require
from models.rejection import ParseError, RejectReason

NAME = "pagerduty"

_WORKFLOW_PHASES = {
    "incident.workflow.started": ActionPhase.STARTED,
    "incident.workflow.completed": ActionPhase.SUCCEEDED,
}
_FIRING = {"triggered", "acknowledged"}


def matches(record: Record) -> bool:
    event = record.get("event")
    return (
        isinstance(event, dict)
        and isinstance(event.get("event_type"), str)
        and ("occurred_at" in event or "resource_type" in event)
    )


def _ref_id(value: Any, where: str) -> str | None:
    return optional_text(value.get("id"), f"{where}.id") if isinstance(value, dict) else None


def _incident(event: Record, event_type: str, ctx: ParseContext) -> AlertEvent:
    data = mapping(event.get("data"), "event.data")
    incident_id = text(data.get("id"), "event.data.id")
    status = optional_text(data.get("status"), "event.data.status")
    if status is not None:
        if status.lower() not in _FIRING | {"resolved"}:
            raise ParseError(RejectReason.INVALID_VALUE, f"event.data.status {status[:40]!r} is not an incident state")
        firing = status.lower() in _FIRING
    else:
        firing = event_type != "incident.resolved"
    service = _ref_id(data.get("service"), "event.data.service")
    priority = data.get("priority")
    severity = (
        optional_text(priority.get("summary"), "event.data.priority.summary") if isinstance(priority, dict) else None
    )
    return build(
        AlertEvent,
        {
            "id": text(event.get("id"), "event.id"),
            "time": as_time(require(event, "occurred_at"), "event.occurred_at"),
            "status": AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
            "alert": optional_text(data.get("title"), "event.data.title")
            or optional_text(data.get("summary"), "event.data.summary")
            or incident_id,
            "fingerprint": optional_text(data.get("incident_key"), "event.data.incident_key") or incident_id,
            "target": f"pagerduty:service/{service}" if service else None,
            "severity": severity or optional_text(data.get("urgency"), "event.data.urgency"),
            "raw_ref": ctx.raw_ref(),
        },
    )


def _workflow(event: Record, event_type: str, ctx: ParseContext) -> ActionEvent:
    data = mapping(event.get("data"), "event.data")
    workflow = _ref_id(data.get("incident_workflow"), "event.data.incident_workflow")
    if workflow is None:
        raise ParseError(RejectReason.MISSING_FIELD, "missing field event.data.incident_workflow.id")
    incident = data.get("incident")
    incident_id = _ref_id(incident, "event.data.incident")
    if incident_id is None:
        raise ParseError(RejectReason.MISSING_FIELD, "missing field event.data.incident.id")
    assert isinstance(incident, dict)
    agent = event.get("agent")
    agent_id = _ref_id(agent, "event.agent")
    principal = None
    if agent_id is not None and isinstance(agent, dict):
        kind = optional_text(agent.get("type"), "event.agent.type") or "user_reference"
        principal = f"pagerduty:{kind.removesuffix('_reference')}/{agent_id}"
    return build(
        ActionEvent,
        {
            "id": text(event.get("id"), "event.id"),
            "time": as_time(require(event, "occurred_at"), "event.occurred_at"),
            "workflow": f"pagerduty:incident_workflow/{workflow}",
            "run_id": text(data.get("id"), "event.data.id"),
            "phase": _WORKFLOW_PHASES[event_type],
            "action": "pagerduty:RunIncidentWorkflow",
            "target": f"pagerduty:incident/{incident_id}",
            "principal": principal,
            "trigger": build(
                Trigger,
                {
                    "alert": optional_text(incident.get("summary"), "event.data.incident.summary"),
                    "fingerprint": incident_id,
                },
            ),
            "raw_ref": ctx.raw_ref(),
        },
    )


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    event = record["event"]
    event_type = text(event.get("event_type"), "event.event_type")
    if event_type in _WORKFLOW_PHASES:
        return [_workflow(event, event_type, ctx)]
    data = event.get("data")
    if event_type.startswith("incident.") and isinstance(data, dict) and data.get("type") == "incident":
        return [_incident(event, event_type, ctx)]
    raise ParseError(
        RejectReason.WRONG_SHAPE, f"PagerDuty {event_type[:60]} carries no incident state (not an alert or a run)"
    )

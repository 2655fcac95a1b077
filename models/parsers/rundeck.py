"""Rundeck job notifications (`{"trigger": "start"|"success"|"failure", "execution": {...}}`) → ActionEvent.

- workflow = `rundeck:<project>/<group>/<job name>` (group omitted when empty; the job id when the
  job has no name; `rundeck:<project>/adhoc` for ad-hoc commands); run_id = the execution id.
- phase from `trigger` (an `on` prefix is ignored): start and avgduration (still running past its
  average) → started, success → succeeded, failure and retryablefailure → failed; without a known
  trigger, from `execution.status` (running / succeeded / failed, aborted, timedout, failed-with-retry).
- time = `date-ended` for finished phases, else `date-started` (each `{"unixtime": ms, "date": iso}`,
  epoch or ISO); a finished execution without `date-ended` falls back to `date-started`.
- action = the `action` job option when given, else `rundeck:RunJob`.
- target(s) from the job options (`target`/`resource` as canonical uids, else `host`/`hosts`/`node` as
  `host:<name>`), else the execution's successful / failed nodes (`host:<node>`), else the node filter
  (`rundeck:nodes/<filter>`), else the job (`rundeck:job/<id>`). Several targets give one event each.
- principal = `rundeck:user/<execution.user>`; environment / trigger / authorization id from the
  `environment`, `alert`/`fingerprint`/`severity` and `authorization_id`/`change_id` options.

Options are redacted before use and never kept.
"""

from __future__ import annotations

from typing import Any

from models.events import ActionEvent, ActionPhase
from models.parsers.aiops import ParamFacts, as_time, mapping, optional_text, param_facts, text
from models.parsers.base import ParseContext, Parsed, Record, build
from models.rejection import ParseError, RejectReason

NAME = "rundeck"

TRIGGER_PHASES = {
    "start": ActionPhase.STARTED,
    "avgduration": ActionPhase.STARTED,
    "success": ActionPhase.SUCCEEDED,
    "failure": ActionPhase.FAILED,
    "retryablefailure": ActionPhase.FAILED,
}
STATUS_PHASES = {
    "running": ActionPhase.STARTED,
    "succeeded": ActionPhase.SUCCEEDED,
    "failed": ActionPhase.FAILED,
    "aborted": ActionPhase.FAILED,
    "timedout": ActionPhase.FAILED,
    "failed-with-retry": ActionPhase.FAILED,
}


def matches(record: Record) -> bool:
    execution = record.get("execution")
    return (
        isinstance(execution, dict)
        and ("trigger" in record or "executionId" in record)
        and ("project" in execution or "job" in execution)
    )


def _phase(record: Record, execution: Record) -> tuple[str, ActionPhase]:
    trigger = optional_text(record.get("trigger"), "trigger")
    if trigger is not None:
        key = trigger.lower().removeprefix("on")
        if key in TRIGGER_PHASES:
            return key, TRIGGER_PHASES[key]
    status = optional_text(execution.get("status"), "execution.status") or optional_text(record.get("status"), "status")
    if status is not None and status.lower() in STATUS_PHASES:
        return status.lower(), STATUS_PHASES[status.lower()]
    raise ParseError(
        RejectReason.INVALID_VALUE, f"trigger {str(trigger)[:30]!r} / status {str(status)[:30]!r} is not a job phase"
    )


def _date(execution: Record, key: str) -> Any:
    value = execution.get(key)
    if isinstance(value, dict):
        return value.get("unixtime") if value.get("unixtime") not in (None, "") else value.get("date")
    return value


def _time(execution: Record, phase: ActionPhase) -> Any:
    ended = _date(execution, "date-ended")
    if phase.is_terminal and ended not in (None, ""):
        return as_time(ended, "execution.date-ended")
    started = _date(execution, "date-started")
    if started in (None, ""):
        raise ParseError(RejectReason.MISSING_FIELD, "missing field execution.date-started")
    return as_time(started, "execution.date-started")


def _options(execution: Record) -> Any:
    job = execution.get("job")
    for candidate in (
        job.get("options") if isinstance(job, dict) else None,
        execution.get("options"),
        execution.get("context", {}).get("option") if isinstance(execution.get("context"), dict) else None,
    ):
        if isinstance(candidate, dict):
            return candidate
    return None


def _nodes(execution: Record) -> list[str]:
    nodes: list[str] = []
    for key in ("successfulNodes", "failedNodes"):
        value = execution.get(key)
        if isinstance(value, list):
            nodes.extend(str(node).strip() for node in value if isinstance(node, str | int) and str(node).strip())
    return list(dict.fromkeys(nodes))


def _targets(execution: Record, facts: ParamFacts, job_id: str | None, project: str) -> tuple[str, ...]:
    if facts.targets:
        return facts.targets
    nodes = _nodes(execution)
    if nodes:
        if len(nodes) > 50:
            raise ParseError(RejectReason.TOO_LARGE, "execution names more than 50 nodes")
        return tuple(f"host:{node}" for node in nodes)
    job = execution.get("job")
    for holder in (job, execution):
        if isinstance(holder, dict):
            filters = holder.get("nodefilters")
            node_filter = filters.get("filter") if isinstance(filters, dict) else holder.get("filter")
            if isinstance(node_filter, str) and node_filter.strip():
                return (f"rundeck:nodes/{node_filter.strip()}",)
    return (f"rundeck:job/{job_id}",) if job_id else (f"rundeck:project/{project}",)


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    execution = mapping(record.get("execution"), "execution")
    execution_id = text(execution.get("id", record.get("executionId")), "execution.id")
    trigger, phase = _phase(record, execution)
    job = execution.get("job") if isinstance(execution.get("job"), dict) else None
    project = optional_text(execution.get("project"), "execution.project") or (
        text(job.get("project"), "execution.job.project") if job else text(None, "execution.project")
    )
    job_id = optional_text(job.get("id"), "execution.job.id") if job else None
    if job is not None:
        name = optional_text(job.get("name"), "execution.job.name") or job_id
        if name is None:
            raise ParseError(RejectReason.MISSING_FIELD, "missing field execution.job.name")
        group = (optional_text(job.get("group"), "execution.job.group") or "").strip("/")
        workflow = f"rundeck:{project}/{group}/{name}" if group else f"rundeck:{project}/{name}"
    else:
        workflow = f"rundeck:{project}/adhoc"
    facts = param_facts(_options(execution), "execution.job.options")
    action = facts.action or "rundeck:RunJob"
    user = optional_text(execution.get("user"), "execution.user")
    when = _time(execution, phase)
    targets = _targets(execution, facts, job_id, project)
    base_id = f"rundeck:{project}/{execution_id}:{trigger}"
    return [
        build(
            ActionEvent,
            {
                "id": base_id if len(targets) == 1 else f"{base_id}#{index}",
                "time": when,
                "workflow": workflow,
                "run_id": execution_id,
                "phase": phase,
                "action": action,
                "target": target,
                "environment": facts.environment,
                "principal": f"rundeck:user/{user}" if user else None,
                "trigger": facts.trigger,
                "authorization_id": facts.authorization_id,
                "raw_ref": ctx.raw_ref(),
            },
        )
        for index, target in enumerate(targets)
    ]

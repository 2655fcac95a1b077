"""StackStorm action executions and live actions → ActionEvent.

Two record shapes: an action execution (`{"id", "status", "action": {...}, "liveaction": {...},
"runner", "parameters", "context", "rule", "trigger_instance", ...}`, as the API and the
`st2.execution__*` stream events give it) and a live action (`{"id", "action": "pack.name", "status",
"context": {"user", ...}, "parameters", ...}`).

- workflow = `st2:<action ref>` (`action.ref`, else the live action's `action`, else `pack.name`);
  run_id = the record's own id (an execution's children are runs of their own actions; `parent` is
  not followed). id = `st2:<id>:<status>`, so each status change is one event.
- phase: `pending` (an Inquiry waiting for a human answer) → recommended; requested, scheduled,
  delayed, running, pausing, paused, resuming and canceling → started (st2 sets start_timestamp at
  request time and nothing stands between a requested execution and its effect, so it counts as
  started, failing closed); succeeded → succeeded; failed, timeout, abandoned and canceled → failed.
- time = `end_timestamp` for succeeded / failed, else `start_timestamp` (falling back to the live
  action's); no timestamp → MISSING_FIELD, a bad one → BAD_TIME.
- action = a canonical `action` parameter (`service:Operation`) when given, else `st2:<action ref>`.
- target(s) from the parameters (`target`/`resource` as canonical uids, else `hosts`/`host`/`node`
  as `host:<name>`; several give one event each), else `st2:action/<action ref>`.
- principal = `st2:user/<context.user>` (the live action's context for executions); environment,
  trigger and authorization id from `environment`, `alert`/`fingerprint`/`severity` and
  `authorization_id` parameters; trigger alert falls back to the firing trigger's ref.

Parameters are redacted before use and never kept. Traces, trigger instances and rule enforcements
are recognised and rejected as WRONG_SHAPE ("not an execution"): a trigger instance is any sensor or
timer event, not necessarily an alert, so it is not turned into an AlertEvent.
"""

from __future__ import annotations

from datetime import datetime

from models.events import ActionEvent, ActionPhase, Trigger
from models.parsers.aiops import as_time, optional_text, param_facts, text
from models.parsers.base import ParseContext, Parsed, Record, build
from models.rejection import ParseError, RejectReason

NAME = "stackstorm"

PHASES: dict[str, ActionPhase] = {
    "pending": ActionPhase.RECOMMENDED,
    "requested": ActionPhase.STARTED,
    "scheduled": ActionPhase.STARTED,
    "delayed": ActionPhase.STARTED,
    "running": ActionPhase.STARTED,
    "pausing": ActionPhase.STARTED,
    "paused": ActionPhase.STARTED,
    "resuming": ActionPhase.STARTED,
    "canceling": ActionPhase.STARTED,
    "succeeded": ActionPhase.SUCCEEDED,
    "failed": ActionPhase.FAILED,
    "timeout": ActionPhase.FAILED,
    "abandoned": ActionPhase.FAILED,
    "canceled": ActionPhase.FAILED,
}


def _is_execution(record: Record) -> bool:
    return isinstance(record.get("liveaction"), dict) and (
        isinstance(record.get("action"), dict) or isinstance(record.get("runner"), dict)
    )


def _is_liveaction(record: Record) -> bool:
    return (
        isinstance(record.get("action"), str)
        and isinstance(record.get("status"), str)
        and any(key in record for key in ("start_timestamp", "callback", "runner_info"))
    )


def _not_execution(record: Record) -> str | None:
    if "trace_tag" in record and any(k in record for k in ("action_executions", "rules", "trigger_instances")):
        return "StackStorm trace"
    if isinstance(record.get("trigger"), str) and "occurrence_time" in record and "payload" in record:
        return "StackStorm trigger instance"
    if "trigger_instance_id" in record and ("rule" in record or "execution_id" in record):
        return "StackStorm rule enforcement"
    return None


def matches(record: Record) -> bool:
    return _is_execution(record) or _is_liveaction(record) or _not_execution(record) is not None


def _ref(record: Record, liveaction: Record) -> str:
    action = record.get("action")
    if isinstance(action, dict):
        ref = optional_text(action.get("ref"), "action.ref")
        if ref:
            return ref
    elif isinstance(action, str) and action.strip():
        return action.strip()
    live = optional_text(liveaction.get("action"), "liveaction.action")
    if live:
        return live
    if isinstance(action, dict):
        name = optional_text(action.get("name"), "action.name")
        pack = optional_text(action.get("pack"), "action.pack")
        if name:
            return f"{pack}.{name}" if pack else name
    raise ParseError(RejectReason.MISSING_FIELD, "missing field action.ref")


def _time(record: Record, liveaction: Record, phase: ActionPhase) -> datetime:
    keys = ("end_timestamp", "start_timestamp") if phase.is_terminal else ("start_timestamp",)
    for key in keys:
        for holder, prefix in ((record, ""), (liveaction, "liveaction.")):
            value = holder.get(key)
            if value not in (None, ""):
                return as_time(value, prefix + key)
    raise ParseError(RejectReason.MISSING_FIELD, f"missing field {keys[-1]}")


def _context_user(record: Record, liveaction: Record) -> str | None:
    for holder in (record, liveaction):
        context = holder.get("context")
        if isinstance(context, dict):
            user = optional_text(context.get("user"), "context.user")
            if user:
                return user
    return None


def _trigger_ref(record: Record) -> str | None:
    for key in ("trigger", "trigger_type"):
        value = record.get(key)
        if isinstance(value, dict):
            ref = optional_text(value.get("ref"), f"{key}.ref") or optional_text(value.get("type"), f"{key}.type")
            if ref:
                return ref
    return None


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    reason = _not_execution(record)
    if reason is not None and not (_is_execution(record) or _is_liveaction(record)):
        raise ParseError(RejectReason.WRONG_SHAPE, f"{reason}, not an execution")
    liveaction = record.get("liveaction")
    liveaction = liveaction if isinstance(liveaction, dict) else {}
    execution_id = text(record.get("id"), "id")
    status = text(record.get("status") or liveaction.get("status"), "status").lower()
    if status not in PHASES:
        raise ParseError(RejectReason.INVALID_VALUE, f"status {status[:30]!r} is not a StackStorm action status")
    phase = PHASES[status]
    ref = _ref(record, liveaction)
    params = record.get("parameters")
    if not params and isinstance(liveaction.get("parameters"), dict):
        params = liveaction.get("parameters")
    facts = param_facts(params, "parameters")
    trigger = facts.trigger
    trigger_ref = _trigger_ref(record)
    if trigger is None and trigger_ref:
        trigger = build(Trigger, {"alert": trigger_ref})
    user = _context_user(record, liveaction)
    when = _time(record, liveaction, phase)
    targets = facts.targets or (f"st2:action/{ref}",)
    base_id = f"st2:{execution_id}:{status}"
    return [
        build(
            ActionEvent,
            {
                "id": base_id if len(targets) == 1 else f"{base_id}#{index}",
                "time": when,
                "workflow": f"st2:{ref}",
                "run_id": execution_id,
                "phase": phase,
                "action": facts.action or f"st2:{ref}",
                "target": target,
                "environment": facts.environment,
                "principal": f"st2:user/{user}" if user else None,
                "trigger": trigger,
                "authorization_id": facts.authorization_id,
                "raw_ref": ctx.raw_ref(),
            },
        )
        for index, target in enumerate(targets)
    ]

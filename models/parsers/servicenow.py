"""ServiceNow `change_request` records from the Table API → AuthorizationRecord.

Accepted shapes: one record, or the Table API envelope `{"result": {...}}` / `{"result": [...]}`, with
`sysparm_display_value=false` (plain values; reference fields as `{"link", "value"}`) or `=all` (every
field as `{"display_value", "value"}`). Numbers may be ints, floats (`-5.0`) or strings (`"-5"`).
With `sysparm_display_value=true` fields are display strings only: choices still map (state "New",
approval "Approved"), but dates are then in the API user's local format and zone, so request `false`
or `all` (times are read from `value`, which ServiceNow gives as UTC `YYYY-MM-DD HH:MM:SS`).

Mapping:

- id = `number` (CHG0031889); purpose = `short_description`; type = `type` (standard / normal /
  emergency; anything else is normal).
- status, from `state` first, then `approval`: state Canceled (4) → revoked; Closed (3) and Review (0)
  → closed (the work is over); otherwise approval approved → approved, rejected → rejected,
  cancelled → revoked, anything else (requested, not requested, not_required, …) → pending.
  States New (-5), Assess (-4), Authorize (-3), Scheduled (-2) and Implement (-1) leave it to approval.
- status_changes: pending at `opened_at` (or `sys_created_on`), then approved/rejected at
  `approval_set`, then closed/revoked at `closed_at` (or `sys_updated_on`): a change closed after its
  work keeps its approved period for events that arrive late. When a time is missing the history is
  dropped and `status` holds for all time.
- owner = `assigned_to`, else `assignment_group`, `requested_by`, `opened_by` (display name preferred,
  else the sys_id); `unassigned` when none. requested_by = `requested_by`.
- approved_by = names in `approval_history` lines `Approved by <name>` plus the reference / list fields
  `approver`, `approvers`, `u_approver`, `u_approved_by`, `u_approvers` when present.
- window = `start_date`..`end_date`, else `work_start`..`work_end`; none when either end is missing.

Scope convention. ServiceNow has no fields for the principals, actions and resources opswarden judges
by. They are read from a custom string field `u_opswarden_scope` holding JSON::

    {"principals": ["arn:aws:iam::123456789012:role/aiops-remediator"],
     "actions": ["ec2:RebootInstances"], "resources": ["arn:aws:ec2:*:123456789012:instance/*"],
     "environments": ["production"]}

Without it, resources come from `cmdb_ci` (its display name, which should then be a canonical uid or a
glob) and environments are `*`. A change that declares no principals or no actions authorizes nothing:
they are set to `UNSCOPED` ("<none>"), a literal no principal uid or action equals, so the record is
kept as evidence (an approved change exists, by whom, when) without widening anyone's authority.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson

from models.authorization import AuthorizationRecord, AuthStatus, AuthType, FixedWindow, StatusChange
from models.parsers.aiops import as_time, text_list
from models.parsers.base import ParseContext, Parsed, Record
from models.rejection import ParseError, RejectReason

NAME = "servicenow"

#: Principal / action placeholder of a change that declares no scope: equals no real uid or action.
UNSCOPED = "<none>"
UNASSIGNED = "unassigned"
SCOPE_FIELD = "u_opswarden_scope"
_SCOPE_KEYS = ("principals", "actions", "resources", "environments")

#: Change Management state choices (value → name); names are matched too, case-insensitively.
STATES: dict[int, str] = {
    -5: "new",
    -4: "assess",
    -3: "authorize",
    -2: "scheduled",
    -1: "implement",
    0: "review",
    3: "closed",
    4: "canceled",
}
_STATE_NAMES = {name: name for name in STATES.values()} | {"cancelled": "canceled"}
_STATE_STATUS = {"canceled": AuthStatus.REVOKED, "closed": AuthStatus.CLOSED, "review": AuthStatus.CLOSED}
_APPROVALS = {
    "approved": AuthStatus.APPROVED,
    "rejected": AuthStatus.REJECTED,
    "cancelled": AuthStatus.REVOKED,
    "canceled": AuthStatus.REVOKED,
}
_APPROVED_BY = re.compile(r"(?im)^\s*approved by[:\s]+(.+?)\s*$")
_APPROVER_FIELDS = ("approver", "approvers", "u_approver", "u_approved_by", "u_approvers")


# ---------------------------------------------------------------------------------------------------
# Field access: plain values, {"value", "display_value"} and {"link", "value"} alike
# ---------------------------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _value(record: Record, name: str) -> Any:
    raw = record.get(name)
    if isinstance(raw, dict):
        raw = raw.get("value")
    return None if _blank(raw) else raw


def _display(record: Record, name: str) -> Any:
    raw = record.get(name)
    if isinstance(raw, dict):
        raw = raw.get("display_value")
    return None if _blank(raw) else raw


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str | int | float):
        result = str(value).strip()
        return result or None
    return None


def _name(record: Record, name: str) -> str | None:
    """A person / group / CI: the display name when given, else the value (a sys_id)."""
    return _scalar_text(_display(record, name)) or _scalar_text(_value(record, name))


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if number.is_integer() else None
    return None


def _choice(record: Record, name: str) -> str | None:
    """A choice field's value, lowercased; falls back to the display value."""
    for raw in (_value(record, name), _display(record, name)):
        label = _scalar_text(raw)
        if label is not None:
            return label.lower()
    return None


def _time(record: Record, name: str) -> datetime | None:
    raw = _value(record, name)
    return None if raw is None else as_time(raw, f"{name}.value")


# ---------------------------------------------------------------------------------------------------
# Recognition
# ---------------------------------------------------------------------------------------------------


def _is_change(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    number = _scalar_text(_value(record, "number")) or _scalar_text(_display(record, "number"))
    if _scalar_text(_value(record, "sys_id")) is None or number is None:
        return False
    return (
        _choice(record, "sys_class_name") in ("change_request", "change request")
        or number.upper().startswith("CHG")
        or "change_plan" in record
        or ("type" in record and "approval" in record)
    )


def _records(record: Record) -> list[Any]:
    result = record.get("result")
    if "sys_id" not in record and isinstance(result, dict):
        return [result]
    if "sys_id" not in record and isinstance(result, list):
        return result
    return [record]


def matches(record: Record) -> bool:
    return any(_is_change(item) for item in _records(record))


# ---------------------------------------------------------------------------------------------------
# Mapping
# ---------------------------------------------------------------------------------------------------


def _state(record: Record) -> str | None:
    for raw in (_value(record, "state"), _display(record, "state")):
        number = _number(raw)
        if number is not None:
            return STATES.get(number)
        label = _scalar_text(raw)
        if label is not None and label.lower() in _STATE_NAMES:
            return _STATE_NAMES[label.lower()]
    return None


def _approval(record: Record) -> AuthStatus:
    for raw in (_value(record, "approval"), _display(record, "approval")):
        label = _scalar_text(raw)
        if label is not None and label.lower() in _APPROVALS:
            return _APPROVALS[label.lower()]
    return AuthStatus.PENDING


def _status(record: Record) -> tuple[AuthStatus, tuple[StatusChange, ...]]:
    state = _state(record)
    approval = _approval(record)
    terminal = _STATE_STATUS.get(state or "")
    status = terminal or approval
    steps: list[tuple[AuthStatus, datetime | None]] = []
    opened = _time(record, "opened_at") or _time(record, "sys_created_on")
    if approval is not AuthStatus.PENDING:
        steps.append((approval, _time(record, "approval_set")))
    if terminal is not None and terminal is not approval:
        steps.append((terminal, _time(record, "closed_at") or _time(record, "sys_updated_on")))
    if opened is not None and (not steps or (steps[0][1] is not None and opened < steps[0][1])):
        steps.insert(0, (AuthStatus.PENDING, opened))
    times = [at for _, at in steps]
    if not steps or any(at is None for at in times) or times != sorted(t for t in times if t is not None):
        return status, ()
    if steps[-1][0] is not status:
        return status, ()
    return status, tuple(StatusChange(status=s, at=at) for s, at in steps if at is not None)


def _type(record: Record) -> AuthType:
    label = _choice(record, "type")
    try:
        return AuthType(label) if label else AuthType.NORMAL
    except ValueError:
        return AuthType.NORMAL


def _window(record: Record) -> FixedWindow | None:
    for start_field, end_field in (("start_date", "end_date"), ("work_start", "work_end")):
        start, end = _time(record, start_field), _time(record, end_field)
        if start is not None and end is not None:
            if end < start:
                raise ParseError(RejectReason.INVALID_VALUE, f"{end_field} is before {start_field}")
            return FixedWindow(start=start, end=end)
    return None


def _approved_by(record: Record) -> tuple[str, ...]:
    names: list[str] = []
    history = _scalar_text(_display(record, "approval_history")) or _scalar_text(_value(record, "approval_history"))
    if history:
        names.extend(match.strip() for match in _APPROVED_BY.findall(history))
    for field in _APPROVER_FIELDS:
        if field in record:
            listed = _name(record, field)
            if listed:
                names.extend(part.strip() for part in listed.split(","))
    return tuple(dict.fromkeys(name for name in names if name))


def _owner(record: Record) -> str:
    for field in ("assigned_to", "assignment_group", "requested_by", "opened_by"):
        name = _name(record, field)
        if name:
            return name
    return UNASSIGNED


def _scope(record: Record) -> dict[str, tuple[str, ...]]:
    raw = record.get(SCOPE_FIELD)
    if isinstance(raw, dict) and ("value" in raw or "display_value" in raw):
        raw = raw.get("value") if not _blank(raw.get("value")) else raw.get("display_value")
    if _blank(raw):
        return {}
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(RejectReason.INVALID_VALUE, f"{SCOPE_FIELD} is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ParseError(RejectReason.INVALID_VALUE, f"{SCOPE_FIELD} is not a JSON object")
    unknown = sorted(str(key) for key in raw if key not in _SCOPE_KEYS)
    if unknown:
        raise ParseError(RejectReason.INVALID_VALUE, f"{SCOPE_FIELD} has unknown keys {unknown}")
    return {key: text_list(raw[key], f"{SCOPE_FIELD}.{key}") for key in _SCOPE_KEYS if raw.get(key) is not None}


def _one(record: Record) -> AuthorizationRecord:
    number = _scalar_text(_value(record, "number")) or _scalar_text(_display(record, "number"))
    if number is None:
        raise ParseError(RejectReason.MISSING_FIELD, "missing field number")
    status, changes = _status(record)
    scope = _scope(record)
    ci = _name(record, "cmdb_ci")
    return AuthorizationRecord(
        id=number,
        status=status,
        status_changes=changes,
        type=_type(record),
        owner=_owner(record),
        requested_by=_name(record, "requested_by"),
        approved_by=_approved_by(record),
        purpose=_scalar_text(_value(record, "short_description") or _display(record, "short_description")),
        principals=scope.get("principals", (UNSCOPED,)),
        actions=scope.get("actions", (UNSCOPED,)),
        resources=scope.get("resources") or ((ci,) if ci else ("*",)),
        environments=scope.get("environments", ("*",)),
        window=_window(record),
    )


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    out: list[Parsed] = []
    for index, item in enumerate(_records(record)):
        if not _is_change(item):
            raise ParseError(RejectReason.WRONG_SHAPE, f"result.{index} is not a change_request record")
        try:
            out.append(_one(item))
        except ParseError as exc:
            where = f"result.{index}: " if item is not record else ""
            raise ParseError(exc.reason, where + exc.detail) from exc
    return out

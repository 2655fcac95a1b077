"""ServiceNow change_request adapter: display values or not, numbers as strings/floats, status, scope, junk."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.authorization import AuthorizationRecord, AuthStatus, AuthType, FixedWindow
from models.parsers import ParseResult, parse_document, servicenow
from models.parsers.base import ParseContext
from models.rejection import RejectReason
from tests.models.parsing import single_rejection
from tests.models.test_aiops import JSON_VALUES

SCOPE = {
    "principals": ["arn:aws:iam::123456789012:role/aiops-remediator"],
    "actions": ["ec2:RebootInstances"],
    "resources": ["arn:aws:ec2:*:123456789012:instance/*"],
    "environments": ["production"],
}

#: `sysparm_display_value=false`: plain values, reference fields as {link, value}, numbers as strings.
PLAIN: dict[str, Any] = {
    "sys_id": "a9e30c7dc61122760116894de7bcc7bd",
    "number": "CHG0040001",
    "sys_class_name": "change_request",
    "type": "normal",
    "state": "-1",
    "approval": "approved",
    "short_description": "Reboot the payment API hosts",
    "assigned_to": {"link": "https://x.service-now.com/api/now/table/sys_user/5137153cc611", "value": "5137153cc611"},
    "requested_by": {"link": "https://x.service-now.com/api/now/table/sys_user/62826bf0", "value": "62826bf0"},
    "opened_at": "2026-03-01 07:00:00",
    "approval_set": "2026-03-01 08:00:00",
    "start_date": "2026-03-01 09:00:00",
    "end_date": "2026-03-01 11:00:00",
    "closed_at": "",
    "sys_updated_on": "2026-03-01 08:00:00",
    "cmdb_ci": "",
    "u_opswarden_scope": orjson.dumps(SCOPE).decode(),
}


def dv(display: Any, value: Any) -> dict[str, Any]:
    return {"display_value": display, "value": value}


#: `sysparm_display_value=all`: every field {display_value, value}; numbers as floats (as in the real sample).
ALL: dict[str, Any] = {
    "sys_id": dv("11ab5ccfdb784d505da401a3ca96190a", "11ab5ccfdb784d505da401a3ca96190a"),
    "number": dv("CHG0040002", "CHG0040002"),
    "sys_class_name": dv("Change Request", "change_request"),
    "type": dv("Emergency", "emergency"),
    "state": dv("Scheduled", -2.0),
    "approval": dv("Approved", "approved"),
    "short_description": dv("Fail over the primary database", "Fail over the primary database"),
    "assigned_to": dv("Beth Anglin", "46d44a23a9fe19810012d100cca80666"),
    "assignment_group": dv("Database", "287ee6fea9fe198100ada7950d0b1b73"),
    "requested_by": dv("Abel Tuter", "62826bf03710200044e0bfc8bcbe5df1"),
    "opened_at": {
        "display_value": "01/03/2026 08:00:00",
        "value": "2026-03-01 07:00:00",
        "display_value_internal": "x",
    },
    "approval_set": {"display_value": "01/03/2026 09:30:00", "value": "2026-03-01 08:30:00"},
    "start_date": {"display_value": "01/03/2026 10:00:00", "value": "2026-03-01 09:00:00"},
    "end_date": {"display_value": "01/03/2026 12:00:00", "value": "2026-03-01 11:00:00"},
    "closed_at": dv("", ""),
    "approval_history": dv(
        "2026-03-01 09:30:00 - Beth Anglin (Approval history)\nApproved by Beth Anglin\n\n"
        "2026-03-01 09:20:00 - Bow Ruggeri (Approval history)\nApproved by Bow Ruggeri\n",
        "",
    ),
    "cmdb_ci": dv("arn:aws:rds:eu-west-1:123456789012:db:payments-primary", "b0c25d1bc0a800090168be1bfcdcd759"),
    "u_opswarden_scope": dv("", ""),
}


def plain(**overrides: Any) -> dict[str, Any]:
    out = copy.deepcopy(PLAIN)
    out.update(overrides)
    return out


def all_values(**overrides: Any) -> dict[str, Any]:
    out = copy.deepcopy(ALL)
    out.update(overrides)
    return out


def run(record: Any, sources: tuple[str, ...] | None = ("servicenow",)) -> ParseResult:
    return parse_document(orjson.dumps(record), ParseContext(), sources=sources)


def records(record: Any) -> list[AuthorizationRecord]:
    result = run(record)
    assert result.rejections == []
    assert all(isinstance(item, AuthorizationRecord) for item in result.items)
    return [item for item in result.items if isinstance(item, AuthorizationRecord)]


def one(record: Any) -> AuthorizationRecord:
    items = records(record)
    assert len(items) == 1
    return items[0]


def rejected(record: Any) -> tuple[RejectReason, str]:
    refused = single_rejection(record, "servicenow", ParseContext())
    return refused.reason, refused.detail


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 1, hour, minute, tzinfo=UTC)


def test_plain_values_with_scope() -> None:
    record = one(PLAIN)
    assert record.id == "CHG0040001"
    assert record.status is AuthStatus.APPROVED
    assert record.type is AuthType.NORMAL
    assert record.owner == "5137153cc611"  # no display value: the sys_id
    assert record.requested_by == "62826bf0"
    assert record.purpose == "Reboot the payment API hosts"
    assert record.principals == tuple(SCOPE["principals"])
    assert record.actions == tuple(SCOPE["actions"])
    assert record.resources == tuple(SCOPE["resources"])
    assert record.environments == tuple(SCOPE["environments"])
    assert record.window == FixedWindow(start=at(9), end=at(11))
    assert [(c.status, c.at) for c in record.status_changes] == [
        (AuthStatus.PENDING, at(7)),
        (AuthStatus.APPROVED, at(8)),
    ]


def test_display_values_with_floats() -> None:
    record = one(ALL)
    assert record.id == "CHG0040002"
    assert record.status is AuthStatus.APPROVED
    assert record.type is AuthType.EMERGENCY
    assert record.owner == "Beth Anglin"
    assert record.requested_by == "Abel Tuter"
    assert record.approved_by == ("Beth Anglin", "Bow Ruggeri")
    # Times come from `value` (UTC), never from the local display value.
    assert record.window == FixedWindow(start=at(9), end=at(11))
    assert record.status_at(at(8)) is AuthStatus.PENDING
    assert record.status_at(at(8, 30)) is AuthStatus.APPROVED
    # No scope field: nobody is authorized, the CI still names the resource.
    assert record.principals == (servicenow.UNSCOPED,)
    assert record.actions == (servicenow.UNSCOPED,)
    assert record.resources == ("arn:aws:rds:eu-west-1:123456789012:db:payments-primary",)
    assert record.environments == ("*",)


def test_display_only_strings() -> None:
    """`sysparm_display_value=true`: choices arrive as labels."""
    record = one(plain(state="Implement", approval="Approved", type="Standard"))
    assert record.status is AuthStatus.APPROVED
    assert record.type is AuthType.STANDARD


@pytest.mark.parametrize(
    ("state", "approval", "expected"),
    [
        (-5, "approved", AuthStatus.APPROVED),  # a standard change is pre-approved while New
        ("-4", "requested", AuthStatus.PENDING),
        (-3.0, "requested", AuthStatus.PENDING),
        ("-3", "not requested", AuthStatus.PENDING),
        ("Authorize", "Not Yet Requested", AuthStatus.PENDING),
        (-2, "approved", AuthStatus.APPROVED),
        ("-1.0", "approved", AuthStatus.APPROVED),
        (-1, "rejected", AuthStatus.REJECTED),
        (-1, "not_required", AuthStatus.PENDING),
        (-1, "cancelled", AuthStatus.REVOKED),
        (0, "approved", AuthStatus.CLOSED),
        ("Review", "approved", AuthStatus.CLOSED),
        (3, "approved", AuthStatus.CLOSED),
        ("Closed", "approved", AuthStatus.CLOSED),
        (4, "approved", AuthStatus.REVOKED),
        ("Cancelled", "requested", AuthStatus.REVOKED),
        ("Canceled", "approved", AuthStatus.REVOKED),
        (None, "approved", AuthStatus.APPROVED),
        (-1, None, AuthStatus.PENDING),
        (17, "approved", AuthStatus.APPROVED),  # a custom state leaves it to approval
    ],
)
def test_status_mapping(state: Any, approval: Any, expected: AuthStatus) -> None:
    assert one(plain(state=state, approval=approval)).status is expected
    assert one(all_values(state=dv(str(state), state), approval=dv(approval, approval))).status is expected


def test_closed_change_keeps_its_approved_period() -> None:
    record = one(plain(state="3", closed_at="2026-03-01 12:00:00"))
    assert record.status is AuthStatus.CLOSED
    assert record.status_at(at(7, 30)) is AuthStatus.PENDING
    assert record.status_at(at(10)) is AuthStatus.APPROVED
    assert record.status_at(at(12, 1)) is AuthStatus.CLOSED


def test_closed_without_closed_at_uses_last_update() -> None:
    record = one(plain(state="3", closed_at="", sys_updated_on="2026-03-01 13:00:00"))
    assert record.status_at(at(12)) is AuthStatus.APPROVED
    assert record.status_at(at(13)) is AuthStatus.CLOSED


def test_missing_approval_time_drops_history() -> None:
    record = one(plain(approval_set=""))
    assert record.status is AuthStatus.APPROVED
    assert record.status_changes == ()


def test_types_and_unknown_type() -> None:
    assert one(plain(type="emergency")).type is AuthType.EMERGENCY
    assert one(plain(type="comprehensive")).type is AuthType.NORMAL
    assert one(plain(type=None)).type is AuthType.NORMAL


def test_owner_fallbacks() -> None:
    assert one(all_values(assigned_to=dv("", ""))).owner == "Database"
    assert one(all_values(assigned_to=dv("", ""), assignment_group=dv("", ""))).owner == "Abel Tuter"
    bare = plain(assigned_to="", requested_by="")
    assert one(bare).owner == servicenow.UNASSIGNED


def test_approver_fields() -> None:
    record = one(plain(u_approved_by=dv("Beth Anglin, Fred Luddy", "46d4,5137")))
    assert record.approved_by == ("Beth Anglin", "Fred Luddy")


def test_work_dates_when_no_planned_dates() -> None:
    record = one(plain(start_date="", end_date="", work_start="2026-03-01 09:30:00", work_end="2026-03-01 10:00:00"))
    assert record.window == FixedWindow(start=at(9, 30), end=at(10))


def test_one_sided_dates_give_no_window() -> None:
    assert one(plain(end_date="")).window is None


def test_scope_as_object_and_partial() -> None:
    record = one(plain(u_opswarden_scope={"principals": "role/a"}))
    assert record.principals == ("role/a",)
    assert record.actions == (servicenow.UNSCOPED,)
    assert record.resources == ("*",)


def test_result_envelope_single_and_list() -> None:
    assert one({"result": PLAIN}).id == "CHG0040001"
    assert [r.id for r in records({"result": [PLAIN, ALL]})] == ["CHG0040001", "CHG0040002"]


def test_recognised_without_source_filter() -> None:
    result = run({"result": ALL}, sources=None)
    assert [type(item) for item in result.items] == [AuthorizationRecord]


@pytest.mark.parametrize(
    ("overrides", "reason", "fragment"),
    [
        ({"u_opswarden_scope": "{principals: nope"}, RejectReason.INVALID_VALUE, "u_opswarden_scope is not JSON"),
        ({"u_opswarden_scope": '["role/a"]'}, RejectReason.INVALID_VALUE, "not a JSON object"),
        ({"u_opswarden_scope": '{"principal": ["role/a"]}'}, RejectReason.INVALID_VALUE, "unknown keys"),
        ({"u_opswarden_scope": '{"principals": []}'}, RejectReason.INVALID_VALUE, "principals is empty"),
        ({"end_date": "2026-03-01 08:00:00"}, RejectReason.INVALID_VALUE, "end_date is before start_date"),
        ({"start_date": "01/03/2026 09:00:00"}, RejectReason.BAD_TIME, "start_date"),
    ],
)
def test_rejections(overrides: dict[str, Any], reason: RejectReason, fragment: str) -> None:
    got, detail = rejected(plain(**overrides))
    assert got is reason
    assert fragment in detail


def test_list_with_a_non_change_is_rejected_with_its_index() -> None:
    reason, detail = rejected(
        {"result": [PLAIN, {"sys_id": "x", "number": "INC0010001", "sys_class_name": "incident"}]}
    )
    assert reason is RejectReason.WRONG_SHAPE
    assert "result.1" in detail


def test_matches() -> None:
    assert servicenow.matches(PLAIN)
    assert servicenow.matches(ALL)
    assert servicenow.matches({"result": [PLAIN]})
    assert servicenow.matches({"sys_id": "x", "number": "42", "type": "normal", "approval": "approved"})
    assert not servicenow.matches({"number": "CHG1"})
    assert not servicenow.matches({"sys_id": "x", "number": "INC0010001", "sys_class_name": "incident"})
    assert not servicenow.matches({"result": "ok"})


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_arbitrary_json_never_raises(value: Any) -> None:
    for candidate in (value, {"result": value}, plain(u_opswarden_scope=value), {"sys_id": "x", "number": value}):
        result = run(candidate)
        assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in result.rejections)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(PLAIN)), st.booleans(), JSON_VALUES)
def test_type_swapped_fields_never_raise(field: str, display: bool, value: Any) -> None:
    record = all_values() if display else plain()
    record[field] = {"display_value": value, "value": value} if display and field in record else value
    result = run(record)
    assert len(result.items) + len(result.rejections) == 1
    assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in result.rejections)

"""Native authorization records: statuses, history, both window forms and their validation, junk input."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.authorization import AuthorizationRecord, AuthStatus, AuthType, FixedWindow, RecurringWindow
from models.parsers import ParseResult, parse_document
from models.parsers.authorization import parse_duration, recurrence_rule
from models.parsers.base import ParseContext
from models.rejection import ParseError, RejectReason
from tests.models.parsing import single_item, single_rejection
from tests.models.test_aiops import JSON_VALUES

RECORD: dict[str, Any] = {
    "kind": "authorization",
    "id": "AUTH-7",
    "status": "approved",
    "status_changes": [
        {"status": "approved", "at": "2026-03-01T09:00:00Z"},
        {"status": "pending", "at": "2026-03-01T08:00:00Z"},
        {"status": "closed", "at": "2026-03-01T12:00:00Z"},
    ],
    "type": "normal",
    "owner": "team-payments",
    "requested_by": "alice",
    "approved_by": ["bob", "carol"],
    "purpose": "restart crash-looping payment pods",
    "principals": ["system:serviceaccount:aiops:restarter"],
    "actions": ["k8s:delete:pods", "k8s:patch:deployments"],
    "resources": ["k8s:prod-eu/payments/*"],
    "environments": ["production"],
    "window": {"start": "2026-03-01T09:00:00Z", "end": "2026-03-01T11:00:00Z"},
}
RECURRING = {
    "rrule": "FREQ=WEEKLY;BYDAY=SU",
    "dtstart": "2026-03-01T01:30:00",
    "duration": "PT2H",
    "tz": "America/New_York",
}


def auth(**overrides: Any) -> dict[str, Any]:
    out = copy.deepcopy(RECORD)
    out.update(overrides)
    return out


def run(record: Any) -> ParseResult:
    return parse_document(orjson.dumps(record), ParseContext(), sources=("authorization",))


def one(record: Any) -> AuthorizationRecord:
    return single_item(record, "authorization", ParseContext(), AuthorizationRecord)


def rejected(record: Any) -> tuple[RejectReason, str]:
    refused = single_rejection(record, "authorization", ParseContext())
    return refused.reason, refused.detail


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 1, hour, minute, tzinfo=UTC)


def test_full_record() -> None:
    record = one(RECORD)
    assert record.id == "AUTH-7"
    assert record.status is AuthStatus.APPROVED
    assert [c.status for c in record.status_changes] == [AuthStatus.PENDING, AuthStatus.APPROVED, AuthStatus.CLOSED]
    assert record.type is AuthType.NORMAL
    assert record.owner == "team-payments"
    assert record.requested_by == "alice"
    assert record.approved_by == ("bob", "carol")
    assert record.principals == ("system:serviceaccount:aiops:restarter",)
    assert record.actions == ("k8s:delete:pods", "k8s:patch:deployments")
    assert record.resources == ("k8s:prod-eu/payments/*",)
    assert record.environments == ("production",)
    assert record.window == FixedWindow(start=at(9), end=at(11))
    assert record.status_at(at(7)) is None
    assert record.status_at(at(8, 30)) is AuthStatus.PENDING
    assert record.status_at(at(10)) is AuthStatus.APPROVED
    assert record.status_at(at(13)) is AuthStatus.CLOSED


@pytest.mark.parametrize("status", list(AuthStatus))
def test_every_status_without_history_holds_for_all_time(status: AuthStatus) -> None:
    record = one(auth(status=status.value, status_changes=None))
    assert record.status is status
    assert record.status_changes == ()
    assert record.status_at(datetime(2000, 1, 1, tzinfo=UTC)) is status


@pytest.mark.parametrize("kind", ["standard", "normal", "emergency", "Emergency"])
def test_types(kind: str) -> None:
    assert one(auth(type=kind)).type is AuthType(kind.lower())


def test_defaults() -> None:
    record = auth()
    for key in ("type", "resources", "environments", "window", "approved_by", "purpose", "requested_by"):
        del record[key]
    parsed = one(record)
    assert parsed.type is AuthType.NORMAL
    assert parsed.resources == ("*",)
    assert parsed.environments == ("*",)
    assert parsed.window is None
    assert parsed.approved_by == ()


def test_single_string_lists() -> None:
    parsed = one(auth(principals="arn:aws:iam::123456789012:role/aiops", actions="ec2:RebootInstances"))
    assert parsed.principals == ("arn:aws:iam::123456789012:role/aiops",)
    assert parsed.actions == ("ec2:RebootInstances",)


def test_recurring_window_crossing_dst() -> None:
    """Weekly at 01:30 New York for two hours: the definition keeps wall-clock time across 8 March."""
    window = one(auth(window=RECURRING)).window
    assert isinstance(window, RecurringWindow)
    assert window.rrule == "FREQ=WEEKLY;BYDAY=SU"
    assert window.dtstart == datetime(2026, 3, 1, 1, 30)
    assert window.dtstart.tzinfo is None
    assert window.duration == timedelta(hours=2)
    assert window.tz == "America/New_York"
    starts = list(recurrence_rule(window)[:3])
    zone = ZoneInfo("America/New_York")
    assert [s.replace(tzinfo=None) for s in starts] == [datetime(2026, 3, d, 1, 30) for d in (1, 8, 15)]
    assert all(s.tzinfo == zone for s in starts)
    # Before the change New York is UTC-5, after it UTC-4: same wall clock, different instants.
    assert starts[0].astimezone(UTC).hour == 6
    assert starts[1].astimezone(UTC).hour == 6  # 01:30 EST on the 8th, the gap is 02:00-03:00
    assert starts[2].astimezone(UTC).hour == 5


def test_recurring_window_forms() -> None:
    window = one(
        auth(
            window={
                "rrule": "RRULE:FREQ=DAILY;BYHOUR=2;UNTIL=20261231T000000Z",
                "dtstart": "2026-10-24T22:00:00Z",
                "duration": 5400,
                "tz": "Europe/Berlin",
            }
        )
    ).window
    assert isinstance(window, RecurringWindow)
    assert window.rrule == "FREQ=DAILY;BYHOUR=2;UNTIL=20261231T000000Z"
    assert window.dtstart == datetime(2026, 10, 25, 0, 0)  # converted to Berlin wall-clock time (CEST)
    assert window.duration == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT2H", timedelta(hours=2)),
        ("PT15M", timedelta(minutes=15)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("P2W", timedelta(weeks=2)),
        ("PT0.5H", timedelta(minutes=30)),
        ("pt90s", timedelta(seconds=90)),
        (3600, timedelta(hours=1)),
        (1.5, timedelta(seconds=1.5)),
    ],
)
def test_durations(text: Any, expected: timedelta) -> None:
    assert parse_duration(text, "d") == expected


@pytest.mark.parametrize("text", ["2h", "P", "PT", "P1Y", "P1M", "PT-1H", "PT0S", 0, -5, True, "P1DT", [1], "1 day"])
def test_bad_durations(text: Any) -> None:
    with pytest.raises(ParseError) as info:
        parse_duration(text, "window.duration")
    assert info.value.reason is RejectReason.INVALID_VALUE
    assert "window.duration" in info.value.detail


def test_month_duration_hint() -> None:
    with pytest.raises(ParseError, match="years and months"):
        parse_duration("P1M", "d")


@pytest.mark.parametrize(
    ("window", "fragment"),
    [
        ({**RECURRING, "tz": "Mars/Olympus_Mons"}, "is not an IANA time zone"),
        ({**RECURRING, "tz": "../../etc/passwd"}, "is not an IANA time zone"),
        ({**RECURRING, "tz": "Europe"}, "is not an IANA time zone"),
        ({**RECURRING, "tz": "localtime"}, "is not an IANA time zone"),
        ({**RECURRING, "tz": "europe/berlin"}, "is not an IANA time zone"),
        ({**RECURRING, "tz": 5}, "window.tz"),
        ({**RECURRING, "rrule": "FREQ=FORTNIGHTLY"}, "not an RFC 5545 frequency"),
        ({**RECURRING, "rrule": "every sunday"}, "not NAME=VALUE"),
        ({**RECURRING, "rrule": "FREQ=DAILY;BYHOUR=25"}, "hour must be in 0..23"),
        ({**RECURRING, "rrule": "FREQ=DAILY;BYDAY=XX"}, "BYDAY"),
        ({**RECURRING, "rrule": "FREQ=MINUTELY"}, "finer than a window"),
        ({**RECURRING, "rrule": "FREQ=DAILY;INTERVAL=0"}, "INTERVAL"),
        ({**RECURRING, "rrule": "FREQ=MONTHLY;BYMONTHDAY=40"}, "BYMONTHDAY value 40"),
        ({**RECURRING, "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "never coincide"),
        ({**RECURRING, "rrule": "FREQ=DAILY;COUNT=3;UNTIL=20270101T000000Z"}, "COUNT and UNTIL"),
        ({**RECURRING, "rrule": "FREQ=DAILY;UNTIL=20270101T000000"}, "UNTIL"),
        ({**RECURRING, "rrule": "FREQ=DAILY;FREQ=WEEKLY"}, "given twice"),
        ({**RECURRING, "rrule": "DTSTART:20260101T000000\nRRULE:FREQ=DAILY"}, "one RRULE line"),
        ({**RECURRING, "rrule": ""}, "window.rrule"),
        ({**RECURRING, "rrule": "FREQ=DAILY;" + "BYHOUR=1;" * 200}, "longer than"),
        ({**RECURRING, "duration": "P1M"}, "window.duration"),
        ({**RECURRING, "duration": "PT0S"}, "must be positive"),
        ({**RECURRING, "dtstart": "next sunday"}, "window.dtstart"),
        ({**RECURRING, "extra": 1}, "unexpected keys"),
        ({"start": "2026-03-01T11:00:00Z", "end": "2026-03-01T09:00:00Z"}, "end is before start"),
        ({"start": "2026-03-01T11:00:00Z"}, "window.end"),
        ({"start": "tomorrow", "end": "2026-03-01T09:00:00Z"}, "window.start"),
        ({"from": "2026-03-01T09:00:00Z"}, "neither start/end nor rrule"),
        ("2026-03-01T09:00:00Z/PT2H", "not an object"),
    ],
)
def test_bad_windows_are_rejected_with_a_clear_detail(window: Any, fragment: str) -> None:
    reason, detail = rejected(auth(window=window))
    assert reason in (RejectReason.INVALID_VALUE, RejectReason.BAD_TIME, RejectReason.MISSING_FIELD)
    assert fragment in detail


@pytest.mark.parametrize(
    ("overrides", "reason", "fragment"),
    [
        ({"status": "maybe"}, RejectReason.INVALID_VALUE, "pending/approved/rejected/revoked/closed"),
        ({"type": "urgent"}, RejectReason.INVALID_VALUE, "standard/normal/emergency"),
        ({"principals": []}, RejectReason.INVALID_VALUE, "principals is empty"),
        ({"actions": None}, RejectReason.MISSING_FIELD, "actions"),
        ({"owner": ""}, RejectReason.MISSING_FIELD, "owner"),
        ({"resources": [1.5]}, RejectReason.INVALID_VALUE, "resources.0"),
        ({"status_changes": [{"status": "approved"}]}, RejectReason.MISSING_FIELD, "status_changes.0.at"),
        ({"status_changes": {"approved": "2026-03-01T09:00:00Z"}}, RejectReason.INVALID_VALUE, "status_changes"),
        ({"approved_by": "bob"}, None, ""),
    ],
)
def test_record_rejections(overrides: dict[str, Any], reason: RejectReason | None, fragment: str) -> None:
    if reason is None:
        assert one(auth(**overrides)).approved_by == ("bob",)
        return
    got, detail = rejected(auth(**overrides))
    assert got is reason
    assert fragment in detail


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_arbitrary_json_never_raises(value: Any) -> None:
    for candidate in (value, {"kind": "authorization", "window": value}, auth(window={**RECURRING, "rrule": value})):
        result = run(candidate)
        assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in result.rejections)


_PATHS = [*sorted(RECORD), "window.start", "window.end", "status_changes.0.at", "status_changes.0.status"]
_RECURRING_PATHS = ["window.rrule", "window.dtstart", "window.duration", "window.tz"]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_PATHS + _RECURRING_PATHS), JSON_VALUES)
def test_type_swapped_fields_never_raise(path: str, value: Any) -> None:
    record = auth(window=dict(RECURRING)) if path in _RECURRING_PATHS else auth()
    holder: Any = record
    *parents, leaf = path.split(".")
    for key in parents:
        holder = holder[int(key)] if isinstance(holder, list) else holder[key]
    holder[leaf] = value
    result = run(record)
    assert len(result.items) + len(result.rejections) == 1
    assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in result.rejections)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="FREQ=DAILYWEKMONTHBYSUCUNI0123456789;,-Z", max_size=60))
def test_rrule_junk_never_raises(rule: str) -> None:
    result = run(auth(window={**RECURRING, "rrule": rule}))
    assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in result.rejections)


def test_rrule_is_stored_upper_case_without_prefix() -> None:
    window = one(auth(window={**RECURRING, "rrule": " rrule:freq=weekly;byday=su "})).window
    assert isinstance(window, RecurringWindow)
    assert window.rrule == "FREQ=WEEKLY;BYDAY=SU"

"""opswarden's native authorization records (`kind: "authorization"`) → AuthorizationRecord.

::

    {"kind": "authorization", "id": "AUTH-7", "status": "approved",
     "status_changes": [{"status": "pending", "at": "2026-03-01T08:00:00Z"},
                        {"status": "approved", "at": "2026-03-01T09:00:00Z"}],
     "type": "normal", "owner": "team-payments", "requested_by": "alice", "approved_by": ["bob"],
     "purpose": "restart crash-looping payment pods",
     "principals": ["system:serviceaccount:aiops:restarter"], "actions": ["k8s:delete:pods"],
     "resources": ["k8s:prod-eu/payments/pods/*"], "environments": ["production"],
     "window": {"start": "2026-03-01T09:00:00Z", "end": "2026-03-01T11:00:00Z"}}

`id`, `status`, `owner`, `principals` and `actions` are required (principals and actions non-empty);
`type` defaults to normal, `resources` and `environments` to `*`. Without `status_changes`, `status`
holds for all time. `window` is absent (no time bound of its own), fixed `{start, end}`, or recurring::

    {"rrule": "FREQ=WEEKLY;BYDAY=SU", "dtstart": "2026-03-01T01:30:00", "duration": "PT2H",
     "tz": "America/New_York"}

A recurring window is an RFC 5545 RRULE whose occurrences start at `dtstart`'s wall-clock time in the
IANA zone `tz` (as `DTSTART;TZID=tz:...`), each open for `duration` (ISO 8601 `PnW`/`PnDTnHnMnS`, or
seconds). `dtstart` is stored as naive wall-clock time in `tz`; a `dtstart` given with an offset is
first converted to `tz`. UNTIL, when present, must be UTC (`...Z`) as RFC 5545 requires with a zoned
start. MINUTELY and SECONDLY rules, a zero INTERVAL, out-of-range BY* values and month/day pairs that
never occur are refused, so that evaluating a window cannot spin. `recurrence_rule()` builds the
dateutil rule a window evaluator should iterate.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import rrule, rrulestr

from models.authorization import (
    AuthorizationRecord,
    AuthStatus,
    AuthType,
    FixedWindow,
    RecurringWindow,
    StatusChange,
)
from models.parsers.aiops import as_time, enum_value, mapping, optional_text, text, text_list
from models.parsers.base import ParseContext, Parsed, Record, require
from models.rejection import ParseError, RejectReason

NAME = "authorization"
KIND = "authorization"

#: Zone names that exist in some tz databases but whose meaning depends on the host.
_NOT_IANA_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_MAX_RRULE_LENGTH = 1000
_ALLOWED_FREQ = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")
_RANGES = {"BYMONTHDAY": 31, "BYYEARDAY": 366, "BYWEEKNO": 53, "BYSETPOS": 366}
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_NUMBER = r"\d+(?:[.,]\d+)?"
_DURATION = re.compile(
    rf"^P(?:(?P<weeks>{_NUMBER})W)?(?:(?P<days>{_NUMBER})D)?"
    rf"(?:T(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?$"
)


def matches(record: Record) -> bool:
    return record.get("kind") == KIND


# ---------------------------------------------------------------------------------------------------
# Durations, zones, RRULEs, windows
# ---------------------------------------------------------------------------------------------------


def parse_duration(value: Any, where: str) -> timedelta:
    """An ISO 8601 duration (`PT2H`, `P1DT30M`, `P2W`) or a number of seconds; must be positive.

    Years and months are refused: they have no fixed length.
    """
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            result = timedelta(seconds=value)
        except (OverflowError, ValueError) as exc:
            raise ParseError(RejectReason.INVALID_VALUE, f"{where}: {value!r} seconds is out of range") from exc
    elif isinstance(value, str):
        raw = value.strip().upper()
        match = _DURATION.match(raw)
        if match is None or raw in ("P", "PT") or raw.endswith("T"):
            hint = " (years and months have no fixed length; use days)" if re.match(r"^P\d+[YM]", raw) else ""
            raise ParseError(
                RejectReason.INVALID_VALUE, f"{where}: {value[:40]!r} is not an ISO 8601 duration like PT2H{hint}"
            )
        parts = {k: float(v.replace(",", ".")) for k, v in match.groupdict().items() if v is not None}
        try:
            result = timedelta(**parts)
        except (OverflowError, ValueError) as exc:
            raise ParseError(RejectReason.INVALID_VALUE, f"{where}: {value[:40]!r} is out of range") from exc
    elif value is None:
        raise ParseError(RejectReason.MISSING_FIELD, f"missing field {where}")
    else:
        raise ParseError(RejectReason.INVALID_VALUE, f"{where} is a {type(value).__name__}, not a duration")
    if result <= timedelta(0):
        raise ParseError(RejectReason.INVALID_VALUE, f"{where} must be positive")
    return result


@lru_cache(maxsize=1)
def _iana_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_IANA_ZONES


def parse_zone(value: Any, where: str) -> str:
    """An IANA zone name that zoneinfo can load (`Europe/Berlin`, `UTC`); INVALID_VALUE otherwise."""
    name = text(value, where)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: {name[:60]!r} is not an IANA time zone") from exc
    if name not in _iana_zones():
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: {name[:60]!r} is not an IANA time zone")
    return name


def _wall_clock(value: Any, zone: str, where: str) -> datetime:
    """`dtstart` as naive wall-clock time in `zone`."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ParseError(RejectReason.BAD_TIME, f"{where}: {value[:40]!r} is not an ISO 8601 time") from exc
    elif value is None or value == "":
        raise ParseError(RejectReason.MISSING_FIELD, f"missing field {where}")
    else:
        raise ParseError(RejectReason.BAD_TIME, f"{where} is a {type(value).__name__}, not a time")
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(ZoneInfo(zone))
        except (OverflowError, ValueError) as exc:
            raise ParseError(RejectReason.BAD_TIME, f"{where}: out of range in {zone}") from exc
    return moment.replace(tzinfo=None)


def _rrule_parts(rule: str, where: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in rule.split(";"):
        name, sep, value = item.partition("=")
        name = name.strip().upper()
        if not sep or not name or not value.strip():
            raise ParseError(RejectReason.INVALID_VALUE, f"{where}: {item[:40]!r} is not NAME=VALUE")
        if name in parts:
            raise ParseError(RejectReason.INVALID_VALUE, f"{where}: {name} is given twice")
        parts[name] = value.strip().upper()
    return parts


def _int_list(raw: str, name: str, where: str) -> list[int]:
    try:
        return [int(v) for v in raw.split(",")]
    except ValueError as exc:
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: {name}={raw[:40]} is not a list of integers") from exc


def _check_rrule_bounds(parts: dict[str, str], where: str) -> None:
    freq = parts.get("FREQ")
    if freq is None:
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: FREQ is required")
    if freq in ("MINUTELY", "SECONDLY"):
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: FREQ={freq} is finer than a window can be")
    if freq not in _ALLOWED_FREQ:
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: FREQ={freq[:20]} is not an RFC 5545 frequency")
    if "INTERVAL" in parts and not (parts["INTERVAL"].isdigit() and int(parts["INTERVAL"]) >= 1):
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: INTERVAL must be a positive integer")
    if "COUNT" in parts and "UNTIL" in parts:
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: COUNT and UNTIL must not both be given")
    for name, limit in _RANGES.items():
        if name in parts:
            for number in _int_list(parts[name], name, where):
                if number == 0 or abs(number) > limit:
                    raise ParseError(RejectReason.INVALID_VALUE, f"{where}: {name} value {number} is out of range")
    months = _int_list(parts["BYMONTH"], "BYMONTH", where) if "BYMONTH" in parts else list(range(1, 13))
    if any(not 1 <= month <= 12 for month in months):
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: BYMONTH values must be 1..12")
    if "BYMONTHDAY" in parts:
        days = _int_list(parts["BYMONTHDAY"], "BYMONTHDAY", where)
        if not any(day < 0 or day <= _DAYS_IN_MONTH[month - 1] for month in months for day in days):
            raise ParseError(RejectReason.INVALID_VALUE, f"{where}: BYMONTH and BYMONTHDAY never coincide")


def parse_rrule(value: Any, dtstart: datetime, zone: str, where: str) -> str:
    """One RFC 5545 RRULE (the `RRULE:` prefix is optional), validated with dateutil's rrulestr."""
    raw = text(value, where)
    if len(raw) > _MAX_RRULE_LENGTH:
        raise ParseError(RejectReason.INVALID_VALUE, f"{where} is longer than {_MAX_RRULE_LENGTH} characters")
    if "\n" in raw or "\r" in raw:
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: one RRULE line only; the start goes in dtstart")
    rule = (raw[len("RRULE:") :] if raw.upper().startswith("RRULE:") else raw).strip().upper()
    _check_rrule_bounds(_rrule_parts(rule, where), where)
    try:
        built = rrulestr(rule, dtstart=dtstart.replace(tzinfo=ZoneInfo(zone)))
    except Exception as exc:  # dateutil raises ValueError, TypeError, KeyError, ... on malformed rules
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: {str(exc)[:120] or type(exc).__name__}") from exc
    if not isinstance(built, rrule):
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: expected a single RRULE")
    return rule


def recurrence_rule(window: RecurringWindow) -> rrule:
    """The dateutil rule of a (validated) window, with dtstart zoned in `window.tz`.

    Occurrences come out as aware datetimes in the window's zone, keeping their wall-clock time across
    DST changes; add `window.duration` to each for its end.
    """
    built = rrulestr(window.rrule, dtstart=window.dtstart.replace(tzinfo=ZoneInfo(window.tz)))
    assert isinstance(built, rrule)
    return built


def parse_window(value: Any, where: str = "window") -> FixedWindow | RecurringWindow:
    """`{start, end}` or `{rrule, dtstart, duration, tz}`, validated with clear details."""
    window = mapping(value, where)
    if "rrule" in window:
        unknown = set(window) - {"rrule", "dtstart", "duration", "tz"}
        if unknown:
            raise ParseError(RejectReason.INVALID_VALUE, f"{where}: unexpected keys {sorted(map(str, unknown))}")
        zone = parse_zone(window.get("tz"), f"{where}.tz")
        dtstart = _wall_clock(window.get("dtstart"), zone, f"{where}.dtstart")
        return RecurringWindow(
            rrule=parse_rrule(window.get("rrule"), dtstart, zone, f"{where}.rrule"),
            dtstart=dtstart,
            duration=parse_duration(window.get("duration"), f"{where}.duration"),
            tz=zone,
        )
    if "start" in window or "end" in window:
        unknown = set(window) - {"start", "end"}
        if unknown:
            raise ParseError(RejectReason.INVALID_VALUE, f"{where}: unexpected keys {sorted(map(str, unknown))}")
        start = as_time(window.get("start"), f"{where}.start")
        end = as_time(window.get("end"), f"{where}.end")
        if end < start:
            raise ParseError(RejectReason.INVALID_VALUE, f"{where}: end is before start")
        return FixedWindow(start=start, end=end)
    raise ParseError(RejectReason.INVALID_VALUE, f"{where} has neither start/end nor rrule/dtstart/duration/tz")


# ---------------------------------------------------------------------------------------------------
# The native record
# ---------------------------------------------------------------------------------------------------


def _status_changes(value: Any) -> tuple[StatusChange, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ParseError(RejectReason.INVALID_VALUE, f"status_changes is a {type(value).__name__}, not a list")
    changes = []
    for i, item in enumerate(value):
        change = mapping(item, f"status_changes.{i}")
        changes.append(
            StatusChange(
                status=enum_value(change.get("status"), AuthStatus, f"status_changes.{i}.status"),
                at=as_time(change.get("at"), f"status_changes.{i}.at"),
            )
        )
    return tuple(changes)


def _patterns(record: Record, key: str) -> tuple[str, ...]:
    value = record.get(key)
    return ("*",) if value is None else text_list(value, key)


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    kind = record.get("type")
    approved_by = record.get("approved_by")
    window = record.get("window")
    auth = AuthorizationRecord(
        id=text(require(record, "id"), "id"),
        status=enum_value(require(record, "status"), AuthStatus, "status"),
        status_changes=_status_changes(record.get("status_changes")),
        type=AuthType.NORMAL if kind is None else enum_value(kind, AuthType, "type"),
        owner=text(require(record, "owner"), "owner"),
        requested_by=optional_text(record.get("requested_by"), "requested_by"),
        approved_by=() if approved_by is None else text_list(approved_by, "approved_by", allow_empty=True),
        purpose=optional_text(record.get("purpose"), "purpose"),
        principals=text_list(require(record, "principals"), "principals"),
        actions=text_list(require(record, "actions"), "actions"),
        resources=_patterns(record, "resources"),
        environments=_patterns(record, "environments"),
        window=None if window is None else parse_window(window),
    )
    return [auth]

"""Authorization records: an approved change with a named owner, a scope and a window."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property

from pydantic import AwareDatetime, Field, field_validator, model_validator

from models.events import Frozen
from models.timeutil import utc_time


class AuthStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"
    CLOSED = "closed"


class AuthType(StrEnum):
    STANDARD = "standard"
    NORMAL = "normal"
    EMERGENCY = "emergency"


class StatusChange(Frozen):
    status: AuthStatus
    at: AwareDatetime

    _utc = field_validator("at", mode="wrap")(utc_time)


class FixedWindow(Frozen):
    start: AwareDatetime
    end: AwareDatetime

    _utc = field_validator("start", "end", mode="wrap")(utc_time)

    @model_validator(mode="after")
    def _ordered(self) -> FixedWindow:
        if self.end < self.start:
            raise ValueError("window end is before its start")
        return self

    @cached_property
    def bounds(self) -> tuple[float, float]:
        """Start and end as epoch seconds: the judge compares these on every candidate of every change."""
        return self.start.timestamp(), self.end.timestamp()


class RecurringWindow(Frozen):
    """RFC 5545 RRULE occurrences in an IANA zone, each open for `duration` (ISO 8601, e.g. PT2H)."""

    rrule: str
    dtstart: datetime
    duration: timedelta
    tz: str

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("duration must be positive")
        return value


class AuthorizationRecord(Frozen):
    """opswarden's native authorization record (`kind: "authorization"`); patterns are globs over canonical uids."""

    kind: str = "authorization"
    id: str
    status: AuthStatus
    status_changes: tuple[StatusChange, ...] = ()
    type: AuthType = AuthType.NORMAL
    owner: str
    requested_by: str | None = None
    approved_by: tuple[str, ...] = ()
    purpose: str | None = None
    principals: tuple[str, ...] = Field(min_length=1)
    actions: tuple[str, ...] = Field(min_length=1)
    resources: tuple[str, ...] = ("*",)
    environments: tuple[str, ...] = ("*",)
    window: FixedWindow | RecurringWindow | None = None

    @field_validator("status_changes")
    @classmethod
    def _chronological(cls, value: tuple[StatusChange, ...]) -> tuple[StatusChange, ...]:
        return tuple(sorted(value, key=lambda change: change.at))

    def status_at(self, moment: datetime) -> AuthStatus | None:
        """The status in force at `moment`: the last change at or before it; None before the first change.

        Without a status history, `status` holds for all time.
        """
        if not self.status_changes:
            return self.status
        current: AuthStatus | None = None
        for change in self.status_changes:
            if change.at > moment:
                break
            current = change.status
        return current

    def first_time_in(self, status: AuthStatus) -> datetime | None:
        return next((c.at for c in self.status_changes if c.status is status), None)

"""When an authorization's window is open: fixed start/end, or RFC 5545 RRULE occurrences in an IANA zone.

Recurring windows follow RFC 5545: an occurrence starts at its local wall-clock time in `tz` (so a
09:00 window stays at 09:00 across DST changes); the day part of the duration is nominal (wall-clock
days) and the rest exact. Occurrences that fall in a spring-forward gap take the pre-transition offset.

>>> from datetime import UTC, datetime, timedelta
>>> from models.authorization import RecurringWindow
>>> nightly = RecurringWindow(rrule="FREQ=DAILY", dtstart=datetime(2026, 3, 1, 1, 0),
...                           duration=timedelta(hours=2), tz="Europe/Berlin")
>>> contains(nightly, datetime(2026, 3, 30, 23, 30, tzinfo=UTC), timedelta(0))  # 01:30 CEST
True
>>> contains(nightly, datetime(2026, 3, 30, 1, 30, tzinfo=UTC), timedelta(0))   # 03:30 CEST
False
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from models.authorization import FixedWindow, RecurringWindow

Window = FixedWindow | RecurringWindow


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime


#: Occurrence starts a window keeps; past this only the newer half is kept (an hourly rule: ~3 to 6 years).
MAX_KEPT_STARTS = 50_000


class Occurrences:
    """A rule's occurrence starts (local wall-clock time), generated once, in order, as far as a question needs,
    then found by bisection. dateutil walks a rule from its start at every question: a nightly window set up six
    years ago cost ~12 ms a check, an hourly one a year old ~60 ms, for each change of the principals it names.

    >>> from datetime import datetime
    >>> from dateutil.rrule import DAILY, rrule
    >>> nightly = Occurrences(rrule(DAILY, dtstart=datetime(2020, 1, 1, 1, 0)))
    >>> [start.isoformat() for start in nightly.around(datetime(2026, 3, 1, 12), datetime(2026, 3, 2, 0))]
    ['2026-03-01T01:00:00', '2026-03-02T01:00:00']
    """

    def __init__(self, rule: Iterable[datetime]) -> None:
        self.rule = rule
        self.starts: list[datetime] = []
        self._rest: Iterator[datetime] | None = iter(rule)
        self._dropped = False  # the older starts were let go: questions before the first kept ask the rule

    def around(self, low: datetime, high: datetime) -> list[datetime]:
        """The starts in [low, high], with the last one before `low` and the first one after `high`."""
        self._generate_past(high)
        starts = self.starts
        first = bisect_left(starts, low)
        if first == 0 and self._dropped:
            return self._walk(low, high)
        return starts[max(first - 1, 0) : bisect_right(starts, high) + 1]

    def _generate_past(self, moment: datetime) -> None:
        starts, rest = self.starts, self._rest
        while rest is not None and (not starts or starts[-1] <= moment):
            start = next(rest, None)
            if start is None:
                self._rest = rest = None
            else:
                starts.append(start)
        if len(starts) > MAX_KEPT_STARTS:
            del starts[: len(starts) - MAX_KEPT_STARTS // 2]
            self._dropped = True

    def _walk(self, low: datetime, high: datetime) -> list[datetime]:
        """The slow way, from the rule's start: only for a question older than what is kept."""
        before: list[datetime] = []
        found: list[datetime] = []
        for start in self.rule:
            if start < low:
                before[:] = [start]
            elif start <= high:
                found.append(start)
            else:
                return [*before, *found, start]
        return [*before, *found]


@lru_cache(maxsize=4096)
def _rule(text: str, dtstart: datetime, tz: str) -> tuple[Occurrences, ZoneInfo]:
    zone = ZoneInfo(tz)
    local_start = dtstart.astimezone(zone).replace(tzinfo=None) if dtstart.tzinfo else dtstart
    parsed = rrulestr(text, dtstart=local_start, forceset=False, ignoretz=True)
    if not isinstance(parsed, rrule):
        raise ValueError("only a single RRULE is supported")
    return Occurrences(parsed), zone


def _occurrence(local_start: datetime, zone: ZoneInfo, duration: timedelta) -> Interval:
    start = local_start.replace(tzinfo=zone)
    end_local = (local_start + timedelta(days=duration.days)).replace(tzinfo=zone)
    end = end_local.astimezone(UTC) + timedelta(seconds=duration.seconds, microseconds=duration.microseconds)
    return Interval(start.astimezone(UTC), end)


def intervals_near(window: RecurringWindow, moment: datetime) -> list[Interval]:
    """Occurrences that could contain `moment` or sit just before or after it, in time order."""
    occurrences, zone = _rule(window.rrule, window.dtstart, window.tz)
    local = moment.astimezone(zone).replace(tzinfo=None)
    starts = occurrences.around(local - window.duration - timedelta(days=1), local + timedelta(days=1))
    return [_occurrence(start, zone, window.duration) for start in starts]


def contains(window: Window | None, moment: datetime, skew: timedelta) -> bool:
    """Whether `moment` falls in the window, widened by `skew` on both sides; no window means always."""
    if window is None:
        return True
    if isinstance(window, FixedWindow):
        start, end = window.bounds
        at, slack = moment.timestamp(), skew.total_seconds()
        return start - slack <= at <= end + slack
    return any(i.start - skew <= moment <= i.end + skew for i in intervals_near(window, moment))


def _human(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds} s"


def explain_miss(window: Window, moment: datetime) -> str:
    """Why a moment is outside a window, in the words an analyst needs ("its window ended 2 h earlier")."""
    if isinstance(window, FixedWindow):
        if moment < window.start:
            return f"its window opens {_human(window.start - moment)} later"
        return f"its window ended {_human(moment - window.end)} earlier"
    near = intervals_near(window, moment)
    before = [i for i in near if i.end < moment]
    after = [i for i in near if i.start > moment]
    if before:
        return (
            f"its recurring window ({window.rrule}, {window.tz}) last closed {_human(moment - before[-1].end)} earlier"
        )
    if after:
        return f"its recurring window ({window.rrule}, {window.tz}) next opens {_human(after[0].start - moment)} later"
    return f"its recurring window ({window.rrule}, {window.tz}) has no occurrence near this time"

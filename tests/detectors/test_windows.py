"""Recurring windows: occurrences generated once and found by bisection give dateutil's own answers."""

from __future__ import annotations

import doctest
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from dateutil.rrule import DAILY, rrule, rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import windows
from detectors.windows import Occurrences

RULES = [
    "FREQ=DAILY",
    "FREQ=WEEKLY;BYDAY=SU,WE",
    "FREQ=HOURLY;INTERVAL=5",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=DAILY;COUNT=40",
    "FREQ=WEEKLY;UNTIL=20260401T000000",
]
START = datetime(2026, 1, 1, 1, 30)


def dateutils_answer(rule: rrule, low: datetime, high: datetime) -> list[datetime]:
    starts = list(rule.between(low, high, inc=True))
    before, after = rule.before(low, inc=False), rule.after(high, inc=False)
    return ([before] if before else []) + starts + ([after] if after else [])


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(windows).failed == 0


@settings(max_examples=60, deadline=None)
@given(
    text=st.sampled_from(RULES),
    hours=st.lists(st.integers(min_value=-24 * 30, max_value=24 * 200), min_size=1, max_size=8),
    span_hours=st.integers(min_value=0, max_value=72),
)
def test_questions_in_any_order_get_dateutils_answers(text: str, hours: list[int], span_hours: int) -> None:
    rule = rrulestr(text, dtstart=START)
    assert isinstance(rule, rrule)
    occurrences = Occurrences(rule)
    for hour in hours:
        low = START + timedelta(hours=hour)
        high = low + timedelta(hours=span_hours)
        assert occurrences.around(low, high) == dateutils_answer(rule, low, high)


def test_a_question_older_than_the_starts_kept_walks_the_rule_and_answers_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(windows, "MAX_KEPT_STARTS", 50)
    rule = rrule(DAILY, dtstart=START)
    occurrences = Occurrences(rule)
    late, next_day = START + timedelta(days=400), START + timedelta(days=401)
    assert occurrences.around(late, next_day) == dateutils_answer(rule, late, next_day)
    assert len(occurrences.starts) <= 50
    early, later = START + timedelta(days=3, hours=5), START + timedelta(days=5, hours=5)
    assert occurrences.around(early, later) == dateutils_answer(rule, early, later)


class Counted:
    """An rrule whose occurrences are counted as they are generated."""

    def __init__(self, rule: rrule) -> None:
        self.rule = rule
        self.generated = 0

    def __iter__(self) -> Iterator[datetime]:
        for start in self.rule:
            self.generated += 1
            yield start


def test_a_window_years_old_generates_its_occurrences_once_not_at_every_question() -> None:
    counted = Counted(rrule(DAILY, dtstart=datetime(2020, 1, 1, 1, 0)))
    occurrences = Occurrences(counted)
    moment = datetime(2026, 6, 1, 12)
    for minutes in range(0, 600, 10):  # a busy principal's changes over ten hours
        at = moment + timedelta(minutes=minutes)
        occurrences.around(at - timedelta(days=1, hours=2), at + timedelta(days=1))
    days_to_then = (moment + timedelta(days=2) - datetime(2020, 1, 1)).days
    assert counted.generated <= days_to_then + 1

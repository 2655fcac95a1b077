"""The authorization index: exact and glob principals, id order, and a memo that never serves stale answers."""

from __future__ import annotations

import doctest
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import context
from detectors.context import SCANNED_WHOLE, AuthorizationIndex, RegistryIndex
from models.authorization import AuthStatus
from models.patterns import any_match
from models.registry import Workflow, WorkflowClass
from tests.detectors.builders import at, record

ROLE = "arn:aws:iam::111122223333:role/team-a/deployer"


def ids(index: AuthorizationIndex, *identities: str) -> list[str]:
    return [row.id for row in index.candidate_rows(identities)]


def test_exact_and_glob_principals_are_found_in_id_order() -> None:
    index = AuthorizationIndex()
    index.upsert(record("CHG3", principals=[ROLE]))
    index.upsert(record("CHG1", principals=["arn:aws:iam::111122223333:role/team-a/*"]))
    index.upsert(record("CHG2", principals=["arn:aws:iam::111122223333:role/team-b/*"]))
    index.upsert(record("CHG4", principals=["*"]))
    assert ids(index, f"{ROLE}/session", ROLE) == ["CHG1", "CHG3", "CHG4"]


def test_memo_is_dropped_when_records_change() -> None:
    index = AuthorizationIndex()
    index.upsert(record("CHG1", principals=[ROLE]))
    assert ids(index, ROLE) == ["CHG1"]
    index.upsert(record("CHG2", principals=["arn:aws:iam::*:role/team-a/*"]))
    assert ids(index, ROLE) == ["CHG1", "CHG2"]
    index.remove("CHG1")
    assert ids(index, ROLE) == ["CHG2"]
    index.upsert(record("CHG2", principals=["someone-else"]))
    assert ids(index, ROLE) == []


PATTERNS = ["arn:aws:iam::1:role/a/*", "arn:aws:iam::1:role/*", "arn:aws:iam::1:role/a/b", "*", "arn:*", "x"]
IDENTITIES = ["arn:aws:iam::1:role/a/b", "arn:aws:iam::1:role/c", "x", "arn:aws:iam::2:user/d"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 9), st.lists(st.sampled_from(PATTERNS), min_size=1)), max_size=40)
)
def test_after_any_updates_and_removals_look_ups_match_every_record_still_held(
    steps: list[tuple[bool, int, list[str]]],
) -> None:
    index = AuthorizationIndex()
    held: dict[str, list[str]] = {}
    for keep, number, principals in steps:  # principals may repeat a pattern
        record_id = f"CHG{number}"
        if keep:
            index.upsert(record(record_id, principals=principals))
            held[record_id] = principals
        else:
            index.remove(record_id)
            held.pop(record_id, None)
        for identity in IDENTITIES:
            expected = sorted(i for i, patterns in held.items() if any_match(tuple(patterns), identity))
            assert ids(index, identity) == expected


STATUSES = ["approved", "pending", "revoked", "rejected"]
HISTORY = st.lists(st.tuples(st.integers(-5, 5), st.sampled_from(STATUSES)), max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 9), st.sampled_from(STATUSES), HISTORY), max_size=30))
def test_records_in_force_are_counted_as_asking_each_record_would_after_any_updates_and_removals(
    steps: list[tuple[bool, int, str, list[tuple[int, str]]]],
) -> None:
    index = AuthorizationIndex()
    for keep, number, status, history in steps:
        if keep:
            changes = [{"status": each, "at": at(minutes).isoformat()} for minutes, each in history]
            index.upsert(record(f"CHG{number}", status=status, status_changes=changes))
        else:
            index.remove(f"CHG{number}")
        for minutes in (-6, -5, -2.5, 0, 1, 5, 6):  # on the changes' times, between and beyond them
            moment = at(minutes)
            expected = sum(1 for each in index if each.status_at(moment) is AuthStatus.APPROVED)
            assert index.in_force_count(moment) == expected


def test_rows_carry_fixed_windows_as_epoch_seconds_and_unbounded_otherwise() -> None:
    index = AuthorizationIndex()
    fixed = record("CHG1", principals=[ROLE])
    index.upsert(fixed)
    index.upsert(record("CHG2", principals=[ROLE], window=None))
    rows = index.candidate_rows((ROLE,))
    assert [(row.id, row.start, row.end) for row in rows] == [
        ("CHG1", fixed.window.start.timestamp(), fixed.window.end.timestamp()),  # type: ignore[union-attr]
        ("CHG2", -math.inf, math.inf),
    ]


def test_open_rows_are_those_whose_window_may_hold_the_moment_and_closed_near_the_nearest_others() -> None:
    index = AuthorizationIndex()
    hours = [-500, -300, -48, -5, -1, 0, 2, 30, 400, *range(-2000, -1000, 50)]  # window starts, hours from t
    for number, start in enumerate(hours):
        window = {"start": at(start * 60).isoformat(), "end": at(start * 60 + 90).isoformat()}
        index.upsert(record(f"CHG{number:03d}", principals=[ROLE], window=window))
    index.upsert(record("CHG999", principals=[ROLE], window=None))
    moment, slack = at(0).timestamp(), 120.0
    rows = index.candidate_rows((ROLE,))
    assert len(rows) > SCANNED_WHOLE
    expected_open = [row.id for row in rows if row.start - slack <= moment <= row.end + slack]
    assert [row.id for row in index.open_rows((ROLE,), moment, slack)] == expected_open
    assert expected_open == ["CHG004", "CHG005", "CHG999"]  # started an hour ago (90 min long), now, no window
    nearest = index.closed_near((ROLE,), moment, slack, 3)
    assert [row.id for row in nearest] == ["CHG003", "CHG006", "CHG007"]  # ended 3.5 h ago; open in 2 h, 30 h


def workflow(name: str, principal: str) -> Workflow:
    return Workflow(name=name, workflow_class=WorkflowClass.EXECUTION, principals=(principal,))


def test_a_registry_key_defines_what_its_latest_message_names_and_a_tombstone_removes_it() -> None:
    index = RegistryIndex()
    index.replace("bundle", [workflow("restarter", "sa:restarter"), workflow("patcher", "sa:patch-*")])
    assert index.workflow_for(("sa:patch-7",)) == workflow("patcher", "sa:patch-*")
    index.replace("bundle", [workflow("restarter", "sa:restarter")])  # the patcher taken out of the registry
    assert index.workflow_for(("sa:patch-7",)) is None
    assert sorted(index.by_name) == ["restarter"]
    index.replace("bundle", [])  # a tombstone
    assert index.workflow_for(("sa:restarter",)) is None
    assert len(index) == 0


def test_a_workflow_defined_again_elsewhere_outlives_the_key_that_defined_it_first() -> None:
    index = RegistryIndex()
    index.replace("old-key", [workflow("restarter", "sa:restarter"), workflow("scaler", "sa:scaler")])
    index.replace("restarter", [workflow("restarter", "sa:restarter-v2")])  # moved to a key of its own
    index.upsert(workflow("scaler", "sa:scaler"))  # and the scaler given by the registry file
    index.replace("old-key", [])
    assert sorted(index.by_name) == ["restarter", "scaler"]
    assert index.workflow_for(("sa:restarter-v2",)) == workflow("restarter", "sa:restarter-v2")
    assert index.workflow_for(("sa:restarter",)) is None


def test_the_module_docstrings_examples_hold() -> None:
    assert doctest.testmod(context).failed == 0

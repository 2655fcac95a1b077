"""The authorization index: exact and glob principals, id order, and a memo that never serves stale answers."""

from __future__ import annotations

import math

from detectors.context import AuthorizationIndex
from tests.detectors.builders import record

ROLE = "arn:aws:iam::111122223333:role/team-a/deployer"


def ids(index: AuthorizationIndex, *identities: str) -> list[str]:
    return [r.id for r in index.candidates(identities)]


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

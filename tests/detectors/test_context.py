"""The authorization index: exact and glob principals, id order, and a memo that never serves stale answers."""

from __future__ import annotations

import math

from detectors.context import AuthorizationIndex, RegistryIndex
from models.registry import Workflow, WorkflowClass
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

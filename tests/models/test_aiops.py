"""Native aiops.action parser: every phase, optional parts, clear rejections, and junk input."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.events import ActionEvent, ActionPhase, CredentialKind
from models.parsers import ParseResult, aiops, parse_document
from models.parsers.base import ParseContext
from models.rejection import RejectReason
from tests.models.parsing import single_item, single_rejection

#: Arbitrary JSON values, shared by the junk tests of every module in this folder.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)

ACTION: dict[str, Any] = {
    "kind": "aiops.action",
    "id": "evt-1",
    "time": "2026-03-01T10:00:00Z",
    "workflow": "pod-restarter",
    "run_id": "run-42",
    "phase": "started",
    "action": "k8s:delete:pods",
    "target": "k8s:prod-eu/payments/pods/api-7f9c",
    "environment": "production",
    "principal": "system:serviceaccount:aiops:restarter",
    "trigger": {"alert": "KubePodCrashLooping", "fingerprint": "a1bc48475b20e73d", "severity": "critical"},
    "authorization_id": "CHG0031889",
    "credential": {
        "id": "ASIAEXAMPLE",
        "kind": "short_lived",
        "issued_at": "2026-03-01T09:59:00Z",
        "expires_at": "2026-03-01T10:14:00Z",
    },
}


def action(**overrides: Any) -> dict[str, Any]:
    out = copy.deepcopy(ACTION)
    out.update(overrides)
    return out


def run(record: Any, sources: tuple[str, ...] | None = ("aiops",)) -> ParseResult:
    return parse_document(orjson.dumps(record), ParseContext(origin="test"), sources=sources)


def one(record: Any) -> ActionEvent:
    return single_item(record, "aiops", ParseContext(origin="test"), ActionEvent)


def rejected(record: Any) -> tuple[RejectReason, str]:
    refused = single_rejection(record, "aiops", ParseContext(origin="test"))
    return refused.reason, refused.detail


def test_full_record_maps_every_field() -> None:
    event = one(ACTION)
    assert event.id == "evt-1"
    assert event.time == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert event.workflow == "pod-restarter"
    assert event.run_id == "run-42"
    assert event.phase is ActionPhase.STARTED
    assert event.action == "k8s:delete:pods"
    assert event.target == "k8s:prod-eu/payments/pods/api-7f9c"
    assert event.environment == "production"
    assert event.principal == "system:serviceaccount:aiops:restarter"
    assert event.trigger is not None
    assert (event.trigger.alert, event.trigger.fingerprint, event.trigger.severity) == (
        "KubePodCrashLooping",
        "a1bc48475b20e73d",
        "critical",
    )
    assert event.authorization_id == "CHG0031889"
    assert event.credential is not None
    assert event.credential.kind is CredentialKind.SHORT_LIVED
    assert event.credential.lifetime_seconds == 15 * 60
    assert event.raw_ref is not None
    assert event.raw_ref.origin == "test"
    assert event.raw_ref.index == 0


@pytest.mark.parametrize("phase", ["recommended", "started", "succeeded", "failed", "SUCCEEDED"])
def test_every_phase(phase: str) -> None:
    assert one(action(phase=phase)).phase is ActionPhase(phase.lower())


def test_optional_parts_may_be_null_or_absent() -> None:
    record = action(authorization_id=None, trigger=None, credential=None, environment=None)
    del record["principal"]
    event = one(record)
    assert event.authorization_id is None
    assert event.trigger is None
    assert event.credential is None
    assert event.principal is None
    assert event.environment is None


def test_static_credential_without_times() -> None:
    event = one(action(credential={"id": "AKIAEXAMPLE", "kind": "static"}))
    assert event.credential is not None
    assert event.credential.kind is CredentialKind.STATIC
    assert event.credential.lifetime_seconds is None


def test_extra_keys_are_ignored_and_offsets_normalised() -> None:
    event = one(action(time="2026-03-01T11:00:00+01:00", note="free text", labels={"a": 1}))
    assert event.time == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert event.time.utcoffset() == timedelta(0)


def test_epoch_millis_time() -> None:
    assert one(action(time=1772359200000)).time == datetime(2026, 3, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "reason", "fragment"),
    [
        ({"id": None}, RejectReason.MISSING_FIELD, "id"),
        ({"time": "yesterday"}, RejectReason.BAD_TIME, "time"),
        ({"phase": "done"}, RejectReason.INVALID_VALUE, "recommended/started/succeeded/failed"),
        ({"target": ""}, RejectReason.MISSING_FIELD, "target"),
        ({"action": ["k8s:delete:pods"]}, RejectReason.INVALID_VALUE, "action"),
        ({"trigger": "KubePodCrashLooping"}, RejectReason.INVALID_VALUE, "trigger"),
        ({"credential": {"kind": "forever"}}, RejectReason.INVALID_VALUE, "credential.kind"),
        (
            {
                "credential": {
                    "kind": "short_lived",
                    "issued_at": "2026-03-01T10:00:00Z",
                    "expires_at": "2026-03-01T09:00:00Z",
                }
            },
            RejectReason.INVALID_VALUE,
            "expires_at",
        ),
        ({"credential": {"issued_at": "soon"}}, RejectReason.BAD_TIME, "credential.issued_at"),
        ({"run_id": True}, RejectReason.INVALID_VALUE, "run_id"),
    ],
)
def test_rejections_are_explicit(overrides: dict[str, Any], reason: RejectReason, fragment: str) -> None:
    got_reason, detail = rejected(action(**overrides))
    assert got_reason is reason
    assert fragment in detail


def test_missing_required_key() -> None:
    record = action()
    del record["workflow"]
    reason, detail = rejected(record)
    assert reason is RejectReason.MISSING_FIELD
    assert "workflow" in detail


def test_matches_only_its_kind() -> None:
    assert aiops.matches(ACTION)
    assert not aiops.matches({**ACTION, "kind": "authorization"})
    assert not aiops.matches({"id": "x"})


def test_recognised_without_source_filter() -> None:
    result = run(ACTION, sources=None)
    assert [type(item) for item in result.items] == [ActionEvent]


def test_json_lines_of_phases() -> None:
    lines = b"\n".join(orjson.dumps(action(id=f"e{i}", phase=p)) for i, p in enumerate(ActionPhase))
    result = parse_document(lines, ParseContext(), sources=("aiops",))
    assert [item.phase for item in result.items if isinstance(item, ActionEvent)] == list(ActionPhase)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_arbitrary_json_never_raises(value: Any) -> None:
    for candidate in (value, {"kind": "aiops.action", "payload": value}):
        result = run(candidate)
        assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in result.rejections)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([*sorted(ACTION), "trigger.alert", "credential.kind", "credential.expires_at"]), JSON_VALUES)
def test_type_swapped_fields_never_raise(path: str, value: Any) -> None:
    record = action()
    holder: Any = record
    *parents, leaf = path.split(".")
    for key in parents:
        holder = holder[key]
    holder[leaf] = value
    result = run(record)
    assert len(result.items) + len(result.rejections) == 1
    assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in result.rejections)

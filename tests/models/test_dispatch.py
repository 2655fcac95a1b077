"""Envelope unwrapping, limits and time parsing shared by every parser."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from models.config import LimitsConfig
from models.events import ChangeEvent
from models.parsers import parse_document
from models.parsers.base import ParseContext, depth_exceeds
from models.parsers.document import unwrap
from models.rejection import RejectReason
from models.timeutil import parse_time

RECORD = {
    "eventVersion": "1.08",
    "eventID": "ev-1",
    "eventTime": "2026-06-01T12:00:00Z",
    "eventSource": "ec2.amazonaws.com",
    "eventName": "RebootInstances",
    "awsRegion": "eu-west-1",
    "recipientAccountId": "111122223333",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops", "accountId": "111122223333"},
}


def reasons(data: bytes, limits: LimitsConfig | None = None) -> list[RejectReason]:
    return [r.reason for r in parse_document(data, ParseContext(), limits=limits).rejections]


def test_eventbridge_envelope_is_unwrapped() -> None:
    wrapped = {"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": RECORD}
    (event,) = parse_document(orjson.dumps(wrapped), ParseContext()).items
    assert event.event_id == "ev-1"


@pytest.mark.parametrize(
    ("document", "records"),
    [
        ({"Records": [{"a": 1}, {"a": 2}]}, [{"a": 1}, {"a": 2}]),
        ({"records": [{"a": 1}]}, [{"a": 1}]),
        ({"records": [{"a": 1}], "receiver": "team"}, [{"records": [{"a": 1}], "receiver": "team"}]),
        ({"kind": "EventList", "items": [{"a": 1}]}, [{"a": 1}]),
        ({"kind": "Pod", "items": [{"a": 1}]}, [{"kind": "Pod", "items": [{"a": 1}]}]),
        ([{"a": 1}, [{"a": 2}, {"Records": [{"a": 3}]}]], [{"a": 1}, {"a": 2}, {"a": 3}]),
        (
            {"AnalysisType": "rule", "Tests": [{"Log": {"a": 1, "p_log_type": "AWS.CloudTrail"}}, {"Name": "no log"}]},
            [{"a": 1}],
        ),
        ({"Records": "not a list"}, [{"Records": "not a list"}]),
        ("text", ["text"]),
    ],
)
def test_unwrap_gives_an_envelopes_records_or_the_document(document: object, records: list[object]) -> None:
    assert unwrap(document) == records


def test_json_lines_with_one_bad_line_keep_the_good_ones() -> None:
    data = orjson.dumps(RECORD) + b"\n{not json\n" + orjson.dumps({**RECORD, "eventID": "ev-2"}) + b"\n"
    result = parse_document(data, ParseContext())
    assert [e.event_id for e in result.items] == ["ev-1", "ev-2"]
    assert [r.reason for r in result.rejections] == [RejectReason.NOT_JSON]


def test_gzip_is_read_and_a_gzip_bomb_is_refused() -> None:
    assert len(parse_document(gzip.compress(orjson.dumps(RECORD)), ParseContext()).items) == 1
    bomb = gzip.compress(b" " * 2_000_000)
    assert reasons(bomb, LimitsConfig(max_document_bytes=1_000_000)) == [RejectReason.TOO_LARGE]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\xff\xfe binary", RejectReason.NOT_JSON),
        (b"[" * 100 + b"]" * 100, RejectReason.TOO_DEEP),
        (b'"just a string"', RejectReason.WRONG_SHAPE),
        (b'{"hello": "world"}', RejectReason.UNKNOWN_SOURCE),
        (b"x" * 2_000, RejectReason.TOO_LARGE),
    ],
)
def test_junk_is_rejected_with_a_reason(data: bytes, reason: RejectReason) -> None:
    assert reasons(data, LimitsConfig(max_document_bytes=1_000)) == [reason]


def test_depth_is_judged_per_document_and_at_the_limit() -> None:
    """Only a document past the limit is rejected; brackets elsewhere in the message do not count against it."""
    limits = LimitsConfig(max_depth=4)
    at_limit = orjson.dumps({**RECORD, "requestParameters": {"a": {"b": {}}}})  # 4 levels
    too_deep = orjson.dumps({**RECORD, "eventID": "deep", "requestParameters": {"a": {"b": {"c": []}}}})
    result = parse_document(at_limit + b"\n" + too_deep + b"\n" + at_limit, ParseContext(), limits=limits)
    assert [e.event_id for e in result.items] == [RECORD["eventID"], RECORD["eventID"]]
    assert [(r.reason, r.index) for r in result.rejections] == [(RejectReason.TOO_DEEP, 1)]


def _depth(value: object) -> int:
    """Nesting depth by its definition: a container is one level deeper than its deepest container child."""
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return 1 + max((_depth(c) for c in children if isinstance(c, dict | list)), default=0)


JSON_VALUES = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=2), inner, max_size=4),
    max_leaves=40,
)


@given(JSON_VALUES, st.integers(min_value=0, max_value=8))
def test_depth_check_agrees_with_the_definition(value: object, limit: int) -> None:
    assert depth_exceeds(value, limit) is (_depth(value) > limit)


def test_too_many_records_in_one_document_are_cut_with_a_reason() -> None:
    data = orjson.dumps({"Records": [{**RECORD, "eventID": f"e{i}"} for i in range(5)]})
    result = parse_document(data, ParseContext(), limits=LimitsConfig(max_records_per_document=3))
    assert len(result.items) == 3
    assert [r.reason for r in result.rejections] == [RejectReason.TOO_LARGE]


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-06-01T12:00:00Z", "2026-06-01T12:00:00+00:00"),
        ("2026-06-01T12:00:00.250Z", "2026-06-01T12:00:00.250000+00:00"),
        ("2026-06-01T12:00:00.000250Z", "2026-06-01T12:00:00.000250+00:00"),
        ("2026-06-01T14:00:00+02:00", "2026-06-01T12:00:00+00:00"),
        ("2026-06-01 12:00:00.123456789", "2026-06-01T12:00:00.123456+00:00"),
        ("2026-06-01T12:00:00.5-0130", "2026-06-01T13:30:00.500000+00:00"),
        (1780315200000, "2026-06-01T12:00:00+00:00"),
    ],
)
def test_times_in_every_shape_sources_emit(text: object, iso: str) -> None:
    assert parse_time(text).isoformat() == iso


@pytest.mark.parametrize(
    "text", ["yesterday", "9999-12-31T23:59:59-23:59", "2026-13-01T00:00:00Z", "2026-06-01T12:00:0xZ", True, None]
)
def test_unparseable_times_raise_value_error_only(text: object) -> None:
    with pytest.raises(ValueError, match=r"time|unparseable"):
        parse_time(text)


@pytest.mark.parametrize("text", [b"a: 2026-02-30\n", b"a: !!int x\n", b"a: [unclosed\n"])
def test_bad_yaml_is_rejected_not_raised(text: bytes) -> None:
    result = parse_document(text, ParseContext(), as_yaml=True)
    assert [r.reason for r in result.rejections] == [RejectReason.NOT_JSON]


def test_event_times_are_held_in_utc_whatever_zone_they_came_in() -> None:
    kept = ChangeEvent.model_validate_json(
        orjson.dumps(
            {"event_id": "e", "source": "cloudtrail", "event_time": "2026-06-01T14:00:00+02:00", "action": "a:b"}
            | {"principal": {"uid": "p"}, "received_time": "2026-06-01T12:00:01Z"}
        )
    )
    assert kept.event_time.tzinfo is UTC
    assert kept.event_time == datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert kept.received_time is not None
    assert kept.received_time.tzinfo is UTC
    built = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert (
        ChangeEvent(
            event_id="e", source="cloudtrail", event_time=built, principal={"uid": "p"}, action="a:b"
        ).event_time
        is built
    )


@pytest.mark.parametrize(
    "text", ["2026-13-01T00:00:00Z", "2026-06-01T12:00:0xZ", "2026-06-01T12:00:00.12xZ", "2026-06-01T12:00:00"]
)
def test_a_time_that_only_looks_like_utc_text_is_rejected(text: str) -> None:
    """Malformed `...Z` text falls through to pydantic's parse, which says why; naive text is refused."""
    record = {"event_id": "e", "source": "cloudtrail", "event_time": text, "action": "a:b", "principal": {"uid": "p"}}
    with pytest.raises(ValidationError, match="event_time"):
        ChangeEvent.model_validate_json(orjson.dumps(record))


READ_AT = datetime(2026, 6, 1, 12, tzinfo=UTC)


def at(minutes_after_read: float, event_id: str) -> dict[str, object]:
    moment = READ_AT + timedelta(minutes=minutes_after_read)
    return {**RECORD, "eventID": event_id, "eventTime": moment.isoformat().replace("+00:00", "Z")}


def test_a_record_dated_beyond_max_time_ahead_is_rejected_and_the_rest_of_its_envelope_kept() -> None:
    envelope = {"Records": [at(-60, "past"), at(14, "skewed"), at(24 * 60, "tomorrow"), at(0, "now")]}
    result = parse_document(orjson.dumps(envelope), ParseContext(received_time=READ_AT))
    assert [e.event_id for e in result.items] == ["past", "skewed", "now"]
    (rejection,) = result.rejections
    assert (rejection.reason, rejection.index, rejection.native_id) == (RejectReason.FUTURE_TIME, 2, "tomorrow")
    assert "1 day, 0:00:00 after the record was read" in rejection.detail


@pytest.mark.parametrize(
    ("limits", "ctx"),
    [
        (LimitsConfig(max_time_ahead=None), ParseContext(received_time=READ_AT)),
        (LimitsConfig(max_time_ahead=timedelta(days=2)), ParseContext(received_time=READ_AT)),
        (LimitsConfig(), ParseContext()),  # no clock read it (the library used on its own): nothing to compare
    ],
)
def test_time_ahead_is_checked_only_with_a_limit_and_a_receipt_time(limits: LimitsConfig, ctx: ParseContext) -> None:
    result = parse_document(orjson.dumps(at(24 * 60, "tomorrow")), ctx, limits=limits)
    assert [e.event_id for e in result.items] == ["tomorrow"]


def test_an_authorization_for_a_window_to_come_is_not_in_the_future() -> None:
    record = {
        "kind": "authorization",
        "id": "CHG-NEXT-WEEK",
        "status": "approved",
        "owner": "platform-team",
        "principals": ["arn:aws:iam::111122223333:user/ops"],
        "actions": ["ec2:*"],
        "window": {"start": "2026-06-08T00:00:00Z", "end": "2026-06-08T04:00:00Z"},
    }
    result = parse_document(orjson.dumps(record), ParseContext(received_time=READ_AT), sources=("authorization",))
    assert [r.id for r in result.items] == ["CHG-NEXT-WEEK"]
    assert result.rejections == []


def test_max_time_ahead_must_be_positive() -> None:
    with pytest.raises(ValueError, match="greater than"):
        LimitsConfig(max_time_ahead=timedelta(0))

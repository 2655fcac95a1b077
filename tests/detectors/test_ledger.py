"""The ledger entry's JSON: what the SIEM and `replay --ledger` read for every judged change."""

from datetime import UTC, datetime, timedelta, timezone

import orjson

from detectors.base import LedgerEntry


def entry(moment: datetime) -> LedgerEntry:
    return LedgerEntry("evt-1", moment, "arn:aws:iam::1:user/a", "ec2:RunInstances", ("r1", "r2"), "production",
                       "authorized", "CHG-1", None)  # fmt: skip


def test_fields_in_order_with_utc_times_ending_z() -> None:
    data = orjson.loads(entry(datetime(2026, 3, 2, 0, 0, 0, 500000, tzinfo=UTC)).to_json())
    assert list(data) == [
        "event_id", "time", "principal", "action", "resources", "environment", "verdict", "authorized_by", "owner",
    ]  # fmt: skip
    assert data["time"] == "2026-03-02T00:00:00.500000Z"
    assert data["resources"] == ["r1", "r2"]
    assert data["owner"] is None


def test_whole_seconds_have_no_fraction_and_offsets_are_kept() -> None:
    assert orjson.loads(entry(datetime(2026, 3, 2, tzinfo=UTC)).to_json())["time"] == "2026-03-02T00:00:00Z"
    plus_one = datetime(2026, 3, 2, 1, tzinfo=timezone(timedelta(hours=1)))
    assert orjson.loads(entry(plus_one).to_json())["time"] == "2026-03-02T01:00:00+01:00"


def test_sorted_keys_for_replay_files() -> None:
    keys = list(orjson.loads(entry(datetime(2026, 3, 2, tzinfo=UTC)).to_json(sort_keys=True)))
    assert keys == sorted(keys)

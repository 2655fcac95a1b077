"""A table partition's changelog, written by our producer: Faust must read back what it would have written."""

from __future__ import annotations

from typing import Any

from faust.types import TP

from streams.app import create_faust_app
from streams.settings import Settings
from streams.tables import PartitionChangelog


class RecordingProducer:
    """Keeps what is produced; `deliver` acknowledges everything so far at consecutive offsets."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def produce(self, topic: str, value: bytes | None, key: Any = None, **kwargs: Any) -> None:
        self.sent.append({"topic": topic, "value": value, "key": key, **kwargs})

    def deliver(self) -> None:
        for offset, message in enumerate(self.sent):
            message["on_delivered"](offset)


class PersistedOffsets(dict[str, bytes]):
    """A memory store that remembers the offsets it is told are persisted (Faust's RocksDB store does)."""

    def __init__(self) -> None:
        super().__init__()
        self.offsets: dict[TP, int] = {}

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self.offsets[tp] = offset


def table_on_partition(partition: int) -> tuple[Any, PartitionChangelog, RecordingProducer]:
    app = create_faust_app(Settings(bootstrap_servers="127.0.0.1:9", app_id="tables-test"))
    table = app.Table("principal-judge", key_type=str, value_type=bytes, partitions=4)
    producer = RecordingProducer()
    return table, PartitionChangelog(table, partition, producer), producer  # type: ignore[arg-type]


def test_writes_reach_the_changelog_partition_in_the_encoding_faust_restores() -> None:
    table, changelog, producer = table_on_partition(2)
    changelog["arn:aws:iam::1:user/a"] = b'{"pending":[]}'
    del changelog["arn:aws:iam::1:user/a"]

    written, removed = producer.sent
    topic = table.changelog_topic
    assert written["topic"] == removed["topic"] == topic.get_topic_name()
    assert written["partition"] == removed["partition"] == 2
    restored_key = table.app.serializers.loads_key(table.key_type, written["key"], serializer=table.key_serializer)
    assert restored_key == "arn:aws:iam::1:user/a"
    assert written["value"] == b'{"pending":[]}'
    assert removed["value"] is None  # a tombstone: recovery drops the key


def test_local_store_holds_the_write_at_once() -> None:
    table, changelog, _ = table_on_partition(0)
    changelog["k"] = b"v"
    assert table.data["k"] == b"v"
    assert dict(changelog.items()) == {"k": b"v"}
    assert changelog.pop("k") == b"v"
    assert "k" not in table.data


def test_delivered_offsets_are_recorded_in_the_store() -> None:
    table, changelog, producer = table_on_partition(1)
    store = PersistedOffsets()
    changelog._store = store  # type: ignore[assignment]
    changelog["a"] = b"1"
    changelog["b"] = b"2"
    assert store.offsets == {}  # nothing is persisted before the broker has it
    producer.deliver()
    assert store.offsets == {TP(table.changelog_topic.get_topic_name(), 1): 1}

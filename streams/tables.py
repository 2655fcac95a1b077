"""State: detector state in Faust tables (one per detector, a store per partition), global state read whole.

Each partitioned engine sees its partition's keys through a `TableStore`: decoded states stay in memory
for the engine, and the keys that changed are encoded back into the table now and then, inside the
agent's iteration (Faust's RocksDB store finds the partition from the event being processed).

Faust restores the tables from their changelogs, but the changelogs are written by our producer
(`PartitionChangelog`), not Faust's: Faust's sends each changelog record through a Python buffer, one
await at a time, with one request in flight to the broker, and while that buffer is over 100 records it
holds back every stream. A persist writes a state per busy key, hundreds at once, so Faust's path held
the engines seconds behind their input on an idle worker; librdkafka batches and compresses them in C.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer
from faust import Table
from faust.types import TP
from faust.types.stores import StoreT

from detectors.base import Detector
from detectors.engine import StateStore
from streams.outputs import OutputProducer


class PartitionChangelog(MutableMapping[str, bytes]):
    """A Faust table's local store, whose writes for one partition go to its changelog through `producer`.

    The caller waits for `producer.delivered()` before it acks the messages behind a write (Faust's commit
    flushes only Faust's producer). Delivered offsets are recorded in the store as Faust's own writes would
    be, so a RocksDB store restores from where it left off rather than from the start of the changelog.
    """

    def __init__(self, table: Table[str, bytes], partition: int, producer: OutputProducer) -> None:
        self._store: StoreT[str, bytes] = table.data
        self._topic = table.changelog_topic.get_topic_name()
        self._key_bytes = partial(table.app.serializers.dumps_key, table.key_type, serializer=table.key_serializer)
        self._partition = partition
        self._producer = producer

    def __getitem__(self, key: str) -> bytes:
        value: bytes = self._store[key]
        return value

    def __setitem__(self, key: str, value: bytes) -> None:
        self._store[key] = value
        self._send(key, value)

    def __delitem__(self, key: str) -> None:
        del self._store[key]
        self._send(key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._store)

    def __len__(self) -> int:
        return len(self._store)

    def _send(self, key: str, value: bytes | None) -> None:
        self._producer.produce(
            self._topic, value, self._key_bytes(key), partition=self._partition, on_delivered=self._persisted
        )

    def _persisted(self, offset: int) -> None:
        self._store.set_persisted_offset(TP(self._topic, self._partition), offset)


class TableStore(StateStore):
    """One detector's states for one partition, write-behind over a Faust table of encoded bytes."""

    def __init__(self, table: MutableMapping[str, bytes], detector: Detector[Any], owns: Callable[[str], bool]) -> None:
        super().__init__({key: detector.decode_state(value) for key, value in list(table.items()) if owns(key)})
        self._table = table
        self._detector = detector
        self._dirty: set[str] = set()

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._dirty.add(key)

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._dirty.add(key)

    def changes(self) -> list[tuple[MutableMapping[str, bytes], str, bytes | None]]:
        """What changed since the last call, encoded now, for the table (None: deleted); the engine goes on
        changing its states while the write waits for the broker (`streams.engines.StateWrite`)."""
        changed = [(self._table, key, self._encoded(key)) for key in self._dirty]
        self._dirty.clear()
        return changed

    def _encoded(self, key: str) -> bytes | None:
        state = self._data.get(key)
        return None if state is None else self._detector.encode_state(state)


class GlobalReader:
    """Every worker reads the whole of the global topics (no consumer group), from the beginning, forever.

    The equivalent of a Faust GlobalTable for state that lives in memory indexes: `ready` is set once the
    topics are read up to the end offsets seen at start, or a poll comes back empty (some Kafka-compatible
    brokers report end offsets wrong), and the engines wait for it before judging.
    """

    def __init__(
        self, consumer: Callable[..., AIOKafkaConsumer], handlers: Mapping[str, Callable[[Any], None]]
    ) -> None:
        self._consumer = consumer
        self._handlers = handlers
        self.ready = asyncio.Event()
        self.failures = 0

    async def run(self) -> None:
        consumer = self._consumer(*self._handlers)  # no group: subscribed to every partition
        await consumer.start()
        try:
            while not consumer.assignment():
                await asyncio.sleep(0.05)
            partitions = sorted(consumer.assignment())
            ends = await consumer.end_offsets(partitions)
            behind = {tp for tp, end in ends.items() if end > 0}
            while True:
                if not behind:
                    self.ready.set()
                batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
                if not batches:
                    behind.clear()
                for tp, messages in batches.items():
                    handle = self._handlers[tp.topic]
                    for message in messages:
                        try:
                            handle(message)
                        except Exception:
                            self.failures += 1  # dead-lettered by the topic's own agent
                for tp in list(behind):
                    if await consumer.position(tp) >= ends[tp]:
                        behind.discard(tp)
        finally:
            await consumer.stop()

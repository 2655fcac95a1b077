"""State: detector state in Faust tables (one per detector, a store per partition), global state read whole.

Each partitioned engine sees its partition's keys through a `TableStore`: decoded states stay in memory
for the engine, and the keys an item changed are encoded back into the table (and so its changelog)
once per message, inside the agent's iteration, so Faust writes them to the changelog partition of the
message being processed, which is the partition the keys route to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from aiokafka import AIOKafkaConsumer

from detectors.base import Detector


class TableStore(MutableMapping[str, Any]):
    """One detector's states for one partition, write-behind over a Faust table of encoded bytes."""

    def __init__(self, table: MutableMapping[str, bytes], detector: Detector[Any], owns: Callable[[str], bool]) -> None:
        self._table = table
        self._detector = detector
        self._states: dict[str, Any] = {
            key: detector.decode_state(value) for key, value in list(table.items()) if owns(key)
        }
        self._dirty: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        return self._states[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._states[key] = value
        self._dirty.add(key)

    def __delitem__(self, key: str) -> None:
        del self._states[key]
        self._dirty.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)

    def write_back(self) -> None:
        """Persist what changed since the last call; must run inside stream iteration (Faust's rule)."""
        for key in self._dirty:
            state = self._states.get(key)
            if state is None:
                self._table.pop(key, None)
            else:
                self._table[key] = self._detector.encode_state(state)
        self._dirty.clear()


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

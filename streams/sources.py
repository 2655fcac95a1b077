"""The input topics, read in batches by a consumer group of their own, beside the Faust agents.

Parsing and routing input is stateless, so it needs none of what Faust gives the engines (tables,
changelogs, recovery), while Faust's per-message path (conductor, stream, event, ack bookkeeping) costs
more than a bare aiokafka consumer's batch fetch several times over. Offsets are committed only after
what was produced from them is delivered (at-least-once); on a rebalance the batch in flight finishes
and commits before its partitions are given up, so a rebalance costs no duplicates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from streams import metrics
from streams.outputs import DeliveryFailed, OutputProducer
from streams.processing import SourceMessage

log = logging.getLogger(__name__)

#: Wait before reading a batch again whose outputs the broker refused.
RETRY_PAUSE_S = 1.0
#: How long a stopping reader waits to commit what it read (inside the worker's wait for its ingest processes).
STOP_COMMIT_TIMEOUT_S = 5.0


class InputHandler(Protocol):
    def ingest(self, messages: Iterable[SourceMessage]) -> None: ...


class _CommitBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no type hints
    """Partitions are given up only between batches, after what was read from them is committed."""

    def __init__(self, reader: SourceReader, consumer: AIOKafkaConsumer) -> None:
        self.reader = reader
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        async with self.reader.in_flight:
            await self.reader.commit(self.consumer)
            metrics.record_rebalance()

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        return None


class SourceReader:
    """Reads `handlers`' topics in one consumer group; each batch goes to its topic's handler.

    A batch is parsed and routed as soon as it is fetched, and the next fetched: offsets are committed every
    `commit_every_s`, when input pauses, before partitions are given up and on a stop, each time after waiting
    for the broker to acknowledge everything produced so far. Waiting for that round trip after every batch
    kept the next batch in the fetch buffer, and was most of the input stage's latency under a steady trickle.
    """

    def __init__(
        self,
        consumer: Callable[[], AIOKafkaConsumer],
        handlers: Mapping[str, InputHandler],
        producer: OutputProducer,
        batch_max: int,
        batch_within_s: float,
        commit_every_s: float,
    ) -> None:
        self._consumer = consumer
        self._handlers = handlers
        self._producer = producer
        self._batch_max = batch_max
        self._within_s = batch_within_s
        self._commit_every_s = commit_every_s
        self.in_flight = asyncio.Lock()
        self._first: dict[TopicPartition, int] = {}  # first offset read and not yet committed
        self._next: dict[TopicPartition, int] = {}  # offset to commit: one past the last record read
        self._committed_at = time.monotonic()
        self._window = 0  # sequence number of the first message produced since the last commit

    async def run(self) -> None:
        consumer = self._consumer()
        consumer.subscribe(list(self._handlers), listener=_CommitBeforeRevoke(self, consumer))
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=milliseconds(self._within_s), max_records=self._batch_max)
                async with self.in_flight:
                    if batches:
                        self._ingest(batches)
                    if self._next and (not batches or time.monotonic() - self._committed_at >= self._commit_every_s):
                        await self.commit(consumer)
        finally:
            await self._commit_on_the_way_out(consumer)
            await consumer.stop()

    async def _commit_on_the_way_out(self, consumer: AIOKafkaConsumer) -> None:
        """On a stop, commit what was read since the last commit, so a restart does not read it again; bounded,
        and best effort: what is not committed is read again (at-least-once)."""
        try:
            async with self.in_flight:
                await asyncio.wait_for(self.commit(consumer), STOP_COMMIT_TIMEOUT_S)
        except (TimeoutError, KafkaError) as exc:
            log.warning("could not commit on stop (%s); the input since the last commit will be read again", exc)

    def _ingest(self, batches: Mapping[TopicPartition, list[ConsumerRecord]]) -> None:
        started = time.perf_counter()
        for tp, records in batches.items():
            self._handlers[tp.topic].ingest(records)
            self._first.setdefault(tp, records[0].offset)
            self._next[tp] = records[-1].offset + 1
        elapsed = time.perf_counter() - started
        for topic in {tp.topic for tp in batches}:
            metrics.record_processing(topic, elapsed)

    async def commit(self, consumer: AIOKafkaConsumer) -> None:
        """Commit what was read once everything it produced is acknowledged; if the broker refused any of
        it, seek back and read it all again (at-least-once)."""
        if not self._next:
            return
        offsets, self._next = self._next, {}
        first, self._first = self._first, {}
        self._committed_at = time.monotonic()
        window, self._window = self._window, self._producer.produced  # what was produced since the last commit
        try:
            await self._producer.delivered(since=window)
        except DeliveryFailed:
            log.exception("outputs refused; reading the input since the last commit again in %.0f s", RETRY_PAUSE_S)
            for tp, offset in first.items():
                consumer.seek(tp, offset)
            await asyncio.sleep(RETRY_PAUSE_S)
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            log.warning("commit failed (%s); the input since the last commit will be read again", exc)
            return
        for tp, offset in offsets.items():
            end = consumer.highwater(tp)
            if end is not None:
                metrics.record_consumer_lag(tp.topic, tp.partition, end - offset)


def milliseconds(seconds: float) -> int:
    """aiokafka's timeouts are whole milliseconds; 0 would not wait at all."""
    return max(1, int(seconds * 1000))

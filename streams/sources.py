"""The input topics, read in batches by a consumer group of their own, beside the Faust agents.

Parsing and routing input is stateless, so it needs none of what Faust gives the engines (tables,
changelogs, recovery), while Faust's per-message path (conductor, stream, event, ack bookkeeping) costs
more than a bare aiokafka consumer's batch fetch several times over. Each batch is parsed, routed and
delivered before its offsets are committed (at-least-once); on a rebalance the batch in flight finishes
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


class InputHandler(Protocol):
    def ingest(self, messages: Iterable[SourceMessage]) -> None: ...


class _FinishBatchFirst(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no type hints
    """Partitions are given up only between batches, so the batch in flight commits while it still can."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self.lock = lock

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        async with self.lock:
            metrics.record_rebalance()

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        return None


class SourceReader:
    """Reads `handlers`' topics in one consumer group; each batch goes to its topic's handler."""

    def __init__(
        self,
        consumer: Callable[[], AIOKafkaConsumer],
        handlers: Mapping[str, InputHandler],
        producer: OutputProducer,
        batch_max: int,
        batch_within_s: float,
    ) -> None:
        self._consumer = consumer
        self._handlers = handlers
        self._producer = producer
        self._batch_max = batch_max
        self._within_s = batch_within_s
        self._in_flight = asyncio.Lock()

    async def run(self) -> None:
        consumer = self._consumer()
        consumer.subscribe(list(self._handlers), listener=_FinishBatchFirst(self._in_flight))
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=milliseconds(self._within_s), max_records=self._batch_max)
                if batches:
                    async with self._in_flight:
                        await self._fill(consumer, batches)
                        await self._process(consumer, batches)
        finally:
            await consumer.stop()

    async def _fill(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Top a batch up for `batch_within_s` after its first records: under a steady trickle, every batch
        costs a commit and a repartition message per engine partition, so ten records a batch cost the engines
        and the broker several times what a hundred do."""
        deadline = time.monotonic() + self._within_s
        count = sum(len(records) for records in batches.values())
        while count < self._batch_max and (left := deadline - time.monotonic()) > 0:
            more = await consumer.getmany(timeout_ms=milliseconds(left), max_records=self._batch_max - count)
            for tp, records in more.items():
                batches.setdefault(tp, []).extend(records)
                count += len(records)

    async def _process(
        self, consumer: AIOKafkaConsumer, batches: Mapping[TopicPartition, list[ConsumerRecord]]
    ) -> None:
        started = time.perf_counter()
        for tp, records in batches.items():
            self._handlers[tp.topic].ingest(records)
        try:
            await self._producer.delivered()
        except DeliveryFailed:
            log.exception("outputs refused; reading the batch again in %.0f s", RETRY_PAUSE_S)
            for tp, records in batches.items():
                consumer.seek(tp, records[0].offset)
            await asyncio.sleep(RETRY_PAUSE_S)
            return
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items()}
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            log.warning("commit failed (%s); the batch will be read again", exc)  # at-least-once
            return
        elapsed = time.perf_counter() - started
        for topic in {tp.topic for tp in offsets}:
            metrics.record_processing(topic, elapsed)
        for tp, offset in offsets.items():
            end = consumer.highwater(tp)
            if end is not None:
                metrics.record_consumer_lag(tp.topic, tp.partition, end - offset)


def milliseconds(seconds: float) -> int:
    """aiokafka's timeouts are whole milliseconds; 0 would not wait at all."""
    return max(1, int(seconds * 1000))

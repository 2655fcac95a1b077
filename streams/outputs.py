"""Everything the agents publish (repartitioned items, findings, ledger, dead letters) goes through here.

A confluent-kafka producer, because librdkafka batches in C at a fraction of the per-message cost of
Faust's producer. The runtime calls `delivered()` before it commits input or writes state, so an offset is
committed only after what it produced is acknowledged by the broker: at-least-once. `delivered()` waits
for the messages produced before the call, not for everything in flight as `flush` does: with input
flowing, a flush also waited for the other agents' later messages, and took seconds.

A refusal is reported to every caller whose window holds it, not only to the first to ask: the two engine
agents share a producer, and the one that did not hear of a refusal would write state and acknowledge input
behind findings that never reached the broker.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, cast

from confluent_kafka import KafkaError, Message, Producer

from streams.settings import Settings

Headers = list[tuple[str, str | bytes | None]]
#: librdkafka's "no partition chosen": its partitioner picks one from the key.
UNASSIGNED = -1


class DeliveryFailed(RuntimeError):
    """The broker refused a message; the agent must not ack its input."""


class OutputProducer:
    def __init__(self, settings: Settings, **overrides: Any) -> None:
        conf: dict[str, Any] = settings.confluent_config() | {
            "acks": "all",
            "enable.idempotence": False,
            "linger.ms": 5,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 1_000_000,
            "message.max.bytes": 32 * 1024 * 1024,
            "compression.type": "lz4",  # compressed in librdkafka's threads, not the event loop's
        }
        self._producer = Producer(conf | overrides)
        self._refused: list[tuple[int, KafkaError]] = []  # (sequence number, why)
        self._next = 0  # sequence number of the next message produced
        self._unsettled: deque[int] = deque()  # in production order, from the oldest not yet settled
        self._settled: set[int] = set()  # settled while an older one was still in flight

    def _on_delivery(
        self,
        number: int,
        then: Callable[[int], None] | None,
        refused: Callable[[KafkaError], None] | None,
        error: KafkaError | None,
        message: Message,
    ) -> None:
        if error is not None and refused is not None:
            refused(error)
        elif error is not None:
            self._refused.append((number, error))
        elif then is not None and (offset := message.offset()) is not None:
            then(offset)
        self._settled.add(number)
        while self._unsettled and self._unsettled[0] in self._settled:
            self._settled.discard(self._unsettled.popleft())

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | str | None = None,
        *,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        on_delivered: Callable[[int], None] | None = None,
        on_refused: Callable[[KafkaError], None] | None = None,
    ) -> None:
        """Queue a message; `on_delivered` gets its offset once the broker has it. A refusal is reported to the
        callers of `delivered` (who must not ack what it came from), or with `on_refused` to that alone."""
        report = partial(self._on_delivery, self._next, on_delivered, on_refused)
        where = UNASSIGNED if partition is None else partition
        while True:
            try:
                if headers:
                    self._producer.produce(topic, value, key, where, on_delivery=report, headers=cast(Headers, headers))
                else:  # all positional: this runs for every ledger entry, and a keyword cost ~1 µs more a message
                    self._producer.produce(topic, value, key, where, report)
                self._unsettled.append(self._next)
                self._next += 1
                break
            except BufferError:  # local queue full: serve deliveries until there is room
                self._producer.poll(0.05)

    @property
    def produced(self) -> int:
        """How many messages were produced so far: the sequence number of the next one."""
        return self._next

    async def delivered(self, since: int = 0, before: int | None = None, every_s: float = 0.001) -> None:
        """Wait until every message produced before sequence number `before` (by default, before the call) is
        acknowledged, asking librdkafka every `every_s`; raise if any produced from sequence number `since` on
        was refused. By default that is any this producer ever had refused: a worker stops at the first
        (`Runtime.fail`). The input stage, which reads a refused window again, passes the start of its current
        one."""
        before = self._next if before is None else before
        while self._unsettled and self._unsettled[0] < before:
            self._producer.poll(0)  # serves delivery callbacks, without blocking the event loop
            if self._unsettled and self._unsettled[0] < before:
                await asyncio.sleep(every_s)
        self._refused = [(number, error) for number, error in self._refused if number >= since]
        refused = [error for number, error in self._refused if number < before]
        if refused:
            raise DeliveryFailed(f"{len(refused)} messages refused, first: {refused[0]}")

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush before exit; raise if anything was refused or is still undelivered."""
        left = self._producer.flush(timeout_s)
        if self._refused or left:
            first = f", first: {self._refused[0][1]}" if self._refused else ""
            raise DeliveryFailed(f"{len(self._refused)} messages refused, {left} undelivered{first}")

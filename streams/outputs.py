"""Everything the agents publish (repartitioned items, findings, ledger, dead letters) goes through here.

A confluent-kafka producer, because librdkafka batches in C at a fraction of the per-message cost of
Faust's producer. Agents call `delivered()` before they finish a message, so a source offset is
committed only after what it produced is acknowledged by the broker: at-least-once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from streams.settings import Settings


class DeliveryFailed(RuntimeError):
    """The broker refused a message; the agent must not ack its input."""


class OutputProducer:
    def __init__(self, settings: Settings, **overrides: Any) -> None:
        conf: dict[str, Any] = settings.confluent_config() | {
            "acks": "all",
            "enable.idempotence": False,
            "linger.ms": 2,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 1_000_000,
            "message.max.bytes": 32 * 1024 * 1024,
        }
        self._producer = Producer(conf | overrides)
        self._errors: list[KafkaError] = []

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._errors.append(error)

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | str | None = None,
        *,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        args: dict[str, Any] = {"key": key, "value": value, "on_delivery": self._on_delivery}
        if partition is not None:
            args["partition"] = partition
        if headers:
            args["headers"] = headers
        while True:
            try:
                self._producer.produce(topic, **args)
                break
            except BufferError:  # local queue full: serve deliveries until there is room
                self._producer.poll(0.05)

    async def delivered(self) -> None:
        """Wait until everything produced so far is acknowledged; raise if anything was refused."""
        if len(self._producer):
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self._producer.flush)
        if self._errors:
            errors, self._errors = self._errors, []
            raise DeliveryFailed(f"{len(errors)} messages refused, first: {errors[0]}")

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush before exit; raise if anything was refused or is still undelivered."""
        left = self._producer.flush(timeout_s)
        if self._errors or left:
            first = f", first: {self._errors[0]}" if self._errors else ""
            raise DeliveryFailed(f"{len(self._errors)} messages refused, {left} undelivered{first}")

"""Faust's aiokafka transport, with the engines' fetch wait set by opswarden rather than fixed at 1.5 s.

faust-streaming 0.15.3 hard-codes `fetch_max_wait_ms=1500` for the worker's consumer. aiokafka keeps one
fetch request in flight per broker, naming only the partitions that had nothing buffered when it was
sent. When that request names only quiet partitions (a by-target partition between ticks, say), the
broker holds it the full wait, and a busy partition drained meanwhile is not fetched until it returns:
at a steady 5,000 events/s the engines stalled for up to 1.5 s and then ran one to two seconds behind their input.
"""

from __future__ import annotations

from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport
from faust.types import TransportT


class PromptFetchApp(faust.App):
    """A Faust app whose worker consumer asks the broker to answer a fetch within `fetch_max_wait_ms`."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return PromptFetchTransport(self.conf.broker_consumer, self)


class PromptFetchConsumerThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = cast(PromptFetchApp, self.app).fetch_max_wait_ms  # read by its start()
        return consumer


class PromptFetchConsumer(Consumer):
    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return PromptFetchConsumerThread(self, loop=self.loop, beacon=self.beacon)


class PromptFetchTransport(Transport):
    Consumer = PromptFetchConsumer

"""Round trips through a real Kafka 4.x broker with both clients the project uses.

confluent-kafka (librdkafka) and aiokafka (what Faust runs on) must each keep keys, values, headers and
per-partition order intact against the broker version the project pins.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Message, Producer

pytestmark = pytest.mark.kafka

COUNT = 40
PARTITIONS = 3

Headers = list[tuple[str, str | bytes | None]]
# (partition, key, value, headers) of one consumed message, whichever client read it.
Received = tuple[int, bytes | None, bytes | None, Headers]


def _expected(i: int) -> tuple[bytes, bytes, Headers]:
    """Key, value and headers of message `i`; keys repeat so that several messages share a partition."""
    return (
        f"change-{i % 7}".encode(),
        f'{{"seq": {i}, "action": "scale"}}'.encode(),
        [("seq", str(i).encode()), ("source", b"opswarden-test"), ("empty", b"")],
    )


def _consume(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[Message]:
    """Read `count` messages from the start of `topic` through a fresh consumer group."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(received) < count and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            assert message.error() is None, message.error()
            received.append(message)
    finally:
        consumer.close()
    return received


def _received(message: Message) -> Received:
    partition, headers = message.partition(), message.headers() or []
    assert partition is not None
    assert isinstance(headers, list)
    return partition, message.key(), message.value(), headers


def _assert_round_trip(received: list[Received]) -> None:
    """Every message came back once, intact, and in send order within its partition."""
    by_seq: dict[int, int] = {}
    last_seq_in_partition: dict[int, int] = {}
    for partition, key, value, headers in received:
        assert value is not None
        seq = json.loads(value)["seq"]
        assert (key, value, headers) == _expected(seq)
        assert seq not in by_seq, f"message {seq} delivered twice"
        by_seq[seq] = partition
        assert seq > last_seq_in_partition.get(partition, -1), "order within a partition was not kept"
        last_seq_in_partition[partition] = seq
    assert sorted(by_seq) == list(range(COUNT))
    # One key always maps to one partition.
    for seq, partition in by_seq.items():
        assert partition == by_seq[seq % 7]


def test_confluent_kafka_round_trip(kafka_bootstrap: str, kafka_topic: Callable[..., str]) -> None:
    topic = kafka_topic(PARTITIONS)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for i in range(COUNT):
        key, value, headers = _expected(i)
        producer.produce(topic, value=value, key=key, headers=headers)
    assert producer.flush(30) == 0

    received = _consume(kafka_bootstrap, topic, COUNT)

    _assert_round_trip([_received(m) for m in received])


def test_confluent_kafka_large_message(kafka_bootstrap: str, kafka_topic: Callable[..., str]) -> None:
    """The broker accepts the ~20 MB messages (large change bundles) the project allows."""
    topic = kafka_topic()
    payload = bytes(range(256)) * (20 * 1024 * 1024 // 256)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.max.bytes": 25 * 1024 * 1024})
    producer.produce(topic, value=payload, key=b"big")
    assert producer.flush(60) == 0

    [message] = _consume(kafka_bootstrap, topic, 1, timeout=60)

    assert message.key() == b"big"
    value = message.value()
    assert value is not None
    assert hashlib.sha256(value).digest() == hashlib.sha256(payload).digest()


async def _aiokafka_round_trip(bootstrap: str, topic: str) -> list[Received]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(COUNT):
            key, value, headers = _expected(i)
            await producer.send(topic, value=value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[Received] = []
    try:
        async with asyncio.timeout(30):
            while len(received) < COUNT:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    received += [(r.partition, r.key, r.value, list(r.headers)) for r in records]
    finally:
        await consumer.stop()
    return received


def test_aiokafka_round_trip(kafka_bootstrap: str, kafka_topic: Callable[..., str]) -> None:
    topic = kafka_topic(PARTITIONS)

    received = asyncio.run(_aiokafka_round_trip(kafka_bootstrap, topic))

    _assert_round_trip(received)


@pytest.mark.parametrize("codec", ["lz4", "zstd", "snappy", "gzip"])
def test_aiokafka_reads_what_librdkafka_compresses(
    kafka_bootstrap: str, kafka_topic: Callable[..., str], codec: str
) -> None:
    """The worker's changelogs are lz4 from librdkafka and Faust restores them with aiokafka; input topics may
    carry any codec a producer chose. aiokafka decodes all but gzip only through cramjam."""
    topic = kafka_topic(PARTITIONS)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "compression.type": codec, "linger.ms": 50})
    for i in range(COUNT):
        key, value, headers = _expected(i)
        producer.produce(topic, value=value, key=key, headers=headers)
    assert producer.flush(30) == 0

    async def read() -> list[Received]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        received: list[Received] = []
        try:
            deadline = time.monotonic() + 30
            while len(received) < COUNT and time.monotonic() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    received += [(m.partition, m.key, m.value, list(m.headers)) for m in batch]
        finally:
            await consumer.stop()
        return received

    _assert_round_trip(asyncio.run(read()))

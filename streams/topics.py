"""The topics opswarden needs, with their configs, and creating them idempotently with the admin client.

Faust creates only its own internal topics (table changelogs); the inputs, outputs and the repartition
topics are created here, all with the same partition count so that Faust co-partitions them with the
changelogs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streams.model_snapshots import MAX_SNAPSHOT_BYTES
from streams.routing import tick_message
from streams.settings import Settings

log = logging.getLogger(__name__)

COMPACTED = {"cleanup.policy": "compact"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Inputs, global state (compacted; the models' snapshots in one partition), repartition topics and outputs
    (retained)."""
    topics = settings.topics
    n = settings.partitions

    def retained(ms: int) -> dict[str, str]:
        return {"cleanup.policy": "delete", "retention.ms": str(ms)}

    return [
        *(TopicSpec(name, n) for name in topics.sources()),
        TopicSpec(topics.name("authorizations"), n, COMPACTED),
        TopicSpec(topics.name("registry"), n, COMPACTED),
        TopicSpec(topics.name("models"), 1, COMPACTED | {"max.message.bytes": str(MAX_SNAPSHOT_BYTES)}),
        TopicSpec(topics.name("by_principal"), n),
        TopicSpec(topics.name("by_target"), n),
        TopicSpec(topics.name("findings"), n, retained(settings.findings_retention_ms)),
        TopicSpec(topics.name("ledger"), n, retained(settings.findings_retention_ms)),
        TopicSpec(topics.name("deadletter"), n, retained(settings.deadletter_retention_ms)),
    ]


def create_topics(settings: Settings, timeout_s: float = 30.0) -> dict[str, str]:
    """Create every missing topic, then anchor the engines' offsets; returns name → "created" or "exists".
    Other errors raise."""
    admin = AdminClient(settings.confluent_config())
    specs = topic_specs(settings)
    replicas = settings.replication_factor
    new = [NewTopic(s.name, num_partitions=s.partitions, replication_factor=replicas, config=s.config) for s in specs]
    futures = admin.create_topics(new, request_timeout=timeout_s)
    outcome: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            outcome[name] = "created"
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            outcome[name] = "exists"
    anchor_engine_offsets(settings, timeout_s)
    return outcome


def anchor_engine_offsets(settings: Settings, timeout_s: float = 30.0) -> list[TopicPartition]:
    """Give every empty repartition partition the engines' group has no offset for a marker (a stale tick),
    and commit the group past it; returns the partitions anchored.

    After Faust recovers a worker's tables, aiokafka seeks back to the committed offset only when it is above
    0: with none, what it fetched (and Faust discarded) during recovery was skipped, and a worker killed
    before its first commit on a partition lost its first batches to its replacement. `topics create` and
    every worker at start call this, so topics created by other means (Terraform, an operator) are anchored
    too. A partition is anchored only while it is empty and its marker lands at its end: nothing is ever
    committed past data. A refused commit (a group already running, some Kafka-compatible brokers) leaves
    that gap, with a warning."""
    empty = _empty_uncommitted(settings, timeout_s)
    if not empty:
        return []
    landed: dict[tuple[str, int], int] = {}

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is None and (offset := message.offset()) is not None:
            landed[(message.topic() or "", message.partition() or 0)] = offset

    producer = Producer(settings.confluent_config())
    for topic, partition in empty:
        producer.produce(topic, tick_message(0.0), partition=partition, on_delivery=on_delivery)
    if producer.flush(timeout_s):
        log.warning("repartition markers not delivered; engine offsets start uncommitted")
    past = [TopicPartition(t, p, offset + 1) for (t, p), offset in landed.items() if offset == empty[(t, p)]]
    if not past:
        return []
    admin = AdminClient(settings.confluent_config())
    try:
        for future in admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(settings.app_id, past)]
        ).values():
            future.result(timeout=timeout_s)
    except KafkaException as exc:
        log.warning("could not commit the engines' starting offsets (%s); they start uncommitted", exc)
        return []
    return past


def _empty_uncommitted(settings: Settings, timeout_s: float) -> dict[tuple[str, int], int]:
    """(topic, partition) → end offset, for the repartition partitions that are empty and uncommitted."""
    topics = [settings.topics.name(name) for name in ("by_principal", "by_target")]
    partitions = [TopicPartition(topic, p) for topic in topics for p in range(settings.partitions)]
    consumer = Consumer(settings.confluent_config() | {"group.id": settings.app_id, "enable.auto.commit": False})
    try:
        empty: dict[tuple[str, int], int] = {}
        for committed in consumer.committed(partitions, timeout=timeout_s):
            if committed.offset >= 0:
                continue
            low, high = _watermarks(consumer, TopicPartition(committed.topic, committed.partition), timeout_s)
            if low == high:
                empty[(committed.topic, committed.partition)] = high
        return empty
    finally:
        consumer.close()


#: What a partition just created may answer until its leader is elected, or until the client's metadata
#: knows it (`_UNKNOWN_PARTITION`, librdkafka's own answer, seen when a second test created topics at once).
LEADERLESS = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_PARTITION,
}


def _watermarks(consumer: Consumer, partition: TopicPartition, timeout_s: float) -> tuple[int, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            low, high = consumer.get_watermark_offsets(partition, timeout_s)
            return low, high
        except KafkaException as exc:
            if exc.args[0].code() not in LEADERLESS or time.monotonic() > deadline:
                raise
            time.sleep(0.1)

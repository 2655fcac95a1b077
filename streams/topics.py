"""The topics opswarden needs, with their configs, and creating them idempotently with the admin client.

Faust creates only its own internal topics (table changelogs); the inputs, outputs and the repartition
topics are created here, all with the same partition count so that Faust co-partitions them with the
changelogs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

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
    """Inputs, global state (compacted), repartition topics and outputs (retained)."""
    topics = settings.topics
    n = settings.partitions

    def retained(ms: int) -> dict[str, str]:
        return {"cleanup.policy": "delete", "retention.ms": str(ms)}

    return [
        *(TopicSpec(name, n) for name in topics.sources()),
        TopicSpec(topics.name("authorizations"), n, COMPACTED),
        TopicSpec(topics.name("registry"), n, COMPACTED),
        TopicSpec(topics.name("by_principal"), n),
        TopicSpec(topics.name("by_target"), n),
        TopicSpec(topics.name("findings"), n, retained(settings.findings_retention_ms)),
        TopicSpec(topics.name("ledger"), n, retained(settings.findings_retention_ms)),
        TopicSpec(topics.name("deadletter"), n, retained(settings.deadletter_retention_ms)),
    ]


def create_topics(settings: Settings, timeout_s: float = 30.0) -> dict[str, str]:
    """Create every missing topic; returns name → "created" or "exists". Other errors raise."""
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
    engine_topics = [settings.topics.name(name) for name in ("by_principal", "by_target")]
    anchor_engine_offsets(settings, admin, [t for t in engine_topics if outcome.get(t) == "created"], timeout_s)
    return outcome


def anchor_engine_offsets(settings: Settings, admin: AdminClient, topics: list[str], timeout_s: float) -> None:
    """Start every partition of new repartition topics with a marker (a stale tick) and commit the engines'
    group past it, so that each has a committed offset above 0 from the start.

    After Faust recovers a worker's tables, aiokafka seeks back to the committed offset only when it is above
    0: with none, what it fetched (and Faust discarded) during recovery was skipped, and a worker killed
    before its first commit on a partition lost its first batches to its replacement. A broker that refuses
    the commit (some Kafka-compatible ones) leaves that gap, with a warning."""
    if not topics:
        return
    producer = Producer(settings.confluent_config())
    for topic in topics:
        for partition in range(settings.partitions):
            producer.produce(topic, tick_message(0.0), partition=partition)
    if producer.flush(timeout_s):
        log.warning("repartition markers not delivered; engine offsets start uncommitted")
        return
    past = [TopicPartition(topic, partition, 1) for topic in topics for partition in range(settings.partitions)]
    try:
        for future in admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(settings.app_id, past)]
        ).values():
            future.result(timeout=timeout_s)
    except KafkaException as exc:
        log.warning("could not commit the engines' starting offsets (%s); they start uncommitted", exc)

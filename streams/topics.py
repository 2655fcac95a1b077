"""The topics opswarden needs, with their configs, and creating them idempotently with the admin client.

Faust creates only its own internal topics (table changelogs); the inputs, outputs and the repartition
topics are created here, all with the same partition count so that Faust co-partitions them with the
changelogs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streams.settings import Settings

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
    return outcome

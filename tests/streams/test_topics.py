"""Reading a new partition's offsets while the broker elects its leader and the client learns of it."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streams.topics import _watermarks


class AnsweringAfter:
    """A consumer whose watermark look-ups fail with `errors`, one per call, then answer."""

    def __init__(self, *errors: int) -> None:
        self.errors = list(errors)
        self.calls = 0

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float) -> tuple[int, int]:
        self.calls += 1
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        return 3, 7


def watermarks(consumer: Any, timeout_s: float = 5.0) -> tuple[int, int]:
    return _watermarks(consumer, TopicPartition("t", 0), timeout_s)


def test_a_partition_the_client_or_the_broker_does_not_know_yet_is_asked_again() -> None:
    consumer = AnsweringAfter(
        KafkaError._UNKNOWN_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.LEADER_NOT_AVAILABLE
    )
    assert watermarks(consumer) == (3, 7)
    assert consumer.calls == 4


def test_other_errors_and_errors_past_the_timeout_are_raised() -> None:
    with pytest.raises(KafkaException):
        watermarks(AnsweringAfter(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    with pytest.raises(KafkaException):
        watermarks(AnsweringAfter(*[KafkaError._UNKNOWN_PARTITION] * 50), timeout_s=0.2)

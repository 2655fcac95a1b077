"""The source reader's commits: never past what the broker has not acknowledged, and not after every batch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition

from streams.outputs import DeliveryFailed
from streams.sources import SourceReader

TOPIC = "audit.cloudtrail"
TP0, TP1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes = b"{}"
    key: bytes | None = None
    timestamp: int = 0


def records(tp: TopicPartition, first: int, count: int) -> list[Record]:
    return [Record(tp.topic, tp.partition, offset) for offset in range(first, first + count)]


#: In a script: the group takes TP0 away during this poll.
REVOKE: dict[TopicPartition, list[Record]] = {}


class StopReading(Exception):
    """Raised by the scripted consumer once its script is played."""


@dataclass
class ScriptedConsumer:
    """Returns one scripted poll result per `getmany`; records commits and seeks."""

    polls: list[dict[TopicPartition, list[Record]]]
    producer: CountingProducer
    commits: list[tuple[dict[TopicPartition, int], int]] = field(default_factory=list)  # (offsets, acked then)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)
    listener: Any = None

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Record]]:
        if not self.polls:
            raise StopReading
        poll = self.polls.pop(0)
        if poll is REVOKE:  # a rebalance runs its listener while the reader waits for records
            await self.listener.on_partitions_revoked([TP0])
            return self.polls.pop(0)
        return poll

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append((dict(offsets), self.producer.acknowledged))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def highwater(self, tp: TopicPartition) -> int | None:
        return None


@dataclass
class CountingProducer:
    """Counts what the handler produced and what `delivered()` has acknowledged; may refuse once."""

    produced: int = 0
    acknowledged: int = 0
    refuse_next: bool = False

    async def delivered(self, since: int = 0) -> None:
        if self.refuse_next:
            self.refuse_next = False
            raise DeliveryFailed("refused")
        self.acknowledged = self.produced


@dataclass
class ProducingHandler:
    producer: CountingProducer
    seen: list[int] = field(default_factory=list)

    def ingest(self, messages: Iterable[Any]) -> None:
        for message in messages:
            self.seen.append(message.offset)
            self.producer.produced += 1


def read(
    polls: list[dict[TopicPartition, list[Record]]], *, commit_every_s: float, refuse_first: bool = False
) -> tuple[ScriptedConsumer, ProducingHandler, SourceReader]:
    producer = CountingProducer(refuse_next=refuse_first)
    consumer = ScriptedConsumer(polls, producer)
    handler = ProducingHandler(producer)
    reader = SourceReader(lambda: consumer, {TOPIC: handler}, producer, 2000, 0.02, commit_every_s)  # type: ignore[arg-type]
    with pytest.raises(StopReading):
        asyncio.run(reader.run())
    return consumer, handler, reader


def test_batches_are_not_committed_one_by_one_but_when_input_pauses_and_only_once_delivered() -> None:
    polls = [{TP0: records(TP0, 0, 3)}, {TP0: records(TP0, 3, 2), TP1: records(TP1, 0, 4)}, {}]
    consumer, handler, _ = read(polls, commit_every_s=3600)
    assert handler.seen == [0, 1, 2, 3, 4, 0, 1, 2, 3]
    assert consumer.commits == [({TP0: 5, TP1: 4}, 9)], "one commit, after all 9 outputs were acknowledged"


def test_a_steady_stream_is_committed_every_interval() -> None:
    polls = [{TP0: records(TP0, offset, 1)} for offset in range(3)]
    consumer, _, _ = read(polls, commit_every_s=0)
    assert consumer.commits == [({TP0: 1}, 1), ({TP0: 2}, 2), ({TP0: 3}, 3)]


def test_refused_outputs_send_the_reader_back_to_the_first_uncommitted_offsets() -> None:
    polls = [{TP0: records(TP0, 10, 2)}, {TP0: records(TP0, 12, 1), TP1: records(TP1, 7, 1)}, {}]
    consumer, _, _ = read(polls, commit_every_s=3600, refuse_first=True)
    assert consumer.commits == []
    assert sorted(consumer.seeks) == [(TP0, 10), (TP1, 7)]


def test_partitions_are_given_up_only_after_what_was_read_from_them_is_committed() -> None:
    polls = [{TP0: records(TP0, 0, 2)}, REVOKE, {TP0: records(TP0, 2, 1)}]
    consumer, _, reader = read(polls, commit_every_s=3600)
    revoked, stopped = consumer.commits
    assert revoked == ({TP0: 2}, 2), "committed inside the revocation, before the reader went on"
    assert stopped == ({TP0: 3}, 3)
    assert not reader.in_flight.locked()


def test_a_stopping_reader_commits_what_it_read_since_the_last_commit() -> None:
    consumer, _, _ = read([{TP0: records(TP0, 0, 2)}, {TP1: records(TP1, 5, 1)}], commit_every_s=3600)
    assert consumer.commits == [({TP0: 2, TP1: 6}, 3)]

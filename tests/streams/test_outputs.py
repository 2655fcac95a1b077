"""What the producer tells its callers when the broker does not take their messages."""

from __future__ import annotations

import asyncio

import pytest

from streams.outputs import DeliveryFailed, OutputProducer
from streams.settings import Settings

#: No broker listens there: librdkafka gives each message up after `message.timeout.ms`.
NOWHERE = Settings(bootstrap_servers="127.0.0.1:9", app_id="outputs-test")


def unreachable() -> OutputProducer:
    return OutputProducer(NOWHERE, **{"message.timeout.ms": 300, "log_level": 0})


def test_a_refusal_is_reported_to_every_caller_not_only_the_first() -> None:
    """Two engine agents share a producer: the second to ask must not write state behind a lost finding."""
    producer = unreachable()
    producer.produce("findings", b"{}", "uid-1")

    async def both_ask() -> list[BaseException | None]:
        return await asyncio.gather(producer.delivered(), producer.delivered(), return_exceptions=True)

    first, second = asyncio.run(both_ask())
    assert isinstance(first, DeliveryFailed)
    assert isinstance(second, DeliveryFailed)
    with pytest.raises(DeliveryFailed, match="1 messages refused"):  # and to a later one
        asyncio.run(producer.delivered())


def test_a_window_started_after_a_refusal_does_not_hear_of_it() -> None:
    """The input stage reads a refused window again and asks about the new one only."""
    producer = unreachable()
    producer.produce("by-principal", b"I\n", partition=0)
    with pytest.raises(DeliveryFailed):
        asyncio.run(producer.delivered(since=0))
    asyncio.run(producer.delivered(since=producer.produced))
    producer.produce("by-principal", b"I\n", partition=0)
    window = producer.produced - 1
    with pytest.raises(DeliveryFailed, match="1 messages refused"):
        asyncio.run(producer.delivered(since=window))


def test_a_refusal_with_its_own_handler_is_reported_there_only() -> None:
    """A model snapshot the broker refuses must not stop the engines, which wait for their own outputs."""
    producer = unreachable()
    refused: list[object] = []
    producer.produce("models", b"{}", "permission_creep/peers", on_refused=refused.append)
    asyncio.run(producer.delivered())
    assert len(refused) == 1
    producer.produce("findings", b"{}", "uid-1")
    with pytest.raises(DeliveryFailed, match="1 messages refused"):
        asyncio.run(producer.delivered())
    assert len(refused) == 1

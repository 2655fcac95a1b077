"""The agents: thin loops over streams, each handing its messages to the runtime (`streams.processing`).

Concurrency is 1 everywhere: with more, faust-streaming can commit offsets past messages still in flight
(faust-streaming issue 606). Input agents take batches (`take_events`) because Faust's per-message path is
the bottleneck; the engine agents get one repartition message at a time, each already a batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from faust import Stream
from faust.types import StreamT

from streams import metrics
from streams.app import InputHandler, Runtime

Agent = Callable[[StreamT[bytes]], Awaitable[None]]


def input_agent(runtime: Runtime, ingest: InputHandler) -> Agent:
    async def consume(stream: StreamT[bytes]) -> None:
        batches = cast(Stream[bytes], stream).take_events(runtime.settings.batch_max, runtime.settings.batch_within_s)
        async for events in batches:
            await runtime.route([event.message for event in events], ingest)

    return consume


def engine_agent(runtime: Runtime) -> Agent:
    async def judge(stream: StreamT[bytes]) -> None:
        await runtime.reader.ready.wait()
        async for event in cast(Stream[bytes], stream).noack().events():
            await runtime.judge(event)

    return judge


def register_agents(runtime: Runtime) -> None:
    """Attach every agent, the tick timer, the global reader and the rebalance hooks to the app."""
    app = runtime.app
    topics = runtime.settings.topics
    for topic in runtime.source_topics:
        name = topic.get_topic_name()
        app.agent(topic, name=f"ingest-{name}", concurrency=1)(input_agent(runtime, runtime.ingestor))
    app.agent(runtime.topic(topics.name("authorizations")), name="authorizations", concurrency=1)(
        input_agent(runtime, runtime.authorizations)
    )
    app.agent(runtime.topic(topics.name("registry")), name="registry", concurrency=1)(
        input_agent(runtime, runtime.registry)
    )
    for name in runtime.engines:
        app.agent(runtime.topic(name), name=f"engine-{name}", concurrency=1)(engine_agent(runtime))

    async def tick() -> None:
        runtime.tick()
        runtime.record_state()

    async def on_revoked(_app: Any, /, *revoked: Any, signal: Any, **_kwargs: Any) -> None:
        for partitions in revoked:
            runtime.revoke(partitions)
        metrics.record_rebalance()

    app.timer(runtime.settings.tick_interval_s)(tick)
    app.task(runtime.reader.run)
    app.on_partitions_revoked.connect(on_revoked)

"""The agents: thin loops over the repartition streams, each handing its messages to the runtime.

Concurrency is 1: with more, faust-streaming can commit offsets past messages still in flight
(faust-streaming issue 606). Each repartition message is already a batch of items. The input topics are
read by the source reader (`streams.sources`), not by agents: Faust's per-message path would be the
bottleneck of a stage that keeps no state. It runs in `ingest_processes` child processes
(`streams.ingest_processes`), or with 0 as a task of the worker's own app.

An engine agent that raises stops the worker (`Runtime.fail`), rather than being restarted in place as
Faust's default supervisor would: what escapes `Runtime.judge` is a failure to deliver outputs or to write
state (a bad item is dead-lettered inside), and by then the engines' in-memory state has moved past input
that is not yet acknowledged. Restarted in place, the agent would go on from there and acknowledge that
input at the next state write, its refused findings lost. The worker's long-running tasks (the global
reader, the input stage or the supervisor of its processes) stop it too if they raise (`Runtime.guarded`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from faust import Stream
from faust.types import StreamT

from streams import metrics
from streams.app import Runtime
from streams.ingest_processes import IngestProcesses

Agent = Callable[[StreamT[bytes]], Awaitable[None]]
#: How often the event loop reports itself alive (`streams.health`).
HEARTBEAT_S = 1.0
#: How long a stopping worker waits for the broker to take its last model snapshots.
STOP_WRITE_TIMEOUT_S = 10.0

log = logging.getLogger(__name__)


def engine_agent(runtime: Runtime) -> Agent:
    async def judge(stream: StreamT[bytes]) -> None:
        await runtime.reader.ready.wait()
        runtime.models.restore()  # the first agent past here restores the global models, before any item
        try:
            async for event in cast(Stream[bytes], stream).noack().events():
                await runtime.judge(event)
        except Exception as exc:
            runtime.fail(exc)

    return judge


def register_agents(runtime: Runtime) -> None:
    """Attach every agent, the tick timer, the global and source readers and the rebalance hooks to the app."""
    app = runtime.app
    for name in runtime.engines:
        app.agent(runtime.topic(name), name=f"engine-{name}", concurrency=1)(engine_agent(runtime))

    async def tick() -> None:
        runtime.tick()
        runtime.record_state()

    async def on_revoked(_app: Any, /, *revoked: Any, signal: Any, **_kwargs: Any) -> None:
        for partitions in revoked:
            runtime.revoke(partitions)
        metrics.record_rebalance()

    cpu = metrics.CpuMeter(metrics.WORKER_PROCESS)
    metrics.time_gc_pauses(metrics.WORKER_PROCESS)

    async def heartbeat() -> None:
        """For `/healthz` and `/readyz`: a task of its own, so it beats from start-up on, recovery included."""
        while True:
            runtime.health.beat(loaded=runtime.reader.ready.is_set())
            cpu.record()
            await asyncio.sleep(HEARTBEAT_S)

    async def snapshot_models() -> None:
        runtime.models.write()

    async def snapshot_models_at_stop(_app: Any, /, *_args: Any, signal: Any, **_kwargs: Any) -> None:
        """A deploy's stop writes the models learned since the last snapshot; a failed worker's may be ahead of
        the state it wrote, so it leaves them."""
        if runtime.failure is None:
            runtime.models.write()
            try:
                await asyncio.wait_for(runtime.publisher.producer.delivered(), STOP_WRITE_TIMEOUT_S)
            except Exception as exc:  # a stop must not hang or fail on the models
                log.warning("model snapshots at stop not confirmed: %s", exc)

    app.timer(runtime.settings.tick_interval_s)(tick)
    if runtime.settings.model_snapshot_every_s:
        app.timer(runtime.settings.model_snapshot_every_s)(snapshot_models)
    app.on_before_shutdown.connect(snapshot_models_at_stop)
    app.task(heartbeat)
    app.task(runtime.guarded(runtime.reader.run))
    if runtime.sources is not None:
        app.task(runtime.guarded(runtime.sources.run))
    else:
        children = IngestProcesses(runtime.settings, runtime.config, runtime.settings.ingest_processes)
        app.task(runtime.guarded(children.run))
    app.on_partitions_revoked.connect(on_revoked)

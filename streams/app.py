"""The Faust application: topics, tables and the runtime objects the agents drive.

Topology (every name configurable, see `streams.settings.TopicNames`):

    audit.cloudtrail, audit.k8s, audit.gcp, audit.azure, aiops.actions
        └─ source reader: parse, dead-letter rejections, route items by key ───┐
    change.authorizations ─ source reader: validate, broadcast notice ────────┤
                          └─ global reader (every worker, whole topic) ─ shared index
    workflow.registry     ─ source reader: validate, dead-letter
                          └─ global reader (every worker, whole topic) ─ shared registry
    opswarden.models      ─ global reader ─ the detectors' global models: restored at start, other workers' fan-outs
                                            merged after (`streams.model_snapshots`)
    opswarden.by-principal (key: principal key) ─ principal engine agent ─┐  tables: principal-<detector>
    opswarden.by-target    (key: target key)    ─ target engine agent ────┤  tables: target-<detector>
                                                                          └─ opswarden.findings, opswarden.ledger
    anything that fails ─────────────────────────────────────────────────────── opswarden.deadletter

The source reader (`streams.sources`) has a consumer group of its own (`<app id>-ingest`): the input stage
is stateless and Faust's per-message path would be its bottleneck. It runs in the worker's input-stage
processes (`streams.ingest_processes`), or as a task of the Faust app when there are none. The engine
stage, which owns state, runs as Faust agents over tables.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from faust.types import TP, EventT, TopicT

from detectors.base import Detector, KeyKind
from detectors.catalog import build_detectors
from models.config import OpswardenConfig
from models.rejection import RejectReason
from streams import metrics
from streams.continuity import KeptTopic, OffsetContinuity, Step
from streams.deadletter import DeadLetter, from_exception
from streams.engines import IdleClock, PartitionedEngines, PartitionEngine, StateWrite
from streams.faust_transport import PromptFetchApp
from streams.health import Health
from streams.model_snapshots import ModelSnapshots
from streams.outputs import OutputProducer
from streams.processing import (
    AuthorizationIngestor,
    Ingestor,
    Publisher,
    RegistryIngestor,
    SharedState,
    SourceMessage,
    apply_authorization,
    apply_workflows,
)
from streams.routing import decode_message, tick_message
from streams.settings import Settings
from streams.sources import InputHandler, SourceReader, milliseconds
from streams.tables import GlobalReader, PartitionChangelog

log = logging.getLogger(__name__)

#: How often a state write asks whether the broker has acknowledged what it waits for. Not on the engines' path,
#: so coarser than the input stage's: many partitions' writes waiting on a slow broker at once would otherwise
#: wake the event loop thousands of times a second.
WRITE_WAIT_POLL_S = 0.01
#: Largest state a key may have; changelog topics accept it (the broker's default is 1 MB).
MAX_STATE_BYTES = 16 * 1024 * 1024
CHANGELOG_CONFIG = {"max.message.bytes": str(MAX_STATE_BYTES)}
#: What a source fetch waits for: about a hundred audit records.
SOURCE_FETCH_MIN_BYTES = 64 * 1024


def faust_credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    context = settings.ssl_context()
    if settings.sasl_mechanism:
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else None
        return faust.SASLCredentials(
            username=settings.sasl_username, password=password, ssl_context=context, mechanism=settings.sasl_mechanism
        )
    return faust.SSLCredentials(context) if context is not None else None


def create_faust_app(settings: Settings) -> faust.App:
    """A Faust app tuned for batches: big polls and buffers, short group timings, no web server, and fetches
    answered within the batch window (`streams.faust_transport`)."""
    return PromptFetchApp(
        settings.app_id,
        fetch_max_wait_ms=milliseconds(settings.batch_within_s),
        broker=[f"kafka://{host.strip()}" for host in settings.bootstrap_servers.split(",")],
        broker_credentials=faust_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_max_poll_records=settings.batch_max,
        broker_max_poll_interval=300.0,
        consumer_max_fetch_size=16 * 1024 * 1024,
        stream_buffer_maxsize=max(4096, 4 * settings.batch_max),
        broker_commit_every=10_000,
        broker_commit_interval=settings.commit_interval_s,
        table_standby_replicas=0,
        stream_wait_empty=False,  # messages held in reorder buffers stay unacked; they are read again
    )


@dataclass
class Runtime:
    """Everything a worker runs, built from the settings and the detection config."""

    settings: Settings
    config: OpswardenConfig
    app: faust.App
    publisher: Publisher
    shared: SharedState
    reader: GlobalReader
    sources: SourceReader | None  # the input stage in this process; None when it runs in ingest processes
    engines: dict[str, PartitionedEngines]
    health: Health
    models: ModelSnapshots
    held: dict[TP, list[tuple[datetime | None, EventT[bytes]]]] = field(default_factory=dict)
    writing: dict[TP, asyncio.Task[None]] = field(default_factory=dict)  # each partition's state write in flight
    continuity: OffsetContinuity = field(default_factory=OffsetContinuity)
    failure: BaseException | None = None  # set by `fail`: the worker is stopping
    stop_worker: Callable[[], None] = field(default=lambda: os.kill(os.getpid(), signal.SIGTERM))

    def fail(self, error: BaseException) -> None:
        """Stop the worker, the way a deploy does, and have it exit with a failure status: after a failure to
        deliver outputs or to write state, no engine judges, writes or acknowledges anything more, so a
        replacement restores the last state written and reads the unacknowledged input again."""
        if self.failure is None:
            log.critical("stopping the worker: %s: %s", type(error).__name__, error, exc_info=error)
            self.failure = error
            self.stop_worker()

    def guarded(self, work: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """`work` (a task that runs as long as the worker), stopping the worker if it raises: a crashed
        task of a Faust app is only logged, and a worker without its global reader would judge against
        stale authorizations, one without its input stage would sit idle, both reporting healthy."""

        async def run() -> None:
            try:
                await work()
            except Exception as exc:
                if self.app.should_stop:  # a client closed under it by the stop itself: not a failure
                    log.warning("%s ended while the worker stopped: %s", getattr(work, "__qualname__", work), exc)
                    return
                self.fail(exc)

        return run

    def topic(self, name: str) -> TopicT:
        return KeptTopic(
            self.app, topics=[name], key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    async def judge(self, event: EventT[bytes]) -> None:
        """A repartitioned message: run its partition's engine and publish what it produced. When the state is
        due to be written (every `persist_every_s`; ticks keep a quiet partition asking), the states changed
        since the last write are encoded as they are now, and a task of their own (`_write_then_ack`) writes
        them once the broker has what was published so far, while this agent goes on to the next messages.
        Not waiting for the broker on every message keeps a round trip out of each small batch's latency, and
        not waiting for it at a write keeps two round trips out of every partition's: the write held the agent
        ~20 ms of every 5 s a partition, its other partitions' messages waiting behind it.

        A partition has one write in flight at a time, so its writes reach the tables in order. A write still
        in flight when the next falls due (a broker slower to acknowledge than `persist_every_s`) holds the
        agent until it is done: the input judged but not acknowledged stays within two intervals, as memory
        and the input read again after a crash must. A rebalance that revokes the partition cancels its write
        (`revoke`): its engine is dropped and Faust reads the partition again from the committed offset."""
        message = event.message
        if self.failure is not None or not self._in_sequence(message):
            return
        engines = self.engines[message.topic]
        holder = engines.engine_for(message.partition)
        tp = TP(message.topic, message.partition)
        held = self.held.setdefault(tp, [])
        released: datetime | None = None
        persist_due = False
        try:
            routed = decode_message(message.value or b"{}")
        except Exception as exc:
            self.publisher.dead_letter(from_exception(exc, message.key, message.value, *_where(message)))
            held.append((None, event))
        else:
            handled = engines.handle(message.partition, routed)
            if handled.released_early:
                metrics.record_released_early(message.topic, handled.released_early)
            held.append((handled.held_until, event))
            released = handled.released_through
            persist_due = handled.persist_due
            self.publisher.outputs(handled.outputs)
            for failure in handled.failures:
                letter = DeadLetter(
                    None,
                    failure.body,
                    RejectReason.PROCESSING_ERROR,
                    f"{type(failure.error).__name__}: {failure.error}",
                    *_where(message),
                )
                self.publisher.dead_letter(letter)
        if not persist_due:
            return  # outputs go out on their own; only writing state and acking must wait for them
        writing = self.writing.get(tp)
        if writing is not None and not writing.done():
            await asyncio.wait({writing})  # neither raises if the write was cancelled nor cancels it if this is
            if not self._still_holds(tp, holder):
                return
        write = engines.state_write(message.partition)
        published = self.publisher.producer.produced
        # The task inherits this context, Faust's current event included (`StateWrite.apply`).
        self.writing[tp] = asyncio.create_task(self._write_then_ack(tp, holder, write, published, len(held), released))

    async def _write_then_ack(
        self, tp: TP, holder: PartitionEngine, write: StateWrite, published: int, judged: int, released: datetime | None
    ) -> None:
        """Wait until the `published` messages are delivered, write the state to the tables and their
        changelogs, wait until that is delivered too, then ack the held messages whose items have all left the
        reorder buffer. In that order: a crash between the steps re-issues outputs, never loses them (state
        that claims a finding never sent would). The state is as it was when the write fell due, so it claims
        nothing published after `published`, and the messages acked are among the first `judged` held, those
        judged before then.

        Acks go in offset order: faust-streaming commits the first run of consecutive acked offsets and its
        check for a gap in front of it is off by one (and skipped before the first commit), so a tick acked
        while the batch in front of it is still held could commit that batch."""
        producer = self.publisher.producer
        due = time.monotonic()
        try:
            await producer.delivered(before=published, every_s=WRITE_WAIT_POLL_S)
            if not self._still_holds(tp, holder):
                return
            write.apply()
            await producer.delivered(every_s=WRITE_WAIT_POLL_S)
            if not self._still_holds(tp, holder):
                return
        except Exception as exc:
            self.fail(exc)
            return
        held = self.held[tp]  # the partition's engine is the one the write came from, so this is its list
        acked = 0
        for until, waiting in held[:judged]:  # in offset order, stopping at the first still held
            if until is not None and (released is None or until > released):
                break
            waiting.ack()
            acked += 1
        del held[:acked]
        metrics.record_state_write(tp.topic, time.monotonic() - due)

    def _still_holds(self, tp: TP, holder: PartitionEngine) -> bool:
        """Whether the worker goes on and `tp` still has `holder` as its engine: a rebalance that revoked the
        partition dropped it (and its held messages), and Faust reads the partition again."""
        return self.failure is None and self.engines[tp.topic].engines.get(tp.partition) is holder

    def _in_sequence(self, message: SourceMessage) -> bool:
        """False for a message read again (`streams.continuity`), or left in the buffer from a partition since
        revoked; a hole in the offsets is reported, and the message processed."""
        tp = TP(message.topic, message.partition)
        if tp not in self.app.consumer.assignment():
            return False
        committed = self.app.consumer._committed_offset.get(tp)  # type: ignore[attr-defined]  # kept, no accessor
        step, expected = self.continuity.check(tp, message.offset, committed)
        if step is Step.GAP:
            log.error("%s[%d]: offsets %d to %d were never read", *tp, expected, message.offset - 1)
            metrics.record_gap(message.topic, message.offset - expected)
        return step is not Step.SKIP

    def tick(self) -> None:
        """Send a tick to every engine partition this worker holds, so quiet partitions move on."""
        tick = tick_message(time.time())
        for tp in self.app.consumer.assignment():
            if tp.topic in self.engines:
                self.publisher.producer.produce(tp.topic, tick, partition=tp.partition)

    def revoke(self, revoked: set[TP]) -> None:
        """Forget revoked partitions: their unacked messages will be read again by their new owner."""
        for name, engines in self.engines.items():
            engines.revoke(tp.partition for tp in revoked if tp.topic == name)
        self.continuity.forget(revoked)
        for tp in revoked:
            self.held.pop(tp, None)
            writing = self.writing.pop(tp, None)
            if writing is not None:
                writing.cancel()

    def record_state(self) -> None:
        for engines in self.engines.values():
            for holder in engines.engines.values():
                metrics.record_engine_state(holder.engine)


def _where(message: SourceMessage) -> tuple[str, int, int]:
    return message.topic, message.partition, message.offset


def by_key_kind(detectors: list[Detector[Any]]) -> dict[KeyKind, list[Detector[Any]]]:
    return {kind: [d for d in detectors if d.key_kind is kind] for kind in KeyKind}


def repartition_topics(settings: Settings) -> dict[KeyKind, str]:
    return {KeyKind.PRINCIPAL: settings.topics.name("by_principal"), KeyKind.TARGET: settings.topics.name("by_target")}


def build_publisher(settings: Settings) -> Publisher:
    topics = settings.topics
    return Publisher(
        OutputProducer(settings), topics.name("findings"), topics.name("ledger"), topics.name("deadletter")
    )


def build_source_reader(
    settings: Settings, config: OpswardenConfig, publisher: Publisher, detectors: list[Detector[Any]]
) -> SourceReader:
    """The input stage: the source reader and its handlers, in the worker's own loop or an ingest process."""
    topics = settings.topics
    by_kind = by_key_kind(detectors)
    routes = repartition_topics(settings)
    ingestor = Ingestor(
        config, by_kind, routes, settings.partitions, topics.sources(), publisher, settings.tick_interval_s / 2
    )
    handlers: dict[str, InputHandler] = {
        **dict.fromkeys(topics.sources(), ingestor),
        topics.name("authorizations"): AuthorizationIngestor(
            config, routes[KeyKind.PRINCIPAL], settings.partitions, publisher
        ),
        topics.name("registry"): RegistryIngestor(config.limits, publisher),
    }
    return SourceReader(
        lambda: AIOKafkaConsumer(
            group_id=f"{settings.app_id}-ingest",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.batch_max,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            # The broker holds a fetch until a batch's worth is there (or the batch window ends), rather
            # than answer each produce with a fetch of its own: under a trickle that was most of its work.
            fetch_min_bytes=SOURCE_FETCH_MIN_BYTES,
            fetch_max_wait_ms=milliseconds(settings.batch_within_s),
            session_timeout_ms=int(settings.session_timeout_s * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval_s * 1000),
            rebalance_timeout_ms=int(settings.rebalance_timeout_s * 1000),
            **settings.aiokafka_config(),
        ),
        handlers,
        publisher.producer,
        settings.batch_max,
        settings.batch_within_s,
        settings.commit_interval_s,
    )


def build_runtime(settings: Settings, config: OpswardenConfig) -> Runtime:
    """The app, its tables and the runtime objects; agents are attached by `streams.agents.register_agents`."""
    app = create_faust_app(settings)
    topics = settings.topics
    detectors = build_detectors(config)
    by_kind = by_key_kind(detectors)
    routes = repartition_topics(settings)
    publisher = build_publisher(settings)
    shared = SharedState()
    models = ModelSnapshots(detectors, topics.name("models"), publisher.producer)
    clock = IdleClock(settings.idle_after_s, settings.idle_clock_rate, settings.tick_interval_s)
    reorder_window = timedelta(seconds=settings.reorder_window_s)
    engines: dict[str, PartitionedEngines] = {}
    for kind, topic in routes.items():
        metrics.record_gap(topic, 0)
        metrics.record_released_early(topic, 0)
        tables = {
            d.name: app.Table(
                f"{kind.value}-{d.name}",
                partitions=settings.partitions,
                key_type=str,
                value_type=bytes,
                extra_topic_configs=CHANGELOG_CONFIG,
            )
            for d in by_kind[kind]
        }
        watermarks = app.Table(
            f"{kind.value}-watermarks",
            partitions=settings.partitions,
            key_type=str,
            value_type=bytes,
        )
        engines[topic] = PartitionedEngines(
            config,
            by_kind[kind],
            tables,
            watermarks,
            settings.partitions,
            shared,
            clock,
            reorder_window,
            settings.persist_every_s,
            lambda table, partition: PartitionChangelog(table, partition, publisher.producer),  # type: ignore[arg-type]
            settings.reorder_max_items,
        )
    reader = GlobalReader(
        lambda *topics: AIOKafkaConsumer(
            *topics,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **settings.aiokafka_config(),
        ),
        {
            topics.name("authorizations"): lambda message: apply_authorization(shared, message, config),
            topics.name("registry"): lambda message: apply_workflows(shared, message, config.limits),
            topics.name("models"): models.offer,
        },
    )
    # A producer of its own, as in an ingest process: each stage must learn of its own refused messages only.
    in_process = None if settings.ingest_processes else build_publisher(settings)
    sources = build_source_reader(settings, config, in_process, detectors) if in_process else None
    return Runtime(
        settings=settings,
        config=config,
        app=app,
        publisher=publisher,
        shared=shared,
        reader=reader,
        sources=sources,
        engines=engines,
        health=Health(settings.stall_after_s),
        models=models,
    )

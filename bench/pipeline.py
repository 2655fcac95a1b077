"""Per-event cost of the worker's own code, without Kafka or Faust (run by hand, not a test).

    python -m bench.pipeline [--events 100000] [--envelope 1] [--repeat 1] [--reads 0.9] [--profile]

Runs the stream stages in one process over the events `bench.stream_throughput` produces: the ingest stage
(parse, route, encode repartition batches) and the engine stage (decode, reorder, detectors, state written
to dict "tables", findings and ledger serialised for the producer). Messages the stages would produce are
kept in memory, so the figures are what our code costs per event, the part a faster Kafka client cannot buy.
They are the process's CPU time, not the wall clock, so other work on the machine counts less; its speed still
drifts by a third over a day, so compare versions in interleaved runs, with `--repeat` and the medians. The
last line, the floor, is the most events a second the machine's cores could take if they ran nothing but this
code: a bound on any end-to-end figure, since a worker, its input stage and the broker share those cores.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from bench.stream_throughput import AUTHORIZATION, messages, read_share
from detectors.catalog import build_detectors
from models.config import OpswardenConfig
from streams.app import by_key_kind, repartition_topics
from streams.engines import IdleClock, PartitionedEngines
from streams.processes import tune_gc
from streams.processing import Ingestor, Publisher, SharedState, apply_authorization
from streams.routing import decode_message
from streams.settings import Settings

PARTITIONS = 4


@dataclass
class Message:
    value: bytes | None
    topic: str
    partition: int = 0
    offset: int = 0
    key: bytes | None = None


class MemoryProducer:
    """Keeps what would be produced, by topic and partition."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, int | None], list[bytes | None]] = defaultdict(list)

    def produce(
        self, topic: str, value: bytes | None, key: Any = None, *, partition: int | None = None, **_: Any
    ) -> None:
        self.sent[(topic, partition)].append(value)


@dataclass(frozen=True)
class Cost:
    """CPU µs an event of each stage, in one run over fresh state."""

    ingest_us: float
    engine_us: float
    verdicts: int

    @property
    def both_us(self) -> float:
        return self.ingest_us + self.engine_us


def measure(args: argparse.Namespace, profiler: cProfile.Profile | None) -> Cost:
    """Both stages over `args.events` events, from empty state, as a worker and its input stage would run them."""
    config = OpswardenConfig()
    settings = Settings()
    topics = settings.topics
    detectors = build_detectors(config)
    by_kind = by_key_kind(detectors)
    routes = repartition_topics(settings)
    producer = MemoryProducer()
    publisher = Publisher(producer, topics.name("findings"), topics.name("ledger"), topics.name("deadletter"))  # type: ignore[arg-type]
    shared = SharedState()
    apply_authorization(shared, Message(orjson.dumps(AUTHORIZATION), topics.name("authorizations")), config)
    ingestor = Ingestor(config, by_kind, routes, PARTITIONS, topics.sources(), publisher, 3600.0)
    clock = IdleClock(3600.0, 1.0, 1.0)
    engines = {
        topic: PartitionedEngines(
            config,
            by_kind[kind],
            {d.name: {} for d in by_kind[kind]},
            {},
            PARTITIONS,
            shared,
            clock,
            timedelta(0),
            settings.persist_every_s,
        )
        for kind, topic in routes.items()
    }
    source = topics.name("cloudtrail")
    encoded = messages(0, args.events, args.envelope, args.reads)
    inputs = [Message(value, source, 0, offset) for offset, value in enumerate(encoded)]
    if not args.default_gc:
        tune_gc()  # as the worker does

    if profiler:
        profiler.enable()
    started = time.process_time()
    for first in range(0, len(inputs), args.batch):
        ingestor.ingest(inputs[first : first + args.batch])
    ingested = time.process_time()
    verdicts = 0
    for (topic, partition), values in list(producer.sent.items()):
        if topic not in engines:
            continue
        for value in values:
            routed = decode_message(value or b"{}")
            handled = engines[topic].handle(partition or 0, routed)
            publisher.outputs(handled.outputs)
            if handled.persist_due:
                engines[topic].state_write(partition or 0).apply()
            verdicts += len(handled.outputs.ledger)
    finished = time.process_time()
    if profiler:
        profiler.disable()
    return Cost((ingested - started) / args.events * 1e6, (finished - ingested) / args.events * 1e6, verdicts)


def cores_ceiling(both_us: float, cores: int) -> float:
    """The most events a second `cores` fully busy cores can take at `both_us` of CPU an event: the bound our
    own code sets on a worker and its input stage together, whatever Kafka costs on top.

    >>> cores_ceiling(40.0, 2)
    50000.0
    """
    return cores * 1e6 / both_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--envelope", type=int, default=1)
    parser.add_argument("--batch", type=int, default=2000, help="Input messages per ingest batch.")
    parser.add_argument("--repeat", type=int, default=1, help="Runs, each from empty state; medians are printed too.")
    parser.add_argument("--profile", action="store_true", help="Print the top functions by cumulative time.")
    parser.add_argument("--default-gc", action="store_true", help="Keep Python's collector thresholds.")
    parser.add_argument("--reads", type=read_share, default=0.0, help="The share of events that are reads (0 to 0.99).")
    args = parser.parse_args()

    profiler = cProfile.Profile() if args.profile else None
    print(f"{args.events:,} events, {args.envelope} record(s)/message, {PARTITIONS} partitions; CPU µs an event")
    costs = []
    for run in range(1, args.repeat + 1):
        cost = measure(args, profiler)
        costs.append(cost)
        print(
            f"run {run}: ingest stage (parse, route, encode) {cost.ingest_us:6.1f}, engine stage (decode, detectors, "
            f"state, outputs) {cost.engine_us:6.1f} ({cost.verdicts:,} verdicts), both {cost.both_us:6.1f} = "
            f"{1e6 / cost.both_us:,.0f} events/s on one core"
        )
    if args.repeat > 1:
        ingest, engine, both = (
            statistics.median(getattr(c, name) for c in costs) for name in ("ingest_us", "engine_us", "both_us")
        )
        print(f"median: ingest {ingest:6.1f}, engine {engine:6.1f}, both {both:6.1f} = {1e6 / both:,.0f} events/s")
    cores = len(os.sched_getaffinity(0))
    fastest = min(cost.both_us for cost in costs)
    print(
        f"floor: this machine's {cores} core(s), all busy with our code alone, take at most "
        f"{cores_ceiling(fastest, cores):,.0f} events/s (the fastest run), before Kafka, Faust and the broker"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()

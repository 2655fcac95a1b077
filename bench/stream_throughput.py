"""End-to-end speed of one `opswarden worker` against a real Kafka broker (run by hand, not a test).

    python -m bench.stream_throughput [--bootstrap HOST:PORT [--broker-pid PID]] [--events 150000] [--workers 1]
                                      [--reads 0.9]

Reports, in one run:
- events/s end to end with one CloudTrail record per message, and with 100-record envelopes: N events
  are produced first, then a worker starts; the rate is N over the time from its first to its last verdict
  (read from the ledger after the run, by the CreateTime the worker's producer stamps), and the CPU each
  process spent an event meanwhile (the worker, its input-stage processes and, when the benchmark started
  it or `--broker-pid` names it, the broker; read from Linux's `/proc`);
- p50/p99 latency from produce to finding at a fixed offered rate (5,000 events/s), in steady state: the
  load starts `SETTLE_S` after the worker's first verdict; and what the worker's garbage collector did meanwhile
  (read from its metrics endpoint), since its pauses are the latency's tail;
- the ceiling: a bare aiokafka consumer reading and orjson-parsing the same topics;
- the machine's speed at the start and the end, as `bench.pipeline` measures it (CPU µs an event of our code,
  no Kafka): this shared machine's speed drifts with the hour by up to four times, and the figures above with it.

`--workers N` runs the throughput measurements with N workers in one group on this machine instead
(scale-out without more cores); their CPU is summed.

`--reads F` makes that share of the events reads (`DescribeSecurityGroups`, `readOnly`), as most of a real
trail is: a read is parsed, routed and seen by the online detectors, but not judged, so it costs the worker
less. The targets are for the default, every event a change.

Every event is a production change by one of 1,000 IAM users, judged when the watermark passes its grace
period: each gives one ledger entry, and the one in a hundred no authorization covers gives a finding.
Throughput counts ledger entries (every event's output); latency is measured on findings. Event time
advances a fixed step per event, so the event whose arrival releases a change's verdict is known;
latency runs from that event's produce time to the finding's (the CreateTime the worker's producer
stamps). Without a broker address, one is started with scripts/kafka_broker.py, with the JVM options Kafka
ships (`--shipped-jvm`; start a broker for `--bootstrap` so too): the tests' small heap and serial collector
fill over a long session and stop the broker for ~0.5 s at a time, which the latency would count.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from bench.procfs import child_pids, cpu_seconds
from models.config import OpswardenConfig
from streams.embedded_broker import free_port
from streams.outputs import OutputProducer
from streams.settings import Settings, TopicNames
from streams.topics import create_topics

ROOT = Path(__file__).resolve().parent.parent
OPSWARDEN = Path(sys.executable).parent / "opswarden"
BASE = datetime(2026, 3, 2, tzinfo=UTC)
STEP = timedelta(milliseconds=100)
USERS = 1000
ENVELOPE = 100
#: Before the latency run: start-up work (group joins, the first state writes) is not steady-state latency.
SETTLE_S = 20.0


#: One change in a hundred is made by a user no record names: those are the findings.
ROGUE_EVERY = 100
AUTHORIZATION = {
    "kind": "authorization",
    "id": "CHG-BENCH",
    "status": "approved",
    "owner": "platform-team",
    "requested_by": "alice",
    "approved_by": ["bob"],
    "principals": ["arn:aws:iam::111122223333:user/bench-user-*"],
    "actions": ["ec2:*"],
}


def is_read(index: int, reads: float) -> bool:
    """Whether event `index` is a read, with `reads` the share of reads (`--reads`): the last of each hundred, so
    the rogue changes (the first of each hundred) stay changes."""
    return index % ROGUE_EVERY >= round(ROGUE_EVERY * (1 - reads))


def cloudtrail(index: int, reads: float = 0.0) -> dict[str, Any]:
    if is_read(index, reads):
        return cloudtrail(index) | {
            "eventName": "DescribeSecurityGroups",
            "readOnly": True,
            "requestParameters": {"groupIds": [f"sg-{index % 97:04d}"]},
        }
    kind = "rogue" if index % ROGUE_EVERY == 0 else "user"
    user = f"bench-{kind}-{index % USERS:04d}"
    return {
        "eventVersion": "1.08",
        "eventID": f"bench-{index:09d}",
        "eventTime": (BASE + index * STEP).isoformat().replace("+00:00", "Z"),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": "eu-west-1",
        "recipientAccountId": "111122223333",
        "userIdentity": {
            "type": "IAMUser",
            "arn": f"arn:aws:iam::111122223333:user/{user}",
            "accountId": "111122223333",
            "userName": user,
        },
        "sourceIPAddress": "10.0.0.1",
        "requestParameters": {"groupId": f"sg-{index % 97:04d}"},
    }


def messages(start: int, count: int, envelope: int, reads: float = 0.0) -> Iterator[bytes]:
    for first in range(start, start + count, envelope):
        records = [cloudtrail(i, reads) for i in range(first, min(first + envelope, start + count))]
        yield orjson.dumps(records[0] if envelope == 1 else {"Records": records})


def event_index(finding: dict[str, Any]) -> int:
    """The bench event a finding is about (its first related event)."""
    return int(finding["finding_info"]["related_events"][0]["uid"].removeprefix("bench-"))


def releasing_index(index: int, config: OpswardenConfig) -> int:
    """The first event whose arrival moves the watermark past event `index`'s grace period."""
    due = config.authorization.grace + config.allowed_lateness
    return index + math.ceil(due / STEP)


class Run:
    """Workers on their own topics."""

    def __init__(self, bootstrap: str, workdir: Path, label: str, reads: float = 0.0) -> None:
        self.reads = reads
        prefix = f"bench-{label}-{uuid.uuid4().hex[:6]}-"
        self.env = os.environ | {
            "OPSWARDEN_BOOTSTRAP_SERVERS": bootstrap,
            "OPSWARDEN_TOPICS__PREFIX": prefix,
            "OPSWARDEN_APP_ID": f"{prefix}opswarden",
            "OPSWARDEN_DATA_DIR": str(workdir / prefix),
            "OPSWARDEN_METRICS_PORT": "0",
            "OPSWARDEN_REORDER_WINDOW_S": "0",
            "OPSWARDEN_IDLE_AFTER_S": "3600",
        }
        self.settings = Settings(
            bootstrap_servers=bootstrap, app_id=f"{prefix}opswarden", topics=TopicNames(prefix=prefix)
        )
        self.bootstrap = bootstrap
        self.workdir = workdir / prefix
        self.workers: list[subprocess.Popen[bytes]] = []
        create_topics(self.settings)

    @property
    def source(self) -> str:
        return self.settings.topics.name("cloudtrail")

    def produce(self, count: int, envelope: int, start: int = 0) -> None:
        producer = OutputProducer(self.settings)
        producer.produce(self.settings.topics.name("authorizations"), orjson.dumps(AUTHORIZATION), "CHG-BENCH")
        for value in messages(start, count, envelope, self.reads):
            producer.produce(self.source, value)
        producer.close()

    def start_workers(self, count: int = 1) -> None:
        """`count` workers in one group, each with a data directory and a log of its own."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for number in range(count):
            env = self.env | {"OPSWARDEN_DATA_DIR": str(self.workdir / f"data-{number}")}
            with (self.workdir / f"worker-{number}.log").open("wb") as out:
                command = [str(OPSWARDEN), "worker", "--loglevel", "warn"]
                self.workers.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT))

    def outputs(self, name: str, count: int, timeout_s: float) -> list[tuple[float, dict[str, Any]]]:
        """(publish time in seconds, message) from the `name` topic until `count` arrive or the timeout."""
        topic = self.settings.topics.name(name)
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(self.settings.partitions)])
        found: list[tuple[float, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < count and time.monotonic() < deadline:
            for message in consumer.consume(10_000, timeout=0.5):
                if message.error() is None:
                    found.append((message.timestamp()[1] / 1000, orjson.loads(message.value() or b"{}")))
        consumer.close()
        return found

    def wait_for(self, name: str, count: int, timeout_s: float, on_first: Callable[[], None] | None = None) -> None:
        """Until the `name` topic holds `count` messages, polling its end offsets (`on_first` runs when the first
        is there): reading the messages while the worker runs would take CPU from it on this two-core machine
        (about 5% of the run)."""
        topic = self.settings.topics.name(name)
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                ends = (
                    consumer.get_watermark_offsets(TopicPartition(topic, p)) for p in range(self.settings.partitions)
                )
                held = sum(high for _, high in ends)
                if held and on_first is not None:
                    on_first()
                    on_first = None
                if held >= count:
                    return
                time.sleep(0.1)
        finally:
            consumer.close()

    def cpu_seconds(self, broker_pid: int | None) -> dict[str, float]:
        """CPU seconds used so far by the workers, their input-stage processes and the broker (Linux `/proc`)."""
        pids = [worker.pid for worker in self.workers]
        used = {
            "worker": sum(cpu_seconds(pid) for pid in pids),
            "input stage": sum(cpu_seconds(child) for pid in pids for child in child_pids(pid)),
        }
        if broker_pid is not None:
            used["broker"] = cpu_seconds(broker_pid)
        return used

    def stop(self) -> None:
        running = [worker for worker in self.workers if worker.poll() is None]
        for worker in running:
            worker.terminate()
        for worker in running:
            worker.wait(30)


@dataclass(frozen=True)
class Throughput:
    events_per_s: float
    cpu_us_per_event: dict[str, float]  # by process, from the first verdict to the last


def throughput(
    bootstrap: str,
    workdir: Path,
    events: int,
    envelope: int,
    broker_pid: int | None,
    workers: int = 1,
    reads: float = 0.0,
) -> Throughput:
    """Events/s end to end: N events waiting in the topic, then the workers; first to last verdict published.
    Reads give no verdict: the changes' rate is scaled by events to changes, spread evenly through the input."""
    run = Run(bootstrap, workdir, f"tp{envelope}", reads)
    config = OpswardenConfig()
    tail = releasing_index(0, config)  # the last events only push the watermark past the others' grace
    run.produce(events + tail, envelope)
    changes = sum(not is_read(index, reads) for index in range(events))
    run.start_workers(workers)
    started: dict[str, float] = {}
    try:
        run.wait_for("ledger", changes, timeout_s=600, on_first=lambda: started.update(run.cpu_seconds(broker_pid)))
        finished = run.cpu_seconds(broker_pid)
    finally:
        run.stop()
    found = run.outputs("ledger", changes, timeout_s=60)
    times = sorted(moment for moment, _ in found)
    rate = len(times) / (times[-1] - times[0]) * events / changes if len(times) > 1 else 0.0
    cpu = {name: (finished[name] - started.get(name, 0.0)) / events * 1e6 for name in finished}
    return Throughput(rate, cpu)


#: `bench.pipeline`'s reading at the fastest hour seen, to read `machine_speed` against.
FASTEST_PIPELINE_US = 73


def machine_speed() -> float:
    """`bench.pipeline`'s CPU µs an event, both stages, over 20,000 events in envelopes (a few seconds)."""
    from bench import pipeline  # here: it reads this module's events, so importing it above would be circular

    run = argparse.Namespace(events=20_000, envelope=ENVELOPE, batch=2000, default_gc=False, reads=0.0)
    return pipeline.measure(run, None).both_us


def print_machine_speed(when: str) -> None:
    print(
        f"machine speed {when}: bench.pipeline {machine_speed():.0f} µs an event "
        f"({FASTEST_PIPELINE_US} at the fastest hour seen)",
        flush=True,
    )


def print_throughput(label: str, result: Throughput, target: int) -> None:
    cpu = ", ".join(f"{name} {us:.0f}" for name, us in result.cpu_us_per_event.items())
    print(f"end to end, {label} {result.events_per_s:10,.0f} events/s (target {target:,})", flush=True)
    print(f"  CPU µs an event while it ran: {cpu}", flush=True)


def gc_reading(metrics_port: int) -> dict[str, float]:
    """The worker's garbage collections so far (`opswarden_gc_pause_seconds`, its own process): `count` and
    `seconds` in all, and the collections at or under each bucket bound (`le <bound>`)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "opswarden_gc_pause_seconds":
            continue
        for sample in family.samples:
            if sample.labels["process"] != "worker":
                continue
            suffix = sample.name.removeprefix(family.name)
            name = {"_count": "count", "_sum": "seconds", "_bucket": f"le {sample.labels.get('le')}"}.get(suffix)
            if name is not None:
                totals[name] = totals.get(name, 0.0) + sample.value
    return totals


def describe_collections(before: dict[str, float], after: dict[str, float]) -> str:
    """What the worker's collector did between two readings: how often, how long in all, and the longest."""
    count = after["count"] - before["count"]
    if not count:
        return "no garbage collections"
    bounds = sorted((float(key.removeprefix("le ")), key) for key in after if key.startswith("le "))
    longest = next(bound for bound, key in bounds if after[key] - before.get(key, 0.0) == count)
    seconds = after["seconds"] - before["seconds"]
    most = f"at most {longest * 1e3:g} ms" if longest != math.inf else f"over {bounds[-2][0] * 1e3:g} ms"
    noun = "garbage collection" if count == 1 else "garbage collections"
    return f"{count:.0f} {noun}, {seconds * 1e3:.0f} ms in all, the longest {most}"


def latency(
    bootstrap: str, workdir: Path, rate: float, seconds: float, reads: float = 0.0
) -> tuple[float, float, int, str]:
    """p50 and p99 seconds from produce of the releasing event to publish of the finding, at `rate` events/s, and
    what the worker's garbage collector did meanwhile (its pauses are the tail)."""
    run = Run(bootstrap, workdir, "lat", reads)
    metrics_port = free_port()
    run.env["OPSWARDEN_METRICS_PORT"] = str(metrics_port)
    config = OpswardenConfig()
    warm = releasing_index(0, config) + 1  # up to the event that releases the first verdict
    run.produce(warm, 1)
    run.start_workers()
    run.outputs("ledger", 1, timeout_s=120)  # the worker is up, its group joined, first verdict out
    time.sleep(SETTLE_S)
    before = gc_reading(metrics_port)
    producer = OutputProducer(run.settings)
    produced_at: dict[int, float] = {}
    total = int(rate * seconds)
    started = time.time()
    for offset in range(total):
        index = warm + offset
        due = started + offset / rate
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        produced_at[index] = time.time()
        producer.produce(run.source, next(messages(index, 1, 1, reads)))
    producer.close()
    expected = (total - warm) // ROGUE_EVERY
    try:
        found = run.outputs("findings", expected, timeout_s=120)
        collected = describe_collections(before, gc_reading(metrics_port))
    finally:
        run.stop()
    delays = [
        moment - produced_at[releasing_index(event_index(finding), config)]
        for moment, finding in found
        if releasing_index(event_index(finding), config) in produced_at
    ]
    p50, p99 = np.percentile(np.array(delays), [50, 99])
    return float(p50), float(p99), len(delays), collected


async def bare_consumer_rate(bootstrap: str, topic: str, records: int) -> float:
    """Records/s a bare aiokafka consumer reads and orjson-parses from `topic`: the ceiling."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < records:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                for message in batch:
                    document = orjson.loads(message.value or b"{}")
                    seen += len(document["Records"]) if "Records" in document else 1
    finally:
        await consumer.stop()
    return seen / (time.perf_counter() - started)


def ceiling(bootstrap: str, workdir: Path, events: int, envelope: int, reads: float = 0.0) -> float:
    run = Run(bootstrap, workdir, f"ceil{envelope}", reads)
    run.produce(events, envelope)
    return asyncio.run(bare_consumer_rate(bootstrap, run.source, events))


def print_latency(bootstrap: str, workdir: Path, rate: float, seconds: float, reads: float) -> None:
    p50, p99, count, collected = latency(bootstrap, workdir, rate, seconds, reads)
    print(
        f"latency at {rate:,.0f} events/s: p50 {p50 * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms ({count} findings)",
        flush=True,
    )
    print(f"  the worker meanwhile: {collected}", flush=True)


def broker_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kafka_broker_script", ROOT / "scripts" / "kafka_broker.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def read_share(text: str) -> float:
    """`--reads`: below 1, so that every hundred events keeps its rogue change (the findings)."""
    share = float(text)
    if not 0 <= share <= 0.99:
        raise argparse.ArgumentTypeError(f"{share} is not between 0 and 0.99")
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP"))
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--latency-only", action="store_true", help="Only the latency run, at --rate.")
    parser.add_argument("--workers", type=int, default=1, help="Workers in one group for the throughput runs.")
    parser.add_argument("--broker-pid", type=int, help="With --bootstrap: a broker on this machine, to count its CPU.")
    parser.add_argument(
        "--reads", type=read_share, default=0.0, help="The share of events that are reads, not judged (0 to 0.99)."
    )
    args = parser.parse_args()
    broker = None
    if args.bootstrap is None:
        script = broker_script()
        broker = script.start(die_with_parent=True, jvm_opts=script.SHIPPED_JVM_OPTS)
        args.bootstrap = broker.bootstrap
    workdir = Path(tempfile.mkdtemp(prefix="opswarden-bench-"))
    try:
        if args.latency_only:
            print_latency(args.bootstrap, workdir, args.rate, args.seconds, args.reads)
            return
        broker_pid = broker.pid if broker is not None else args.broker_pid
        print_machine_speed("at the start")
        if args.workers != 1:
            print(f"{args.workers} workers in one group (the targets are for one)", flush=True)
        if args.reads:
            print(f"{args.reads:.0%} of the events are reads (the targets are for every event a change)", flush=True)
        single = throughput(args.bootstrap, workdir, args.events, 1, broker_pid, args.workers, args.reads)
        print_throughput("1 record/message:    ", single, 15_000)
        enveloped = throughput(args.bootstrap, workdir, args.events, ENVELOPE, broker_pid, args.workers, args.reads)
        print_throughput(f"{ENVELOPE}-record envelopes:", enveloped, 50_000)
        print_latency(args.bootstrap, workdir, args.rate, args.seconds, args.reads)
        for envelope in (1, ENVELOPE):
            rate = ceiling(args.bootstrap, workdir, args.events, envelope, args.reads)
            print(f"ceiling, bare aiokafka + orjson, {envelope} record(s)/message: {rate:10,.0f} events/s", flush=True)
        print_machine_speed("at the end")
    finally:
        if broker is not None:
            broker_script().stop(broker)


if __name__ == "__main__":
    main()

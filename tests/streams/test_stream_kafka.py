"""The streaming runtime against a real Apache Kafka broker, workers running as `opswarden worker` subprocesses.

Every test gets its own topic prefix and consumer group, so tests cannot see each other's messages. The
findings a worker publishes are compared with what `replay` computes from the same bytes: the same
detectors in event-time order, flushed at the end.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_INVALID,
    Consumer,
    ConsumerGroupState,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from bench.procfs import child_pids
from detectors.catalog import build_detectors
from detectors.engine import Engine, run
from detectors.scenario import demo_scenario, evaluation_scenario
from models.parsers import parse_document
from models.parsers.base import ParseContext
from streams.embedded_broker import free_port
from streams.native_records import key_for, native_record, scenario_messages, topic_for
from streams.outputs import OutputProducer
from streams.processing import AUTHORIZATION_SOURCES
from streams.replay import in_replay_order
from streams.settings import Settings, TopicNames
from streams.topics import anchor_engine_offsets, create_topics, topic_specs
from streams.worker_command import EXIT_FAILED
from tests.samples import panther_cases
from tests.streams.records import cloudtrail_change
from tests.streams.worker_process import WHOLE_INPUT, Produced, WorkerCluster, running

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

#: Flowing input from one topic partition, so in order: an hour of reorder window, findings while it flows.
FLOWING_INPUT = {"OPSWARDEN_REORDER_WINDOW_S": "3600", "OPSWARDEN_IDLE_CLOCK_RATE": "1e9"}
SMALL_LIMITS = {"limits": {"max_document_bytes": 65536}}


class StreamUnderTest(WorkerCluster):
    """One test's topics, worker settings and worker processes, and what the tests read back."""

    def wait_for_group(self, members: int, timeout_s: float = 60) -> None:
        """Until the workers' consumer group is stable with `members` members (all joined, partitions assigned)."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        group = self.env["OPSWARDEN_APP_ID"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                description = admin.describe_consumer_groups([group])[group].result(10)
            except KafkaException:  # the coordinator moves while the group forms: ask again
                time.sleep(0.5)
                continue
            if description.state == ConsumerGroupState.STABLE and len(description.members) == members:
                return
            time.sleep(0.5)
        raise AssertionError(f"group {group} not stable with {members} members after {timeout_s}s")

    def read(
        self, topic: str, done: Callable[[list[Message]], bool], timeout_s: float, settle_s: float = 0.0
    ) -> list[Message]:
        """Every message in `topic` from the beginning, until `done(messages)` (then `settle_s` more) or the timeout."""
        consumer = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": f"reader-{uuid.uuid4().hex}", "enable.auto.commit": False}
        )
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        found: list[Message] = []
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                message = consumer.poll(0.2)
                if message is not None and message.error() is None:
                    found.append(message)
                if done(found):
                    deadline = min(deadline, time.monotonic() + settle_s)
                    done = _always
        finally:
            consumer.close()
        return found

    def findings(self, expected: set[tuple[str, int]], timeout_s: float) -> list[Any]:
        """Findings until every expected (uid, activity) is there, then a few seconds more for any extras."""

        seen: set[tuple[str, int]] = set()
        counted = 0

        def complete(got: list[Message]) -> bool:
            nonlocal counted
            seen.update(finding_id(orjson.loads(m.value())) for m in got[counted:])
            counted = len(got)
            return expected <= seen

        found = self.read(self.settings.topics.name("findings"), complete, timeout_s, settle_s=3.0)
        return [orjson.loads(m.value()) for m in found]


@pytest.fixture
def stream(kafka_bootstrap: str, tmp_path: Path) -> Iterator[StreamUnderTest]:
    under_test = StreamUnderTest.create(kafka_bootstrap, tmp_path, SMALL_LIMITS)
    try:
        yield under_test
    finally:
        under_test.stop()


def _always(_messages: list[Message]) -> bool:
    return False


def finding_id(finding: dict[str, Any]) -> tuple[str, int]:
    return finding["finding_info"]["uid"], finding["activity_id"]


def canonical(finding: dict[str, Any]) -> bytes:
    return orjson.dumps(finding, option=orjson.OPT_SORT_KEYS)


def replayed(stream: StreamUnderTest, messages: list[Produced]) -> list[dict[str, Any]]:
    """What `replay` finds in the same bytes: same parsers per topic, event-time order, flushed at the end."""
    topics = stream.settings.topics
    sources = topics.sources() | {topics.name("authorizations"): AUTHORIZATION_SOURCES}
    ctx = ParseContext(environments=stream.config.environments)
    items = [
        item
        for topic, _key, value in messages
        for item in parse_document(value, ctx, limits=stream.config.limits, sources=sources[topic]).items
    ]
    outputs = run(Engine(stream.config, build_detectors(stream.config)), in_replay_order(items))
    return [orjson.loads(orjson.dumps(finding.model_dump_ocsf())) for finding in outputs.findings]


def sample_messages(stream: StreamUnderTest) -> list[Produced]:
    """The CloudTrail and Kubernetes samples, first record per id only: Panther's test cases reuse event ids
    for different events (300 of 738), which no real source does, and which the detectors' dedupe by id
    resolves differently when the partitions' watermarks run apart."""
    topics = stream.settings.topics
    messages: list[Produced] = []
    seen: set[str] = set()
    for folder, topic in (
        ("aws_cloudtrail_rules", topics.name("cloudtrail")),
        ("kubernetes_rules", topics.name("k8s")),
        ("aws_eks_rules", topics.name("k8s")),
    ):
        for case in panther_cases(folder):
            record_id = case.log.get("eventID") or case.log.get("auditID") if isinstance(case.log, dict) else None
            if record_id not in seen:
                seen.add(record_id)
                messages.append((topic, None, orjson.dumps(case.log)))
    return messages


def flowing_scenario(stream: StreamUnderTest, limit: int = 8000) -> list[Produced]:
    """The evaluation scenario's authorizations and first CloudTrail changes (a day of event time, fed in seconds).

    One input topic, so arrival order is event-time order: fed this fast, the interleaving of two topics
    would be days of event time apart, far beyond any realistic reorder window.
    """
    items, _labels = evaluation_scenario(seed=3, size=1)
    topics = stream.settings.topics
    wanted = {topics.name("authorizations"), topics.name("cloudtrail")}
    messages: list[Produced] = []
    for item in items:
        topic = topic_for(item, topics)
        if (
            topic in wanted
            and item.kind in ("authorization", "change")
            and getattr(item, "source", "cloudtrail") == "cloudtrail"
        ):
            messages.append((topic, key_for(item), orjson.dumps(native_record(item))))
    return messages[:limit]


def assert_same_findings(observed: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Exactly replay's findings: same uids and activities, same contents, same multiplicity."""
    assert sorted(map(canonical, observed)) == sorted(map(canonical, expected))


def assert_none_missing(observed: list[dict[str, Any]], expected: list[dict[str, Any]], logs: str = "") -> None:
    """After a crash or a rebalance: every replay finding (uid and activity) is there, and whatever was issued
    twice carries a uid replay knows. Contents may differ: input read again after a crash counts twice. `logs`
    (the workers' output) goes into the message of a failure."""
    observed_ids = {finding_id(f) for f in observed}
    wanted = {finding_id(f) for f in expected}
    missing = sorted(wanted - observed_ids)
    assert not missing, f"{len(missing)} of {len(wanted)} findings missing, e.g. {missing[:5]}\n{logs}"
    known = {uid for uid, _ in map(finding_id, expected)}
    unknown = [
        (f["finding_info"]["types"], f["finding_info"]["title"]) for f in observed if finding_id(f)[0] not in known
    ]
    assert not unknown, f"{len(unknown)} findings replay does not give, e.g. {unknown[:3]}"


def test_findings_equal_replay_for_samples_and_scenario(stream: StreamUnderTest) -> None:
    messages = sample_messages(stream) + scenario_messages(demo_scenario(7), stream.settings.topics)
    expected = replayed(stream, messages)
    assert {f["finding_info"]["types"][0] for f in expected} >= {"unauthorized_change", "remediation_loop"}
    stream.produce(messages)
    stream.start_worker(**WHOLE_INPUT)
    observed = stream.findings({finding_id(f) for f in expected}, timeout_s=90)
    assert_same_findings(observed, expected)
    for message in stream.read(stream.settings.topics.name("findings"), lambda got: False, 1):
        finding = orjson.loads(message.value())
        assert message.key().decode() == finding["finding_info"]["uid"]
        assert dict(message.headers() or []) == {
            "content-type": b"application/json",
            "ocsf.class_uid": b"2004",
            "ocsf.version": finding["metadata"]["version"].encode(),
            "opswarden.finding_type": finding["finding_info"]["types"][0].encode(),
            "opswarden.severity": finding["severity"].encode(),
            "opswarden.activity": finding["activity_name"].encode(),
        }


def test_worker_killed_mid_stream_is_replaced_without_losing_findings(stream: StreamUnderTest) -> None:
    messages = flowing_scenario(stream)
    expected = replayed(stream, messages)
    first = stream.start_worker(**FLOWING_INPUT)
    stream.wait_for_group(1)
    feeder = threading.Thread(target=stream.produce, args=(messages,), kwargs={"per_second": 800})
    feeder.start()
    stream.read(stream.settings.topics.name("findings"), lambda got: len(got) >= 20, timeout_s=60)
    children = child_pids(first.pid)
    assert children, "the worker started no ingest process"
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert feeder.is_alive(), "input finished before the kill: the test did not kill mid-stream"
    stream.start_worker(**FLOWING_INPUT)
    feeder.join()
    observed = stream.findings({finding_id(f) for f in expected}, timeout_s=120)
    assert_none_missing(observed, expected, stream.worker_logs())
    assert not [pid for pid in children if running(pid)], "the killed worker's processes outlived it"


def test_refused_outputs_stop_the_worker_and_its_replacement_loses_no_finding(stream: StreamUnderTest) -> None:
    """The engines' state moves on as they publish; if the broker then refuses what they published, going on
    would acknowledge input whose findings are lost. The worker stops instead, and its replacement reads the
    input again from the last state written."""
    messages = flowing_scenario(stream)
    expected = replayed(stream, messages)
    refusing = Path(__file__).parent / "refusing_producer"  # a sitecustomize that refuses one delivery
    first = stream.start_worker(**FLOWING_INPUT, PYTHONPATH=str(refusing))
    stream.wait_for_group(1)
    feeder = threading.Thread(target=stream.produce, args=(messages,), kwargs={"per_second": 800})
    feeder.start()
    try:
        status = first.wait(90)
    except subprocess.TimeoutExpired:
        status = None
    assert status == EXIT_FAILED, f"status {status} after the outputs were refused:\n{stream.worker_log()}"
    assert "stopping the worker: DeliveryFailed" in stream.worker_log()
    assert feeder.is_alive(), "input finished before the refusal: the test did not refuse mid-stream"
    stream.start_worker(**FLOWING_INPUT)
    feeder.join()
    observed = stream.findings({finding_id(f) for f in expected}, timeout_s=120)
    assert_none_missing(observed, expected, stream.worker_logs())


def latest_snapshots(
    stream: StreamUnderTest, wanted: Callable[[dict[str, bytes]], bool], quiet_s: float = 4, timeout_s: float = 120
) -> dict[str, bytes]:
    """The models topic's latest snapshot per key, once every model has one, they are `wanted`, and none came for
    `quiet_s` (the worker has learned all it was given)."""
    topic = stream.settings.topics.name("models")
    deadline = time.monotonic() + timeout_s
    seen = -1
    while time.monotonic() < deadline:
        messages = stream.read(topic, lambda got: False, timeout_s=quiet_s)
        latest = {m.key().decode(): m.value() for m in messages}
        if len(messages) == seen and set(latest) == MODEL_KEYS and wanted(latest):
            return latest
        seen = len(messages)
    raise AssertionError(f"model snapshots still changing or missing after {timeout_s}s\n{stream.worker_logs()}")


MODEL_KEYS = {"remediation_loop/fanout", "permission_creep/peers", "permission_creep/scorer"}


def metric_values(url: str, name: str) -> dict[str, float]:
    """A counter's samples by their label text, from a worker's /metrics."""
    with urllib.request.urlopen(url, timeout=5) as response:
        lines = response.read().decode().splitlines()
    samples = [line.rsplit(" ", 1) for line in lines if line.startswith(name)]
    return {labels[len(name) :]: float(value) for labels, value in samples}


def peer_samples(snapshot: bytes) -> dict[str, int]:
    return {group: value[0] for group, value in orjson.loads(snapshot)["groups"].items()}


def test_a_replacement_worker_starts_from_the_models_its_predecessor_wrote(stream: StreamUnderTest) -> None:
    """A worker killed after learning; its replacement restores the global models before judging the rest, so
    what it writes next carries every sample its predecessor had, not only those of the input it read itself
    (two days of changes teach the peer baselines; the next day adds fewer samples than they hold)."""
    messages = flowing_scenario(stream, limit=25_000)
    cut = 20_000
    snapshots_often = {**FLOWING_INPUT, "OPSWARDEN_MODEL_SNAPSHOT_EVERY_S": "1"}
    first = stream.start_worker(**snapshots_often)
    stream.produce(messages[:cut])
    before = latest_snapshots(stream, lambda latest: bool(peer_samples(latest["permission_creep/peers"])))
    learned_peers = before["permission_creep/peers"]
    learned = peer_samples(learned_peers)
    for detector in build_detectors(stream.config):  # what the topic holds restores in this version
        for name in detector.snapshot_models():
            detector.restore_model(name, before[f"{detector.name}/{name}"])
    first.send_signal(signal.SIGKILL)
    first.wait()
    metrics_url = f"http://127.0.0.1:{free_port()}"
    stream.start_worker(**snapshots_often, OPSWARDEN_METRICS_PORT=metrics_url.rsplit(":", 1)[1])
    assert wait_for_probe(f"{metrics_url}/readyz", timeout_s=60) == 200, stream.worker_logs()
    stream.produce(messages[cut:])
    after = latest_snapshots(stream, lambda latest: latest["permission_creep/peers"] != learned_peers)
    restored = metric_values(f"{metrics_url}/metrics", "opswarden_model_snapshots_total")
    for key in MODEL_KEYS:
        assert restored.get(f'{{model="{key}",outcome="restored"}}') == 1.0, restored
    carried = peer_samples(after["permission_creep/peers"])
    assert all(carried.get(group, 0) >= count for group, count in learned.items()), (learned, carried)
    assert sum(carried.values()) > sum(learned.values()), "the replacement learned nothing from the rest"


def test_a_worker_stopped_for_a_deploy_writes_its_models_on_the_way_out(stream: StreamUnderTest) -> None:
    """No periodic snapshots here: what is on the models topic after a SIGTERM was written by the stop itself."""
    messages = scenario_messages(demo_scenario(7), stream.settings.topics)
    expected = replayed(stream, messages)
    stream.produce(messages)
    worker = stream.start_worker(**WHOLE_INPUT, OPSWARDEN_MODEL_SNAPSHOT_EVERY_S="0")
    stream.findings({finding_id(f) for f in expected}, timeout_s=90)
    worker.send_signal(signal.SIGTERM)
    worker.wait(60)
    topic = stream.settings.topics.name("models")
    latest = {m.key().decode(): m.value() for m in stream.read(topic, lambda got: len(got) >= 3, timeout_s=10)}
    assert set(latest) == MODEL_KEYS, stream.worker_logs()
    assert orjson.loads(latest["remediation_loop/fanout"])["series"], "the demo's loop reached the fan-out"


def ingest_processes(worker: int) -> list[int]:
    return [pid for pid in child_pids(worker) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]


def test_an_ingest_process_that_dies_is_started_again_without_losing_findings(stream: StreamUnderTest) -> None:
    messages = flowing_scenario(stream)
    expected = replayed(stream, messages)
    worker = stream.start_worker(**FLOWING_INPUT, OPSWARDEN_INGEST_PROCESSES="2")
    stream.wait_for_group(1)
    feeder = threading.Thread(target=stream.produce, args=(messages,), kwargs={"per_second": 800})
    feeder.start()
    stream.read(stream.settings.topics.name("findings"), lambda got: len(got) >= 20, timeout_s=60)
    ingest = ingest_processes(worker.pid)
    assert len(ingest) == 2, ingest
    os.kill(ingest[0], signal.SIGKILL)
    assert feeder.is_alive(), "input finished before the kill: the test did not kill mid-stream"
    feeder.join()
    observed = stream.findings({finding_id(f) for f in expected}, timeout_s=120)
    assert_none_missing(observed, expected, stream.worker_logs())
    assert "starting it again" in stream.worker_log(), stream.worker_log()
    assert len([pid for pid in child_pids(worker.pid) if running(pid)]) >= 2
    assert worker.poll() is None


def test_two_workers_rebalance_while_events_flow(stream: StreamUnderTest) -> None:
    messages = flowing_scenario(stream)
    expected = replayed(stream, messages)
    first = stream.start_worker(**FLOWING_INPUT)
    stream.wait_for_group(1)
    feeder = threading.Thread(target=stream.produce, args=(messages,), kwargs={"per_second": 800})
    feeder.start()
    stream.read(stream.settings.topics.name("findings"), lambda got: len(got) >= 20, timeout_s=60)
    second = stream.start_worker(**FLOWING_INPUT)
    assert feeder.is_alive(), "input finished before the second worker joined"
    feeder.join()
    observed = stream.findings({finding_id(f) for f in expected}, timeout_s=120)
    assert_none_missing(observed, expected, stream.worker_logs())
    assert first.poll() is None
    assert second.poll() is None


def test_two_workers_merge_each_others_fan_outs_through_the_models_topic(stream: StreamUnderTest) -> None:
    """Each worker holds half the target partitions; each folds the other's fan-out snapshots into its own."""
    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    for url in urls:
        stream.start_worker(
            **FLOWING_INPUT, OPSWARDEN_MODEL_SNAPSHOT_EVERY_S="1", OPSWARDEN_METRICS_PORT=url.rsplit(":", 1)[1]
        )
    stream.wait_for_group(2)
    stream.produce(flowing_scenario(stream))
    merged_label = '{model="remediation_loop/fanout",outcome="merged"}'
    deadline = time.monotonic() + 90
    merged = [0.0, 0.0]
    while time.monotonic() < deadline and not all(merged):
        time.sleep(1)
        merged = [metric_values(f"{url}/metrics", "opswarden_model_snapshots_total")[merged_label] for url in urls]
    assert all(merged), f"fan-out snapshots merged by each worker: {merged}\n{stream.worker_logs()}"


SESSION_TOKEN = "IQoJb3JpZ2luX2VjEHYaCXVzLWVhc3QtMSJHMEUCIQD6example"
BAD_INPUTS: dict[str, bytes] = {
    "malformed": b'{"eventName": "RunInstances", "eventTime": ',
    "array": b"[1, 2, 3]",
    "wrong_object": b'{"hello": "world"}',
    "oversize": b'{"pad": "' + b"x" * 100_000 + b'"}',
    "binary": random.Random(5).randbytes(700),
    "empty": b"",
    "secret": b'{"eventName": "AssumeRole", "credentials": {"sessionToken": "' + SESSION_TOKEN.encode() + b'"}',
}
#: The reasons each kind of bad input may be given (the registry validates with its own schema).
ALLOWED_REASONS: dict[str, set[str]] = {
    "malformed": {"not_json"},
    "array": {"wrong_shape", "unknown_source"},
    "wrong_object": {"wrong_shape", "unknown_source", "invalid_value", "missing_field"},
    "oversize": {"too_large"},
    "binary": {"not_json"},
    "empty": {"not_json"},
    "future": {"future_time"},
    "secret": {"not_json"},
}


def dated_next_year(topics: TopicNames) -> list[tuple[str, str, bytes]]:
    """A CloudTrail record and an AIOps action dated a year from now: past `limits.max_time_ahead`, they would
    carry their partitions' watermarks a year ahead (every held change judged at once, every later event late)."""
    moment = datetime.now(UTC) + timedelta(days=365)
    change = cloudtrail_change("from-the-future", moment)
    action = {
        "kind": "aiops.action", "id": "from-the-future", "time": moment.isoformat(), "workflow": "w", "run_id": "r",
        "phase": "started", "action": "restart", "target": "svc",
    }  # fmt: skip
    return [
        (topics.name("cloudtrail"), "future", orjson.dumps(change)),
        (topics.name("actions"), "future", orjson.dumps(action)),
    ]


def test_bad_input_in_every_topic_goes_to_dead_letters_and_the_worker_goes_on(stream: StreamUnderTest) -> None:
    topics = stream.settings.topics
    inputs = [*topics.sources(), topics.name("authorizations"), topics.name("registry")]
    bad = [(topic, kind, value) for topic in inputs for kind, value in BAD_INPUTS.items()] + dated_next_year(topics)
    good = scenario_messages(demo_scenario(7), topics)
    expected = replayed(stream, good)
    in_worker = {"OPSWARDEN_INGEST_PROCESSES": "0"}  # input parsed in the worker's own loop; the others use a child
    probes = f"http://127.0.0.1:{free_port()}"
    worker = stream.start_worker(**WHOLE_INPUT, **in_worker, OPSWARDEN_METRICS_PORT=probes.rsplit(":", 1)[1])
    assert wait_for_probe(f"{probes}/readyz", timeout_s=60) == 200, stream.worker_log()
    stream.produce([(topic, kind, value) for topic, kind, value in bad])
    stream.produce(good)
    dead = stream.read(topics.name("deadletter"), lambda got: len(got) >= len(bad), timeout_s=90)
    letters = {}
    for message in dead:
        headers = {name: value.decode() for name, value in message.headers() or []}
        letters[(headers["source-topic"], message.key().decode())] = (headers, message.value() or b"")
    assert len(dead) == len(bad)
    for topic, kind, value in bad:
        headers, published = letters[(topic, kind)]
        if kind == "secret":  # the token is replaced, the rest kept
            assert SESSION_TOKEN.encode() not in published
            assert published == value.replace(SESSION_TOKEN.encode(), b"[REDACTED]")
            assert headers["redacted"] == "true"
        else:
            assert published == value
            assert headers["redacted"] == "false"
        assert headers["reason"] in ALLOWED_REASONS[kind], (topic, kind, headers)
        assert headers["detail"]
        assert int(headers["source-partition"]) >= 0
        assert int(headers["source-offset"]) >= 0
    observed = stream.findings({finding_id(f) for f in expected}, timeout_s=60)
    assert_same_findings(observed, expected)
    assert worker.poll() is None, "the worker died"
    assert not ingest_processes(worker.pid)
    assert probe(f"{probes}/healthz") == 200
    assert probe(f"{probes}/readyz") == 200


def probe(url: str) -> int | None:
    """The HTTP status of a health probe; None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_for_probe(url: str, timeout_s: float) -> int | None:
    """Until the probe answers 200, or the timeout: its last status."""
    deadline = time.monotonic() + timeout_s
    status = probe(url)
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        status = probe(url)
    return status


def created_elsewhere(settings: Settings) -> None:
    """The topics as Terraform or an operator would make them: the same specs, no anchoring."""
    admin = AdminClient(settings.confluent_config())
    new = [NewTopic(spec.name, spec.partitions, 1, config=spec.config) for spec in topic_specs(settings)]
    for future in admin.create_topics(new).values():
        future.result(timeout=30)


def engine_partitions(settings: Settings) -> list[TopicPartition]:
    engine_topics = [settings.topics.name(name) for name in ("by_principal", "by_target")]
    return [TopicPartition(t, p) for t in engine_topics for p in range(settings.partitions)]


def committed_offsets(bootstrap: str, settings: Settings) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": settings.app_id})
    try:
        return [tp.offset for tp in consumer.committed(engine_partitions(settings), timeout=30)]
    finally:
        consumer.close()


def test_anchoring_skips_partitions_that_hold_data_or_are_committed(kafka_bootstrap: str) -> None:
    """Nothing is ever committed past data: a partition that holds some, or one the group has an offset
    for, is left as it is, and anchoring twice writes no second marker."""
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    settings = Settings(bootstrap_servers=kafka_bootstrap, app_id=f"{prefix}opswarden", topics={"prefix": prefix})  # type: ignore[arg-type]
    created_elsewhere(settings)
    with_data = TopicPartition(settings.topics.name("by_principal"), 1)
    producer = OutputProducer(settings)
    producer.produce(with_data.topic, b"I\n", partition=with_data.partition)
    producer.close()
    anchored = anchor_engine_offsets(settings)
    partitions = engine_partitions(settings)
    assert {(tp.topic, tp.partition) for tp in anchored} == {
        (tp.topic, tp.partition) for tp in partitions if (tp.topic, tp.partition) != (with_data.topic, 1)
    }
    names = [(tp.topic, tp.partition) for tp in partitions]
    offsets = dict(zip(names, committed_offsets(kafka_bootstrap, settings), strict=True))
    assert offsets.pop((with_data.topic, 1)) < 0  # still uncommitted: its data is read from the start
    assert set(offsets.values()) == {1}
    assert anchor_engine_offsets(settings) == []


def test_a_worker_anchors_repartition_topics_created_by_other_means(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Topics made without `opswarden topics create` get their markers and offsets from the first worker, before
    it reads or writes anything: every engine partition starts with a stale tick, and the group has offsets
    (its own commits can only move them on)."""
    cluster = StreamUnderTest.create(kafka_bootstrap, tmp_path, SMALL_LIMITS, topics=created_elsewhere)
    try:
        assert set(committed_offsets(kafka_bootstrap, cluster.settings)) == {OFFSET_INVALID}
        port = free_port()
        cluster.start_worker(OPSWARDEN_METRICS_PORT=str(port))
        assert wait_for_probe(f"http://127.0.0.1:{port}/readyz", timeout_s=60) == 200, cluster.worker_log()
        assert min(committed_offsets(kafka_bootstrap, cluster.settings)) >= 1
        partitions = engine_partitions(cluster.settings)
        consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"check-{uuid.uuid4().hex}"})
        try:
            consumer.assign([TopicPartition(tp.topic, tp.partition, 0) for tp in partitions])
            first = {}
            deadline = time.monotonic() + 30
            while len(first) < len(partitions) and time.monotonic() < deadline:
                for message in consumer.consume(100, timeout=1):
                    if message.error() is None and message.offset() == 0:
                        first[(message.topic(), message.partition())] = orjson.loads(message.value() or b"{}")
        finally:
            consumer.close()
        assert len(first) == len(partitions)
        assert all(value == {"tick": 0.0} for value in first.values()), first
    finally:
        cluster.stop()


def test_new_repartition_partitions_start_committed_past_a_marker(kafka_bootstrap: str) -> None:
    """aiokafka seeks back after Faust's table recovery only to committed offsets above 0, so a partition no
    worker has committed yet would skip what was fetched during recovery: `create_topics` commits past a marker."""
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    settings = Settings(bootstrap_servers=kafka_bootstrap, app_id=f"{prefix}opswarden", topics={"prefix": prefix})  # type: ignore[arg-type]
    create_topics(settings)
    partitions = engine_partitions(settings)
    engine_topics = [settings.topics.name(name) for name in ("by_principal", "by_target")]
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": settings.app_id})
    try:
        assert [tp.offset for tp in consumer.committed(partitions, timeout=30)] == [1] * len(partitions)
        consumer.assign([TopicPartition(tp.topic, tp.partition, 0) for tp in partitions])
        markers = [m for m in consumer.consume(len(partitions), timeout=30) if m.error() is None]
        assert len(markers) == len(partitions)
        assert all(m.offset() == 0 and "tick" in orjson.loads(m.value()) for m in markers)
    finally:
        consumer.close()
    assert create_topics(settings)[engine_topics[0]] == "exists"  # run again: no second marker, no new commit

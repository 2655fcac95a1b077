"""The streaming runtime's logic without a broker: routing, reorder buffer, state write-back, dead letters, files."""

from __future__ import annotations

import asyncio
import gc
import gzip
import random
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from detectors.base import KeyKind, Outputs
from detectors.catalog import build_detectors
from detectors.engine import Engine, run
from detectors.scenario import demo_scenario
from models.config import OpswardenConfig
from models.events import ChangeEvent
from models.parsers import parse_document
from models.parsers.base import ParseContext, Parsed, item_time
from models.rejection import Rejection, RejectReason
from streams import metrics, processing
from streams.app import Runtime
from streams.deadletter import from_exception, from_rejections
from streams.engines import IdleClock, PartitionedEngines
from streams.health import Health
from streams.model_snapshots import ModelSnapshots
from streams.native_records import scenario_messages
from streams.outputs import DeliveryFailed
from streams.processing import (
    AUTHORIZATION_SOURCES,
    Ingestor,
    Publisher,
    SharedState,
    WorkflowRejected,
    apply_workflows,
    parse_workflows,
)
from streams.replay import in_replay_order
from streams.routing import (
    UNTIMED_ITEMS,
    RoutedMessage,
    decode,
    decode_item,
    decode_message,
    encode_item,
    epoch_us,
    from_epoch_us,
    items_message,
    partition_for,
    routed_item,
    tick_message,
)
from streams.send_command import file_messages
from streams.settings import Settings, TopicNames

PARTITIONS = 4


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None, bytes | None, Any]] = []

    def produce(
        self, topic: str, value: bytes | None, key: Any = None, *, partition: int | None = None, **_: Any
    ) -> None:
        self.sent.append((topic, partition, value, key))


@dataclass
class Message:
    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


def findings_of(outputs: Any) -> list[bytes]:
    return [orjson.dumps(f.model_dump_ocsf()) for f in outputs.findings]


def demo_items(config: OpswardenConfig) -> tuple[list[Any], list[tuple[str, str | None, bytes]]]:
    topics = TopicNames()
    messages = scenario_messages(demo_scenario(7), topics)
    sources = topics.sources() | {topics.name("authorizations"): AUTHORIZATION_SOURCES}
    items = [
        item
        for topic, _, value in messages
        for item in parse_document(value, ParseContext(), sources=sources[topic]).items
    ]
    return items, messages


def test_native_records_parse_back_to_the_scenario() -> None:
    config = OpswardenConfig()
    items, _ = demo_items(config)
    original = demo_scenario(7)
    assert [getattr(i, "event_id", getattr(i, "id", None)) for i in items] == [
        getattr(i, "event_id", getattr(i, "id", None)) for i in original
    ]
    replayed = run(Engine(config, build_detectors(config)), items).findings
    assert sorted(f.uid for f in replayed) == sorted(
        f.uid for f in run(Engine(config, build_detectors(config)), original).findings
    )


def test_every_kind_of_item_crosses_the_repartition_topics_unchanged() -> None:
    """Items are encoded and decoded by the models' pydantic serializer and validator, one line each."""
    items, _ = demo_items(OpswardenConfig())
    assert {item.kind for item in items} >= {"change", "aiops.action", "authorization"}
    lines = [encode_item(item) for item in items]
    assert not any(b"\n" in line for line in lines)
    routed = decode_message(items_message(lines)).items
    assert [decode(tag, body) for _, tag, body in routed] == items
    assert [from_epoch_us(micros) if micros is not None else None for micros, _, _ in routed] == [
        item_time(item) for item in items
    ]
    assert [body for _, _, body in routed] == [item.model_dump_json(exclude_none=True).encode() for item in items]
    assert [decode_item(line) for line in lines] == items


@given(st.datetimes(timezones=st.just(UTC)))
def test_an_item_time_crosses_the_repartition_topics_to_the_microsecond(moment: datetime) -> None:
    """Items' times are in UTC (their models' validators see to it)."""
    assert from_epoch_us(epoch_us(moment)) == moment


def test_a_batch_written_before_item_times_were_in_its_lines_is_still_read() -> None:
    """A rolling upgrade can leave such batches on the repartition topics for the new engines."""
    items, _ = demo_items(OpswardenConfig())
    lines = [encode_item(item) for item in items]
    untimed = UNTIMED_ITEMS + b"\n".join(tag + body for _, tag, body in map(routed_item, lines))
    assert decode_message(untimed).items == decode_message(items_message(lines)).items


def test_partition_of_a_key_is_stable_and_spread() -> None:
    keys = [f"arn:aws:iam::1:role/r{i}" for i in range(400)]
    assert [partition_for(k, PARTITIONS) for k in keys] == [partition_for(k, PARTITIONS) for k in keys]
    assert set(partition_for(k, PARTITIONS) for k in keys) == set(range(PARTITIONS))
    key = "arn:aws:iam::111122223333:role/maintenance-runner"
    assert partition_for(key, 4) == zlib.crc32(key.encode()) % 4  # not hash(): the same in every process


def test_findings_carry_headers_a_siem_pipeline_can_route_on() -> None:
    config = OpswardenConfig()
    findings = run(Engine(config, build_detectors(config)), demo_scenario(7)).findings
    assert {f.activity_name for f in findings} >= {"Create", "Update"}
    producer = HeaderRecordingProducer()
    publisher = Publisher(producer, "findings", "ledger", "deadletter")  # type: ignore[arg-type]
    publisher.outputs(Outputs(findings=findings))
    assert len(producer.sent) == len(findings)
    for value, headers in producer.sent:
        finding = orjson.loads(value)
        assert dict(headers) == {
            "content-type": b"application/json",
            "ocsf.class_uid": b"2004",
            "ocsf.version": b"1.3.0",
            "opswarden.finding_type": finding["finding_info"]["types"][0].encode(),
            "opswarden.severity": finding["severity"].encode(),
            "opswarden.activity": finding["activity_name"].encode(),
        }


class HeaderRecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, list[tuple[str, bytes]]]] = []

    def produce(self, topic: str, value: bytes, key: Any = None, **kwargs: Any) -> None:
        if topic == "findings":
            self.sent.append((value, kwargs.get("headers") or []))


def routed_batches(config: OpswardenConfig) -> list[tuple[str, int | None, list[str]]]:
    """The demo's events through an Ingestor: (topic, partition, event ids) of each repartition message."""
    _, messages = demo_items(config)
    detectors = build_detectors(config)
    by_kind = {kind: [d for d in detectors if d.key_kind is kind] for kind in KeyKind}
    producer = RecordingProducer()
    publisher = Publisher(producer, "findings", "ledger", "deadletter")  # type: ignore[arg-type]
    topics = TopicNames()
    routes = {KeyKind.PRINCIPAL: "by-principal", KeyKind.TARGET: "by-target"}
    ingestor = Ingestor(config, by_kind, routes, PARTITIONS, topics.sources(), publisher, 3600.0)
    events = [m for m in messages if m[0] != topics.name("authorizations")]
    ingestor.ingest([Message(None, value, topic, 0, offset) for offset, (topic, _, value) in enumerate(events)])
    batches = [(topic, partition, decode_message(value or b"")) for topic, partition, value, _ in producer.sent]
    return [
        (topic, partition, [getattr(item, "event_id", getattr(item, "id", "")) for item in decoded(routed)])
        for topic, partition, routed in batches
        if routed.items
    ]


def test_routing_forgets_remembered_partitions_when_full_and_routes_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = OpswardenConfig()
    remembering = routed_batches(config)
    monkeypatch.setattr(processing, "PARTITIONS_REMEMBERED", 2)
    forgetting = routed_batches(config)
    assert forgetting == remembering
    assert {partition for _, partition, _ in remembering} == set(range(PARTITIONS))


def shuffled_engines_outputs(config: OpswardenConfig, window: timedelta, seed: int) -> list[bytes]:
    """Route the demo through an Ingestor into partitioned engines, items in a shuffled order, then go idle."""
    items, messages = demo_items(config)
    detectors = build_detectors(config)
    by_kind = {kind: [d for d in detectors if d.key_kind is kind] for kind in KeyKind}
    routes = {KeyKind.PRINCIPAL: "by-principal", KeyKind.TARGET: "by-target"}
    producer = RecordingProducer()
    publisher = Publisher(producer, "findings", "ledger", "deadletter")  # type: ignore[arg-type]
    topics = TopicNames()
    sources = topics.sources() | {topics.name("authorizations"): AUTHORIZATION_SOURCES}
    ingestor = Ingestor(config, by_kind, routes, PARTITIONS, sources, publisher, 1.0)
    shared = SharedState()
    for item in items:
        if item.kind == "authorization":
            shared.authorizations.upsert(item)
    events = [m for m in messages if m[0] != topics.name("authorizations")]
    random.Random(seed).shuffle(events)
    ingestor.ingest([Message(None, value, topic, 0, offset) for offset, (topic, _, value) in enumerate(events)])
    clock = IdleClock(idle_after_s=0, rate=1e15, tick_interval_s=3600)  # any quiet at all: time runs out
    engines = {
        topic: PartitionedEngines(
            config, by_kind[kind], {d.name: {} for d in by_kind[kind]}, {}, PARTITIONS, shared, clock, window
        )
        for kind, topic in routes.items()
    }
    routed = [(topic, partition, value) for topic, partition, value, _ in producer.sent if topic in engines]
    findings: list[bytes] = []

    def handle(topic: str, partition: int, value: bytes) -> list[bytes]:
        return findings_of(engines[topic].handle(partition, decode_message(value)).outputs)

    for topic, partition, value in routed:
        assert partition is not None
        assert value is not None
        findings += handle(topic, partition, value)
    for topic in engines:
        for partition in range(PARTITIONS):
            findings += handle(topic, partition, tick_message(time.time()))
    return sorted(findings)


def test_reorder_buffer_gives_replays_findings_whatever_the_arrival_order() -> None:
    config = OpswardenConfig()
    items, _ = demo_items(config)
    expected = sorted(findings_of(run(Engine(config, build_detectors(config)), in_replay_order(items))))
    for seed in (1, 2, 3):
        assert shuffled_engines_outputs(config, timedelta(days=1), seed) == expected


def test_engine_state_is_written_back_to_its_table_and_restored() -> None:
    config = OpswardenConfig()
    detectors = [d for d in build_detectors(config) if d.key_kind is KeyKind.PRINCIPAL]
    tables: dict[str, dict[str, bytes]] = {d.name: {} for d in detectors}
    watermarks: dict[str, bytes] = {}
    clock = IdleClock(idle_after_s=3600, rate=1, tick_interval_s=1)
    engines = PartitionedEngines(config, detectors, tables, watermarks, 1, SharedState(), clock, timedelta(0))
    items, _ = demo_items(config)
    changes = [item for item in items if item.kind == "change"]
    engines.handle(0, decode_message(items_message([encode_item(i) for i in changes])))
    assert not any(tables[d.name] for d in detectors), "state is written only once outputs are delivered"
    engines.state_write(0).apply()
    assert any(tables[d.name] for d in detectors)
    assert orjson.loads(watermarks["0"])["newest"]
    restored = PartitionedEngines(config, detectors, tables, watermarks, 1, SharedState(), clock, timedelta(0))
    before = engines.engine_for(0).engine
    after = restored.engine_for(0).engine
    assert after.context.watermark == before.context.watermark
    assert {n: sorted(s) for n, s in after.stores.items()} == {n: sorted(s) for n, s in before.stores.items()}


def test_a_partition_engine_keeps_state_only_for_the_keys_its_partition_owns() -> None:
    config = OpswardenConfig()
    detectors = [d for d in build_detectors(config) if d.key_kind is KeyKind.PRINCIPAL]
    clock = IdleClock(idle_after_s=3600, rate=1, tick_interval_s=1)
    tables: dict[str, dict[str, bytes]] = {d.name: {} for d in detectors}
    engines = PartitionedEngines(config, detectors, tables, {}, PARTITIONS, SharedState(), clock, timedelta(0))
    items, _ = demo_items(config)
    keys = {key for item in items for d in detectors for key in d.keys(item)}
    mine = partition_for(min(keys), PARTITIONS)
    assert len({partition_for(key, PARTITIONS) for key in keys}) > 1, "the items carry keys of other partitions"
    events = [encode_item(i) for i in items if i.kind != "authorization"]
    engines.handle(mine, decode_message(items_message(events)))
    engines.state_write(mine).apply()
    held = {key for store in engines.engine_for(mine).engine.stores.values() for key in store}
    assert min(keys) in held
    assert {partition_for(key, PARTITIONS) for key in held} == {mine}
    assert {partition_for(key, PARTITIONS) for table in tables.values() for key in table} == {mine}


def test_a_full_reorder_buffer_lets_its_oldest_items_go_and_says_how_many() -> None:
    config = OpswardenConfig()
    detectors = [d for d in build_detectors(config) if d.key_kind is KeyKind.PRINCIPAL]
    clock = IdleClock(idle_after_s=3600, rate=1, tick_interval_s=1)
    tables: dict[str, dict[str, bytes]] = {d.name: {} for d in detectors}
    engines = PartitionedEngines(
        config, detectors, tables, {}, 1, SharedState(), clock, timedelta(days=1), reorder_max_items=3
    )
    items, _ = demo_items(config)
    changes = sorted((item for item in items if isinstance(item, ChangeEvent)), key=lambda c: c.event_time)[:5]
    handled = engines.handle(0, decode_message(items_message([encode_item(c) for c in reversed(changes)])))
    assert handled.released_early == 2
    holder = engines.engine_for(0)
    assert sorted(orjson.loads(body)["event_id"] for _, _, _, body in holder.buffer) == sorted(
        c.event_id for c in changes[2:]
    )
    assert holder.engine.max_event_time == changes[1].event_time  # the two oldest went to the detectors
    assert handled.released_through is not None
    assert handled.released_through < changes[0].event_time  # the window itself let nothing go


def decoded(routed: RoutedMessage) -> list[Parsed]:
    return [decode(tag, body) for _, tag, body in routed.items]


def principal_engines(config: OpswardenConfig, reorder_window: timedelta) -> PartitionedEngines:
    """One partition of the principal detectors over dict tables, its idle clock never moving time on."""
    detectors = [d for d in build_detectors(config) if d.key_kind is KeyKind.PRINCIPAL]
    tables: dict[str, dict[str, bytes]] = {d.name: {} for d in detectors}
    clock = IdleClock(idle_after_s=3600, rate=1, tick_interval_s=1)
    return PartitionedEngines(config, detectors, tables, {}, 1, SharedState(), clock, reorder_window)


def test_items_wait_in_the_reorder_buffer_encoded_and_unseen_by_the_garbage_collector() -> None:
    """An item waits `reorder_window_s` (60 s of event time): as models, a busy partition's thousands of waiting
    items were walked by every collection, which stops the worker."""
    config = OpswardenConfig()
    engines = principal_engines(config, timedelta(days=1))
    items, _ = demo_items(config)
    changes = [item for item in items if isinstance(item, ChangeEvent)]
    engines.handle(0, decode_message(items_message([encode_item(c) for c in changes])))
    buffer = engines.engine_for(0).buffer
    assert len(buffer) == len(changes)
    gc.collect()
    assert not any(gc.is_tracked(waiting) for waiting in buffer)


def test_an_item_that_cannot_be_decoded_fails_alone_with_its_json() -> None:
    config = OpswardenConfig()
    engines = principal_engines(config, timedelta(0))
    items, _ = demo_items(config)
    good, bad = (encode_item(c) for c in [item for item in items if isinstance(item, ChangeEvent)][:2])
    broken = bad.replace(b'"event_id"', b'"no_id"')
    handled = engines.handle(0, decode_message(items_message([good, broken])))
    (failure,) = handled.failures
    assert failure.body == routed_item(broken)[2]
    assert "event_id" in str(failure.error)
    assert engines.engine_for(0).engine.max_event_time == decode_item(good).event_time  # the good one was stepped


def test_a_held_change_is_written_to_the_table_as_the_line_it_arrived_in() -> None:
    """The judge's state reuses each change's repartition JSON: no second encoding of every held change."""
    config = OpswardenConfig()
    engines = principal_engines(config, timedelta(0))
    items, _ = demo_items(config)
    held = next(item for item in items if isinstance(item, ChangeEvent) and item.is_change)
    line = encode_item(held)
    head, json = line.split(b" ", 1)
    body = orjson.dumps(dict(reversed(orjson.loads(json).items())))  # valid, but not how pydantic writes it
    engines.handle(0, decode_message(items_message([head + b" " + body])))
    engines.state_write(0).apply()
    (state,) = engines.tables["authorization"].values()
    assert body in state


def test_partitions_write_their_state_at_times_spread_over_one_interval() -> None:
    config = OpswardenConfig()
    detectors = [d for d in build_detectors(config) if d.key_kind is KeyKind.PRINCIPAL]
    clock = IdleClock(idle_after_s=3600, rate=1, tick_interval_s=1)
    every = 4.0
    engines = PartitionedEngines(
        config, detectors, {d.name: {} for d in detectors}, {}, PARTITIONS, SharedState(), clock, timedelta(0), every
    )
    tick = decode_message(tick_message(time.time()))
    first_due = {p: engines.engine_for(p).persisted_at + every - time.monotonic() for p in range(PARTITIONS)}
    assert engines.handle(0, tick).persist_due, "the first partition writes at once"
    assert not any(engines.handle(p, tick).persist_due for p in range(1, PARTITIONS))
    gaps = [first_due[p + 1] - first_due[p] for p in range(PARTITIONS - 1)]
    assert all(gap == pytest.approx(every / PARTITIONS, abs=0.05) for gap in gaps)


def test_dead_letter_keeps_the_bytes_and_says_why_and_where() -> None:
    rejections = [
        Rejection(reason=RejectReason.WRONG_SHAPE, detail="record is a int", index=0),
        Rejection(reason=RejectReason.NOT_JSON, detail="line 2 is not JSON", index=1),
    ]
    letter = from_rejections(rejections, b"k", b"\x00junk", "audit.k8s", 3, 42)
    value, headers = letter.outgoing()
    assert value == b"\x00junk"
    assert dict(headers) == {
        "reason": b"wrong_shape",
        "detail": b"record is a int (record 0) [not_json: 1, wrong_shape: 1]",
        "source-topic": b"audit.k8s",
        "source-partition": b"3",
        "source-offset": b"42",
        "rejected-records": b"2",
        "redacted": b"false",
    }


def test_a_dead_letter_leaves_without_the_secrets_of_its_input_and_says_so() -> None:
    token = "IQoJb3JpZ2luX2VjEHYaCXVzLWVhc3QtMSJHMEUCIQD6example"
    original = b'{"eventName": "AssumeRole", "responseElements": {"credentials": {"sessionToken": "' + token.encode()
    bug = KeyError(f"Bearer {token}")  # a parser bug whose message quotes its input
    value, headers = from_exception(bug, b"k", original, "audit.cloudtrail", 0, 7).outgoing()
    assert value is not None
    assert token.encode() not in value
    assert value.startswith(b'{"eventName": "AssumeRole", "responseElements": {"credentials": {"sessionToken": "')
    assert dict(headers)["redacted"] == b"true"
    assert token.encode() not in dict(headers)["detail"]


def test_registry_messages_are_validated_with_reasons() -> None:
    limits = OpswardenConfig().limits
    one = orjson.dumps({"name": "restarter", "class": "execution", "principals": ["system:serviceaccount:aiops:*"]})
    assert [w.name for w in parse_workflows(one, limits)] == ["restarter"]
    assert len(parse_workflows(b'{"workflows": [' + one + b"," + one + b"]}", limits)) == 2
    for bad, reason in ((b"{", "not_json"), (b"[1]", "wrong_shape"), (b'{"name": 1}', "invalid_value")):
        with pytest.raises(WorkflowRejected) as rejected:
            parse_workflows(bad, limits)
        assert rejected.value.reason == reason


def test_the_registry_topic_is_read_as_compacted_a_tombstone_unregisters_and_a_bad_message_changes_nothing() -> None:
    limits = OpswardenConfig().limits
    shared = SharedState()

    def registered(key: bytes | None, value: bytes | None) -> list[str]:
        apply_workflows(shared, Message(key, value, "workflow.registry", 0, 0), limits)
        return sorted(shared.registry.by_name)

    restarter = {"name": "restarter", "class": "execution", "principals": ["system:serviceaccount:aiops:restarter"]}
    scaler = {"name": "scaler", "class": "execution", "principals": ["system:serviceaccount:aiops:scaler"]}
    assert registered(b"aiops", orjson.dumps({"workflows": [restarter, scaler]})) == ["restarter", "scaler"]
    assert registered(b"aiops", orjson.dumps({"workflows": [restarter]})) == ["restarter"]
    assert registered(b"aiops", b'{"workflows": [') == ["restarter"]  # dead-lettered, not applied
    assert registered(b"aiops", None) == []
    assert registered(None, orjson.dumps(scaler)) == ["scaler"]  # no key to replace: it adds
    assert registered(b"aiops", None) == ["scaler"]


def test_send_reads_documents_lines_and_gzip(tmp_path: Path) -> None:
    envelope = {"Records": [{"eventID": "a"}, {"eventID": "b"}]}
    (tmp_path / "envelope.json").write_bytes(orjson.dumps(envelope))
    (tmp_path / "lines.jsonl").write_bytes(b'{"eventID": "c"}\n\n{"auditID": "d"}\nnot json\n')
    (tmp_path / "auth.json.gz").write_bytes(gzip.compress(orjson.dumps({"kind": "authorization", "id": "CHG1"})))
    assert list(file_messages(tmp_path / "envelope.json")) == [(None, orjson.dumps(envelope))]
    assert [key for key, _ in file_messages(tmp_path / "lines.jsonl")] == ["c", "d", None]
    assert [key for key, _ in file_messages(tmp_path / "auth.json.gz")] == ["CHG1"]


def test_settings_never_show_the_sasl_password() -> None:
    settings = Settings(sasl_mechanism="PLAIN", sasl_username="svc", sasl_password="hunter2")  # type: ignore[arg-type]
    assert "hunter2" not in repr(settings)
    assert settings.confluent_config()["sasl.password"] == "hunter2"


def test_messages_read_again_after_a_torn_restore_are_not_counted_twice() -> None:
    """A crash can land some of a step's table writes and not others (each table's changelog is its own
    topic); the uncommitted messages are read again, and each detector counts what it has seen once."""
    config = OpswardenConfig()
    detectors = [d for d in build_detectors(config) if d.key_kind is KeyKind.PRINCIPAL]
    tables: dict[str, dict[str, bytes]] = {d.name: {} for d in detectors}
    watermarks: dict[str, bytes] = {}
    clock = IdleClock(idle_after_s=3600, rate=1, tick_interval_s=1)
    items, _ = demo_items(config)
    changes = [encode_item(item) for item in items if item.kind == "change"]
    first = PartitionedEngines(config, detectors, tables, watermarks, 1, SharedState(), clock, timedelta(0))
    first.handle(0, decode_message(items_message(changes[:5])))
    first.state_write(0).apply()
    after_first = {name: dict(table) for name, table in tables.items()}
    first.handle(0, decode_message(items_message(changes[5:])))
    first.state_write(0).apply()
    states = {name: dict(table) for name, table in tables.items()}
    assert states != after_first
    for behind in tables:  # one table's writes of the second step lost, the others' landed
        torn = {name: dict(after_first[name] if name == behind else states[name]) for name in tables}
        again = PartitionedEngines(config, detectors, torn, dict(watermarks), 1, SharedState(), clock, timedelta(0))
        again.handle(0, decode_message(items_message(changes[5:])))  # the uncommitted message, read again
        again.state_write(0).apply()
        assert torn == states, f"{behind} restored behind"


class RebalancingProducer(RecordingProducer):
    """Acknowledges everything, but `revoke` runs (a rebalance) while a state write waits for the broker."""

    def __init__(self, revoke: Any = None) -> None:
        super().__init__()
        self.revoke = revoke

    @property
    def produced(self) -> int:
        return len(self.sent)

    async def delivered(self, since: int = 0, before: int | None = None, every_s: float = 0.001) -> None:
        if self.revoke is not None:
            self.revoke()


class SlowProducer(RebalancingProducer):
    """Acknowledges what was produced before `before` only when the test says so, and remembers each wait."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()
        self.waits: list[int] = []
        self.refusal: Exception | None = None

    async def delivered(self, since: int = 0, before: int | None = None, every_s: float = 0.001) -> None:
        self.waits.append(self.produced if before is None else before)
        await self.answer.wait()
        if self.refusal is not None:
            raise self.refusal


@dataclass
class Event:
    message: Message
    acked: bool = False

    def ack(self) -> None:
        self.acked = True


@dataclass
class AssignedConsumer:
    """The two things the runtime asks Faust's consumer: what it is assigned, and what is committed."""

    assigned: set[TP]
    _committed_offset: dict[TP, int]

    def assignment(self) -> set[TP]:
        return self.assigned


def judging_runtime(
    config: OpswardenConfig,
    reorder_window: timedelta,
    producer: RebalancingProducer | None = None,
    persist_every_s: float = 0.0,
) -> tuple[Runtime, str, dict[str, dict[str, bytes]]]:
    """A runtime whose principal engine has dict tables, persists on every message (by default; its first
    message in any case) and publishes nowhere."""
    topic = TopicNames().name("by_principal")
    detectors = [d for d in build_detectors(config) if d.key_kind is KeyKind.PRINCIPAL]
    tables: dict[str, dict[str, bytes]] = {d.name: {} for d in detectors}
    clock = IdleClock(idle_after_s=3600, rate=1, tick_interval_s=1)
    engines = PartitionedEngines(
        config, detectors, tables, {}, 1, SharedState(), clock, reorder_window, persist_every_s
    )
    runtime = Runtime(
        settings=Settings(),
        config=config,
        app=SimpleNamespace(consumer=AssignedConsumer({TP(topic, 0)}, {}), should_stop=False),  # type: ignore[arg-type]
        publisher=Publisher(producer or RebalancingProducer(), "findings", "ledger", "deadletter"),  # type: ignore[arg-type]
        shared=SharedState(),
        reader=None,  # type: ignore[arg-type]
        sources=None,
        engines={topic: engines},
        health=Health(stall_after_s=30),
        models=ModelSnapshots(detectors, "models", RecordingProducer()),  # type: ignore[arg-type]
    )
    return runtime, topic, tables


def change_batch(config: OpswardenConfig) -> bytes:
    items, _ = demo_items(config)
    return items_message([encode_item(item) for item in items if item.kind == "change"])


def judge(runtime: Runtime, *events: Event) -> None:
    """Judge the events in turn, as the engine agent does, then let the state writes they started finish."""

    async def judged() -> None:
        for event in events:
            await runtime.judge(event)  # type: ignore[arg-type]
        await asyncio.gather(*(write for write in runtime.writing.values() if not write.done()), return_exceptions=True)

    asyncio.run(judged())


@pytest.mark.parametrize("rebalanced", [False, True])
def test_an_engine_revoked_while_waiting_for_the_broker_neither_writes_nor_acks(rebalanced: bool) -> None:
    """Faust reads a revoked partition again from the committed offset; an ack from the dropped engine would
    commit messages whose buffered items and unwritten state it took with it."""
    config = OpswardenConfig()
    runtime, topic, tables = judging_runtime(config, timedelta(0))
    if rebalanced:
        runtime.publisher.producer.revoke = lambda: runtime.revoke({TP(topic, 0)})  # type: ignore[attr-defined]
    event = Event(Message(None, change_batch(config), topic, 0, 0))
    judge(runtime, event)
    assert event.acked is not rebalanced
    assert any(tables.values()) is not rebalanced


def test_a_state_write_in_flight_holds_the_state_as_it_fell_due_and_acks_only_what_was_judged_before() -> None:
    """The engine goes on while a write waits for the broker. The write must claim no output published after
    it fell due (a crash before those are delivered re-issues them) and ack no message judged after it, even
    one with nothing held (a tick): its effects are not in the write."""
    config = OpswardenConfig()
    producer = SlowProducer()
    runtime, topic, tables = judging_runtime(config, timedelta(0), producer, persist_every_s=3600)
    items, _ = demo_items(config)
    lines = [encode_item(item) for item in items if item.kind == "change"]
    first = Event(Message(None, items_message(lines[:5]), topic, 0, 0))
    tick = Event(Message(None, tick_message(time.time()), topic, 0, 1))
    second = Event(Message(None, items_message(lines[5:]), topic, 0, 2))
    last_tick = Event(Message(None, tick_message(time.time()), topic, 0, 3))
    reference, _, expected = judging_runtime(config, timedelta(0))
    judge(reference, Event(Message(None, items_message(lines[:5]), topic, 0, 0)))
    timed = metrics.REGISTRY.get_sample_value("opswarden_state_write_seconds_count", {"topic": topic}) or 0.0

    async def judged() -> None:
        await runtime.judge(first)  # type: ignore[arg-type]
        published = producer.produced
        for later in (tick, second):
            await runtime.judge(later)  # type: ignore[arg-type]
        assert producer.produced > published, "the second batch's outputs went out meanwhile"
        await asyncio.sleep(0)
        assert producer.waits == [published]
        assert not any(tables.values())
        assert not first.acked
        producer.answer.set()
        await asyncio.gather(*runtime.writing.values())
        assert tables == expected
        assert (first.acked, tick.acked, second.acked) == (True, False, False)
        assert metrics.REGISTRY.get_sample_value("opswarden_state_write_seconds_count", {"topic": topic}) == timed + 1
        runtime.engines[topic].engine_for(0).persisted_at -= 3600  # the next write falls due
        await runtime.judge(last_tick)  # type: ignore[arg-type]
        await asyncio.gather(*runtime.writing.values())
        assert (tick.acked, second.acked, last_tick.acked) == (True, True, True)
        assert tables != expected

    asyncio.run(judged())


def test_a_write_still_in_flight_when_the_next_falls_due_holds_the_agent_until_it_is_done() -> None:
    """A broker slower to acknowledge than the write interval: the agent waits rather than hold ever more input
    judged but unacknowledged (memory, and what a crash reads again)."""
    config = OpswardenConfig()
    producer = SlowProducer()
    runtime, topic, tables = judging_runtime(config, timedelta(0), producer)  # every message due
    items, _ = demo_items(config)
    lines = [encode_item(item) for item in items if item.kind == "change"]
    first = Event(Message(None, items_message(lines[:5]), topic, 0, 0))
    second = Event(Message(None, items_message(lines[5:]), topic, 0, 1))

    async def judged() -> None:
        await runtime.judge(first)  # type: ignore[arg-type]
        judging = asyncio.create_task(runtime.judge(second))  # type: ignore[arg-type]
        for _ in range(5):
            await asyncio.sleep(0)
        assert not judging.done()
        assert not any(tables.values())
        producer.answer.set()
        await judging
        assert first.acked
        assert any(tables.values())
        await asyncio.gather(*runtime.writing.values())
        assert second.acked

    asyncio.run(judged())


def test_a_state_write_whose_outputs_are_refused_stops_the_worker_and_writes_and_acks_nothing() -> None:
    config = OpswardenConfig()
    producer = SlowProducer()
    producer.refusal = DeliveryFailed("1 messages refused")
    producer.answer.set()
    runtime, topic, tables = judging_runtime(config, timedelta(0), producer)
    stops: list[None] = []
    runtime.stop_worker = lambda: stops.append(None)
    event = Event(Message(None, change_batch(config), topic, 0, 0))
    judge(runtime, event)
    assert runtime.failure is producer.refusal
    assert len(stops) == 1
    assert not event.acked
    assert not any(tables.values())


def test_an_item_that_fails_in_the_engines_is_dead_lettered_as_its_json_and_the_rest_is_judged() -> None:
    config = OpswardenConfig()
    runtime, topic, _tables = judging_runtime(config, timedelta(0))
    items, _ = demo_items(config)
    lines = [encode_item(item) for item in items if item.kind == "change"]
    broken = lines[0].replace(b'"event_id"', b'"no_id"')
    event = Event(Message(None, items_message([broken, *lines[1:]]), topic, 0, 0))
    judge(runtime, event)
    sent = runtime.publisher.producer.sent  # type: ignore[attr-defined]
    dead = [value for topic_name, _, value, _ in sent if topic_name == "deadletter"]
    assert dead == [routed_item(broken)[2]]
    assert event.acked
    assert any(topic_name == "ledger" for topic_name, _, _, _ in sent)


def test_acks_follow_offsets_so_a_tick_never_commits_the_batch_held_before_it() -> None:
    """faust-streaming commits the first run of consecutive acked offsets even past an unacked message."""
    config = OpswardenConfig()
    runtime, topic, _tables = judging_runtime(config, timedelta(days=365))
    batch = Event(Message(None, change_batch(config), topic, 0, 0))  # held in the reorder buffer
    tick = Event(Message(None, tick_message(time.time()), topic, 0, 1))
    for event in (batch, tick):
        judge(runtime, event)
    assert (batch.acked, tick.acked) == (False, False)


def test_a_message_read_again_or_from_a_revoked_partition_is_left_alone() -> None:
    """Engine topic buffers are never cleared (streams.continuity): what Faust fetches twice is judged once."""
    config = OpswardenConfig()
    runtime, topic, _tables = judging_runtime(config, timedelta(0))
    producer = runtime.publisher.producer
    first = Event(Message(None, change_batch(config), topic, 0, 0))
    judge(runtime, first)
    published = len(producer.sent)  # type: ignore[attr-defined]
    assert first.acked
    assert published
    again = Event(Message(None, change_batch(config), topic, 0, 0))
    elsewhere = Event(Message(None, change_batch(config), topic, 1, 0))  # partition 1 is not assigned
    for event in (again, elsewhere):
        judge(runtime, event)
        assert not event.acked
    assert len(producer.sent) == published  # type: ignore[attr-defined]


def test_a_failed_worker_judges_publishes_and_acks_nothing_more_and_stops_once() -> None:
    """After its outputs were refused, a worker must not acknowledge input whose findings may be lost."""
    config = OpswardenConfig()
    runtime, topic, _tables = judging_runtime(config, timedelta(0))
    stops: list[None] = []
    runtime.stop_worker = lambda: stops.append(None)
    runtime.fail(DeliveryFailed("1 messages refused"))
    runtime.fail(RuntimeError("and then another"))
    event = Event(Message(None, change_batch(config), topic, 0, 0))
    judge(runtime, event)
    assert not event.acked
    assert not runtime.publisher.producer.sent  # type: ignore[attr-defined]
    assert len(stops) == 1
    assert isinstance(runtime.failure, DeliveryFailed)


def test_a_long_running_task_that_raises_stops_the_worker_and_a_cancelled_one_does_not() -> None:
    runtime, _topic, _tables = judging_runtime(OpswardenConfig(), timedelta(0))
    stops: list[None] = []
    runtime.stop_worker = lambda: stops.append(None)

    async def cancelled() -> None:
        raise asyncio.CancelledError

    async def broken() -> None:
        raise KeyError("a bug")

    with pytest.raises(asyncio.CancelledError):  # a worker stopping cancels its tasks: not a failure
        asyncio.run(runtime.guarded(cancelled)())
    assert runtime.failure is None
    runtime.app.should_stop = True  # type: ignore[misc]  # the worker is stopping: what breaks then is not a failure
    asyncio.run(runtime.guarded(broken)())
    assert runtime.failure is None
    runtime.app.should_stop = False  # type: ignore[misc]
    asyncio.run(runtime.guarded(broken)())
    assert isinstance(runtime.failure, KeyError)
    assert len(stops) == 1

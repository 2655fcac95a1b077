"""What the agents do, without Faust: parse and route input, run partitioned engines, publish outputs.

The agents in `streams.agents` are thin loops that hand each batch of messages to these objects.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from pydantic import ValidationError

from detectors.base import Detector, KeyKind, Outputs
from detectors.context import AuthorizationIndex, DetectionContext, RegistryIndex
from models.authorization import AuthorizationRecord
from models.config import LimitsConfig, OpswardenConfig
from models.finding import DetectionFinding
from models.parsers import ParseResult, parse_document
from models.parsers.base import ParseContext, Parsed
from models.registry import Workflow
from models.rejection import Rejection, RejectReason
from streams import metrics
from streams.deadletter import DeadLetter, from_exception, from_rejections
from streams.outputs import OutputProducer
from streams.routing import ACTIVE, authorization_notice, encode_item, items_message
from streams.routing import partition_for as route

#: Keys whose partition the input stage remembers rather than hashes for every item.
PARTITIONS_REMEMBERED = 100_000
#: Largest repartition message, under the 1 MB a broker accepts by default; bigger batches mean fewer state writes.
MAX_ROUTED_BYTES = 900 * 1024
AUTHORIZATION_SOURCES = ("authorization", "servicenow")


class SourceMessage(Protocol):
    """The parts of a consumed Kafka message the runtime needs (Faust's Message has them)."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass
class SharedState:
    """The global state every worker holds whole, shared by all its engines."""

    authorizations: AuthorizationIndex = field(default_factory=AuthorizationIndex)
    registry: RegistryIndex = field(default_factory=RegistryIndex)

    def context(self, config: OpswardenConfig) -> DetectionContext:
        return DetectionContext(config=config, authorizations=self.authorizations, registry=self.registry)


class Publisher:
    """Findings (key = finding uid), ledger entries (key = event id) and dead letters, all on one producer."""

    def __init__(self, producer: OutputProducer, findings: str, ledger: str, deadletter: str) -> None:
        self.producer = producer
        self.findings = findings
        self.ledger = ledger
        self.deadletter = deadletter

    def outputs(self, out: Outputs) -> None:
        for finding in out.findings:
            value = orjson.dumps(finding.model_dump_ocsf())
            self.producer.produce(self.findings, value, finding.uid, headers=finding_headers(finding))
        for entry in out.ledger:
            self.producer.produce(self.ledger, entry.to_json(), entry.event_id)
        metrics.record_outputs(out, datetime.now(UTC))

    def dead_letter(self, letter: DeadLetter) -> None:
        value, headers = letter.outgoing()
        self.producer.produce(self.deadletter, value, letter.key, headers=headers)
        metrics.record_dead_letter(letter.topic, letter.reason)


def finding_headers(finding: DetectionFinding) -> list[tuple[str, bytes]]:
    """What a pipeline to the SIEM (Kafka Connect, Vector, Logstash) can route and filter findings on without
    parsing them: the OCSF class and version, and the finding's type, severity and activity."""
    return [
        ("content-type", b"application/json"),
        ("ocsf.class_uid", str(finding.class_uid).encode()),
        ("ocsf.version", finding.metadata.version.encode()),
        ("opswarden.finding_type", finding.finding_type.encode()),
        ("opswarden.severity", finding.severity.encode()),
        ("opswarden.activity", finding.activity_name.encode()),
    ]


def origin(message: SourceMessage) -> str:
    return f"{message.topic}/{message.partition}@{message.offset}"


def parse_message(message: SourceMessage, sources: tuple[str, ...], config: OpswardenConfig) -> ParseResult:
    ctx = ParseContext(config.environments, datetime.now(UTC), origin(message))
    return parse_document(message.value or b"", ctx, config.limits, sources)  # by position: once per message


class Ingestor:
    """Parses event topics and routes each item to the partitions owning its principal and target keys."""

    def __init__(
        self,
        config: OpswardenConfig,
        detectors: Mapping[KeyKind, Sequence[Detector[Any]]],
        routes: Mapping[KeyKind, str],
        partitions: int,
        sources: Mapping[str, tuple[str, ...]],
        publisher: Publisher,
        activity_every_s: float,
    ) -> None:
        self.config = config
        self.routes = routes
        self.partitions = partitions
        self.sources = sources
        self.publisher = publisher
        self.activity_every_s = activity_every_s
        self._activity_sent = 0.0
        self._routing = [(topic, tuple(detectors[kind])) for kind, topic in routes.items()]
        self._partition_of: dict[str, int] = {}

    def ingest(self, messages: Iterable[SourceMessage]) -> None:
        batches: dict[tuple[str, int], list[bytes]] = defaultdict(list)
        # Counted once per batch, not per message; counted, not kept: a batch's items held to its end were
        # walked by the garbage collector again and again (a tenth of the stage's time, with envelopes).
        parsed: dict[str, int] = defaultdict(int)
        rejected: dict[str, list[Rejection]] = defaultdict(list)
        for message in messages:
            source = self.sources[message.topic]
            try:
                result = parse_message(message, source, self.config)
                parsed[source[0]] += len(result.items)
                rejected[source[0]] += result.rejections
                if result.rejections:
                    self._reject(message, result.rejections)
                for item in result.items:
                    self._route(item, batches)
            except Exception as exc:  # a bug must cost one message, not the worker
                self.publisher.dead_letter(from_exception(exc, message.key, message.value, *_where(message)))
        for source_name, count in parsed.items():
            metrics.record_parse(source_name, count, rejected[source_name])
        for (topic, partition), encoded in batches.items():
            for chunk in _chunks(encoded):
                self.publisher.producer.produce(topic, items_message(chunk), partition=partition)
        self._announce_activity()

    def _announce_activity(self) -> None:
        """Tell every engine partition that input is flowing (at most every `activity_every_s`)."""
        now = time.monotonic()
        if now - self._activity_sent < self.activity_every_s:
            return
        self._activity_sent = now
        for topic in self.routes.values():
            for partition in range(self.partitions):
                self.publisher.producer.produce(topic, ACTIVE, partition=partition)

    def _reject(self, message: SourceMessage, rejections: Sequence[Rejection]) -> None:
        self.publisher.dead_letter(from_rejections(rejections, message.key, message.value, *_where(message)))

    def _route(self, item: Parsed, batches: dict[tuple[str, int], list[bytes]]) -> None:
        encoded: bytes | None = None
        for topic, detectors in self._routing:
            for partition in {self._partition(key) for detector in detectors for key in detector.keys(item)}:
                encoded = encoded or encode_item(item)
                batches[(topic, partition)].append(encoded)

    def _partition(self, key: str) -> int:
        """A busy principal's key comes back thousands of times a second: remembered, not hashed each time."""
        found = self._partition_of.get(key)
        if found is None:
            if len(self._partition_of) >= PARTITIONS_REMEMBERED:
                self._partition_of.clear()
            found = self._partition_of[key] = route(key, self.partitions)
        return found


class AuthorizationIngestor:
    """Validates `change.authorizations` and broadcasts each record to every principal partition."""

    def __init__(self, config: OpswardenConfig, notices_topic: str, partitions: int, publisher: Publisher) -> None:
        self.config = config
        self.notices_topic = notices_topic
        self.partitions = partitions
        self.publisher = publisher

    def ingest(self, messages: Iterable[SourceMessage]) -> None:
        for message in messages:
            if message.value is None:
                continue  # a tombstone: the global reader removes the record
            try:
                result = parse_message(message, AUTHORIZATION_SOURCES, self.config)
                metrics.record_parse("authorization", len(result.items), result.rejections)
                if result.rejections:
                    letter = from_rejections(result.rejections, message.key, message.value, *_where(message))
                    self.publisher.dead_letter(letter)
                for record in result.items:
                    notice = authorization_notice(record)  # type: ignore[arg-type]
                    for partition in range(self.partitions):
                        self.publisher.producer.produce(self.notices_topic, notice, partition=partition)
            except Exception as exc:
                self.publisher.dead_letter(from_exception(exc, message.key, message.value, *_where(message)))


class RegistryIngestor:
    """Validates `workflow.registry`; the global reader applies what is valid, bad messages go to dead letters."""

    def __init__(self, limits: LimitsConfig, publisher: Publisher) -> None:
        self.limits = limits
        self.publisher = publisher

    def ingest(self, messages: Iterable[SourceMessage]) -> None:
        for message in messages:
            if message.value is None:
                continue
            try:
                parse_workflows(message.value, self.limits)
            except WorkflowRejected as exc:
                letter = DeadLetter(message.key, message.value, exc.reason, exc.detail, *_where(message))
                self.publisher.dead_letter(letter)


class WorkflowRejected(ValueError):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_workflows(value: bytes, limits: LimitsConfig) -> list[Workflow]:
    """A registry message: one workflow, or a `{"workflows": [...]}` document (the YAML file's shape)."""
    if len(value) > limits.max_document_bytes:
        raise WorkflowRejected(RejectReason.TOO_LARGE, f"{len(value)} bytes exceeds {limits.max_document_bytes}")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise WorkflowRejected(RejectReason.NOT_JSON, f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise WorkflowRejected(RejectReason.WRONG_SHAPE, f"a {type(data).__name__}, not a workflow object")
    entries = data["workflows"] if isinstance(data.get("workflows"), list) else [data]
    try:
        return [Workflow.model_validate(entry) for entry in entries]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise WorkflowRejected(RejectReason.INVALID_VALUE, f"{where}: {first['msg']}") from exc


def workflow_message(workflow: Workflow) -> bytes:
    return orjson.dumps(workflow.model_dump(mode="json", by_alias=True, exclude_none=True))


def apply_authorization(shared: SharedState, message: SourceMessage, config: OpswardenConfig) -> None:
    """The global reader's step for `change.authorizations`: latest version wins, a tombstone removes."""
    if message.value is None:
        if message.key is not None:
            shared.authorizations.remove(message.key.decode(errors="replace"))
        return
    for record in parse_message(message, AUTHORIZATION_SOURCES, config).items:
        if isinstance(record, AuthorizationRecord):
            shared.authorizations.upsert(record)


def apply_workflows(shared: SharedState, message: SourceMessage, limits: LimitsConfig) -> None:
    """The global reader's step for `workflow.registry`, a compacted topic: a key's latest message says which
    workflows it defines (a tombstone: none). A message that is not valid changes nothing (it is dead-lettered
    by the registry agent): a typo must not unregister a workflow. Messages without a key only add."""
    key = message.key.decode(errors="replace") if message.key is not None else None
    if message.value is None:
        if key is not None:
            shared.registry.replace(key, [])
        return
    try:
        workflows = parse_workflows(message.value, limits)
    except WorkflowRejected:
        return
    if key is None:
        for workflow in workflows:
            shared.registry.upsert(workflow)
    else:
        shared.registry.replace(key, workflows)


def _where(message: SourceMessage) -> tuple[str, int, int]:
    return message.topic, message.partition, message.offset


def _chunks(encoded: list[bytes]) -> Iterable[list[bytes]]:
    chunk: list[bytes] = []
    size = 0
    for item in encoded:
        if chunk and size + len(item) > MAX_ROUTED_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        yield chunk

"""Every opswarden Prometheus metric, defined once, and the small functions the runtime records them with.

All metrics live in one dedicated registry, `REGISTRY`, so that a worker serves exactly opswarden's metrics,
Faust's sensor metrics (`install_faust_sensors`) and the process/Python collectors on one endpoint
(`serve_metrics`), and so that tests can read them without picking up other libraries' collectors.

Labels are bounded by code or configuration only: sources, reason classes, verdicts, environments, finding
types, severities, suppression rule ids, detector names, topics and partitions. Principals, targets and record
ids never become labels; they belong in findings.
"""

from __future__ import annotations

import gc
import hashlib
import threading
import time
from collections import Counter as TallyCounter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from weakref import WeakKeyDictionary
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
from faust.sensors.monitor import TPOffsetMapping
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    make_wsgi_app,
)
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from detectors.base import Outputs
from detectors.engine import Engine
from models.config import OpswardenConfig
from models.finding import Activity, Severity, Status
from models.parsers import BY_NAME
from models.patterns import glob_match
from models.rejection import Rejection, RejectReason
from streams.health import Health, with_probes

if TYPE_CHECKING:
    from faust.types import AppT

#: Prefix of Faust's own sensor metrics, so that every series a worker exports starts with `opswarden_`.
FAUST_METRICS_PREFIX = "opswarden_faust"
#: Sources with their own label value; anything else is counted as `other` so a label cannot grow unbounded.
KNOWN_SOURCES = frozenset({*BY_NAME, "registry"})
OTHER_SOURCE = "other"

#: The finding types (a contract with the SIEM, README "Findings for the SIEM"); any other type is counted as `other`.
FINDING_TYPES = (
    "unauthorized_change",
    "out_of_window_change",
    "out_of_scope_change",
    "revoked_authorization_used",
    "separation_of_duties_violation",
    "non_executing_workflow_acted",
    "unowned_automation_change",
    "long_lived_credential_used",
    "credential_outlived_task",
    "undeclared_automation_change",
    "remediation_loop",
    "permission_creep",
    "activity_anomaly",
)
#: The authorization judge's verdicts, one per judged change (the ledger).
VERDICTS = (
    "authorized",
    "authorized_by_registry",
    "unauthorized_change",
    "out_of_window_change",
    "out_of_scope_change",
    "revoked_authorization_used",
)
OTHER_TYPE = "other"
SEVERITIES = tuple(severity.name.lower() for severity in Severity if severity is not Severity.UNKNOWN)
ACTIVITIES = tuple(activity.name.lower() for activity in Activity)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

EVENTS_CONSUMED = Counter(
    "opswarden_events_consumed",
    "Input records consumed, by source and outcome (parsed, or rejected with its reason class).",
    ["source", "outcome", "reason"],
    registry=REGISTRY,
)
CHANGES_JUDGED = Counter(
    "opswarden_changes_judged",
    "Production changes judged, by verdict and environment (the ledger, as a rate).",
    ["verdict", "environment"],
    registry=REGISTRY,
)
FINDINGS_ISSUED = Counter(
    "opswarden_findings_issued",
    "Findings published and not suppressed, by finding type, severity and OCSF activity (create, update, close).",
    ["type", "severity", "activity"],
    registry=REGISTRY,
)
FINDINGS_SUPPRESSED = Counter(
    "opswarden_findings_suppressed",
    "Findings published with status Suppressed, by finding type and the suppression rule id that matched.",
    ["type", "rule"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "opswarden_dead_letters",
    "Messages sent to the dead-letter topic, by source topic and reason class.",
    ["topic", "reason"],
    registry=REGISTRY,
)
END_TO_END_LAG = Histogram(
    "opswarden_end_to_end_lag_seconds",
    "From the event time of a finding's latest event to the moment the finding is published, by finding type.",
    ["type"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 21600, 86400),
    registry=REGISTRY,
)
PROCESSING_LATENCY = Histogram(
    "opswarden_processing_latency_seconds",
    "Wall-clock time to parse and route one batch of consumed messages, by source topic.",
    ["topic"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
STATE_WRITES = Histogram(
    "opswarden_state_write_seconds",
    "From a partition's state write falling due to the messages behind it being acknowledged, by repartition "
    "topic: the broker's acknowledgement of the outputs, the write, the broker's of the changelog. The engines go "
    "on meanwhile; long writes mean commits trail them, and a crash reads more input again.",
    ["topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
PENDING_CHANGES = Gauge(
    "opswarden_pending_changes",
    "Changes no authorization covers yet, held for the grace period before a finding is issued.",
    registry=REGISTRY,
)
AUTHORIZATIONS_IN_FORCE = Gauge(
    "opswarden_authorizations_in_force",
    "Authorization records approved at the current watermark.",
    registry=REGISTRY,
)
TRACKED_KEYS = Gauge(
    "opswarden_tracked_keys",
    "Keys (principals or targets) a detector holds state for.",
    ["detector", "key_kind"],
    registry=REGISTRY,
)
JUDGED_EARLY = Counter(
    "opswarden_changes_judged_early",
    "Changes judged before the end of their grace period: their principal held `max_held_per_principal` already.",
    registry=REGISTRY,
)
EVICTED_KEYS = Counter(
    "opswarden_evicted_keys",
    "Keys a detector dropped because they went idle or exceeded its key cap.",
    ["detector"],
    registry=REGISTRY,
)
MODEL_KEYS = Gauge(
    "opswarden_model_keys",
    "Keys of a learning detector by warm-up state: `warming` keys have too little history to raise findings.",
    ["detector", "state"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "opswarden_consumer_lag_messages",
    "Messages behind on an assigned partition: end offset minus committed offset.",
    ["topic", "partition"],
    registry=REGISTRY,
)
REBALANCES = Counter(
    "opswarden_rebalances",
    "Consumer group rebalances this worker went through.",
    registry=REGISTRY,
)
GAPS = Counter(
    "opswarden_repartition_gap_messages",
    "Repartition messages the engines never read (holes in a partition's offsets): their items were lost.",
    ["topic"],
    registry=REGISTRY,
)
RELEASED_EARLY = Counter(
    "opswarden_reorder_released_early",
    "Items let out of a full reorder buffer (`OPSWARDEN_REORDER_MAX_ITEMS`) before the reorder window passed them.",
    ["topic"],
    registry=REGISTRY,
)
MODEL_SNAPSHOTS = Counter(
    "opswarden_model_snapshots",
    "Global model snapshots (`<detector>/<model>`) by outcome: written, restored at start, merged from another "
    "worker, refused (at start the model starts empty), too_large to write, undelivered (refused by the broker).",
    ["model", "outcome"],
    registry=REGISTRY,
)
CPU_SECONDS = Counter(
    "opswarden_cpu_seconds",
    "CPU time of each opswarden process, all its threads: `worker` (the engines, and the input stage when it runs "
    "in the worker) and `input-<n>` (each input-stage process). A process near one core is at its capacity.",
    ["process"],
    registry=REGISTRY,
)
GC_PAUSES = Histogram(
    "opswarden_gc_pause_seconds",
    "How long each of Python's garbage collections stopped a process, by process and generation: a collection stops "
    "the whole event loop, so its pauses are part of the latency tail.",
    ["process", "generation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
INGEST_RESTARTS = Counter(
    "opswarden_ingest_process_restarts",
    "Input-stage processes (`OPSWARDEN_INGEST_PROCESSES`) that exited unexpectedly and were started again.",
    registry=REGISTRY,
)
BUILD_INFO = Info(
    "opswarden_build",
    "The running version, a hash of the effective configuration, and whether the per-event code runs compiled.",
    registry=REGISTRY,
)

_PARSED = "parsed"
_REJECTED = "rejected"


@runtime_checkable
class CountsPendingChanges(Protocol):
    """A detector that holds changes awaiting authorization (the judge) implements this to feed the gauge."""

    def pending_changes(self, store: Mapping[str, Any]) -> int: ...


@runtime_checkable
class CountsWarmup(Protocol):
    """A learning detector implements this: how many of its keys are (warming, warm)."""

    def warmup_counts(self, store: Mapping[str, Any]) -> tuple[int, int]: ...


def source_label(source: str) -> str:
    """`source` when it is a known source, else `other`: a typo in a topic map must not add series forever."""
    return source if source in KNOWN_SOURCES else OTHER_SOURCE


def record_parse(source: str, items: int, rejections: Iterable[Rejection]) -> None:
    """Count what parsing gave: `items` parsed, and each rejection under its reason class."""
    label = source_label(source)
    if items:
        EVENTS_CONSUMED.labels(label, _PARSED, "").inc(items)
    for reason, count in TallyCounter(rejection.reason for rejection in rejections).items():
        EVENTS_CONSUMED.labels(label, _REJECTED, reason.value).inc(count)


_VERDICT_AND_ENVIRONMENT = attrgetter("verdict", "environment")


def record_outputs(outputs: Outputs, now: datetime) -> None:
    """Count the ledger verdicts and the findings of one engine step, and observe each finding's lag at `now`."""
    judged = TallyCounter(map(_VERDICT_AND_ENVIRONMENT, outputs.ledger))  # in C: a generator ran as Python, per entry
    for (verdict, environment), count in judged.items():  # a label look-up per series, not per entry
        CHANGES_JUDGED.labels(verdict, environment).inc(count)
    now_seconds = now.timestamp()
    for finding in outputs.findings:
        finding_type = finding.finding_type if finding.finding_type in FINDING_TYPES else OTHER_TYPE
        if finding.status_id is Status.SUPPRESSED:
            rule = str(finding.unmapped.get("suppression", {}).get("rule", "unknown"))
            FINDINGS_SUPPRESSED.labels(finding_type, rule).inc()
        else:
            activity = Activity(finding.activity_id).name.lower()
            FINDINGS_ISSUED.labels(finding_type, finding.severity.lower(), activity).inc()
        END_TO_END_LAG.labels(finding_type).observe(max(0.0, now_seconds - finding.time / 1000))


def record_processing(topic: str, seconds: float) -> None:
    """Observe the wall-clock time one batch of messages from `topic` took to parse and route, up to its outputs
    being handed to the producer (delivery is awaited at the next commit)."""
    PROCESSING_LATENCY.labels(topic).observe(seconds)


def record_state_write(topic: str, seconds: float) -> None:
    STATE_WRITES.labels(topic).observe(seconds)


@dataclass
class EngineReading:
    """What one engine holds at one moment; the worker's gauges are the sum (or max) over its engines."""

    tracked_keys: dict[tuple[str, str], int] = field(default_factory=dict)
    pending_changes: int = 0
    warmup: dict[str, tuple[int, int]] = field(default_factory=dict)
    authorizations_in_force: int | None = None


def read_engine(engine: Engine) -> EngineReading:
    """Counts only: detectors that know their pending changes or warm-up state report them (see the Protocols)."""
    reading = EngineReading()
    for detector in engine.detectors:
        store = engine.stores[detector.name]
        reading.tracked_keys[detector.name, detector.key_kind.value] = len(store)
        if isinstance(detector, CountsPendingChanges):
            reading.pending_changes += detector.pending_changes(store)
        if isinstance(detector, CountsWarmup):
            reading.warmup[detector.name] = detector.warmup_counts(store)
    watermark = engine.context.watermark or engine.max_event_time
    if watermark is not None:
        reading.authorizations_in_force = engine.context.authorizations.in_force_count(watermark)
    return reading


_engine_readings: WeakKeyDictionary[Engine, EngineReading] = WeakKeyDictionary()
_evictions_seen: WeakKeyDictionary[Engine, TallyCounter[str]] = WeakKeyDictionary()
_JUDGED_EARLY = "changes judged early"  # counted beside the evictions seen, under a name no detector has
_engines_lock = threading.Lock()


def record_engine_state(engine: Engine) -> None:
    """Refresh the state gauges with one engine's reading; call it on the runtime's timer for every engine.

    A worker holds one engine per assigned partition (and agent): the key and pending gauges are the sums over
    the engines read since the last rebalance, authorizations in force (global state, the same everywhere) the
    maximum. Evictions are added as the difference since the previous call for the same engine.
    """
    with _engines_lock:
        _engine_readings[engine] = read_engine(engine)
        _publish_engine_readings(list(_engine_readings.values()))
        seen = _evictions_seen.setdefault(engine, TallyCounter())
        for detector_name, total in engine.evictions.items():
            if total > seen[detector_name]:
                EVICTED_KEYS.labels(detector_name).inc(total - seen[detector_name])
                seen[detector_name] = total
        early = engine.context.judged_early
        if early > seen[_JUDGED_EARLY]:
            JUDGED_EARLY.inc(early - seen[_JUDGED_EARLY])
            seen[_JUDGED_EARLY] = early


def _publish_engine_readings(readings: list[EngineReading]) -> None:
    tracked: TallyCounter[tuple[str, str]] = TallyCounter()
    warming: TallyCounter[str] = TallyCounter()
    warm: TallyCounter[str] = TallyCounter()
    for reading in readings:
        tracked.update(reading.tracked_keys)
        for detector_name, (cold, ready) in reading.warmup.items():
            warming[detector_name] += cold
            warm[detector_name] += ready
    for (detector_name, key_kind), count in tracked.items():
        TRACKED_KEYS.labels(detector_name, key_kind).set(count)
    for detector_name in warming.keys() | warm.keys():
        MODEL_KEYS.labels(detector_name, "warming").set(warming[detector_name])
        MODEL_KEYS.labels(detector_name, "warm").set(warm[detector_name])
    PENDING_CHANGES.set(sum(reading.pending_changes for reading in readings))
    in_force = [r.authorizations_in_force for r in readings if r.authorizations_in_force is not None]
    if in_force:
        AUTHORIZATIONS_IN_FORCE.set(max(in_force))


def record_dead_letter(topic: str, reason: RejectReason) -> None:
    """Count one message sent to the dead-letter topic, by the topic it came from and why."""
    DEAD_LETTERS.labels(topic, reason.value).inc()


def record_consumer_lag(topic: str, partition: int, lag: int) -> None:
    """Set how many messages this worker is behind on one assigned partition (end minus committed offset)."""
    CONSUMER_LAG.labels(topic, str(partition)).set(max(0, lag))


def record_gap(topic: str, skipped: int) -> None:
    """`skipped` 0 creates the series at zero, so the first hole shows in `increase()` (see `initialise_series`)."""
    GAPS.labels(topic).inc(skipped)


def record_released_early(topic: str, items: int) -> None:
    """`items` 0 creates the series at zero, as `record_gap` does."""
    RELEASED_EARLY.labels(topic).inc(items)


SNAPSHOT_OUTCOMES = ("written", "restored", "merged", "refused", "too_large", "undelivered")


def record_model_snapshot(model: str, outcome: str, count: int = 1) -> None:
    """`count` 0 creates the series at zero, as `record_gap` does."""
    MODEL_SNAPSHOTS.labels(model, outcome).inc(count)


class CpuMeter:
    """Adds the CPU time this process used since the last `record()` to `opswarden_cpu_seconds_total{process}`.

    Called every second from each process's event loop. The process collector's `process_cpu_seconds_total`
    covers the worker alone (its input-stage processes relay opswarden's series only), so saturation and the
    CPU an event costs are read from this one family, one series per process.
    """

    def __init__(self, process: str, clock: Callable[[], float] = time.process_time) -> None:
        self._series = CPU_SECONDS.labels(process)
        self._clock = clock
        self._last = clock()

    def record(self) -> None:
        now = self._clock()
        self._series.inc(max(now - self._last, 0.0))
        self._last = now


def time_gc_pauses(process: str) -> Callable[[str, dict[str, int]], None]:
    """Observe every garbage collection of this process in `opswarden_gc_pause_seconds` (its series start at zero);
    returns the callback it added to `gc.callbacks`."""
    pauses = [GC_PAUSES.labels(process, str(generation)) for generation in range(3)]
    started = 0.0

    def on_collection(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            pauses[info["generation"]].observe(time.perf_counter() - started)

    gc.callbacks.append(on_collection)
    return on_collection


#: The `process` label of the worker's own process; its input-stage processes are `input-<slot>`.
WORKER_PROCESS = "worker"


def input_process_label(slot: int) -> str:
    return f"input-{slot}"


def record_ingest_restart() -> None:
    INGEST_RESTARTS.inc()


def record_rebalance() -> None:
    """Count a rebalance and forget the lag and engines of partitions this worker may no longer own.

    Lag and engine state are recorded again for the partitions assigned after the rebalance; without the reset
    a partition that moved to another worker would be counted on both.
    """
    REBALANCES.inc()
    CONSUMER_LAG.clear()
    with _engines_lock:
        _engine_readings.clear()


def config_hash(config: OpswardenConfig) -> str:
    """A short stable hash of the effective configuration, to tell which workers run which config."""
    canonical = orjson.dumps(config.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:12]


def set_build_info(version: str, config: OpswardenConfig, code: str) -> None:
    """Publish `opswarden_build_info{version, config_hash, code} 1` once at worker start (`code`: whether the
    per-event modules run compiled, `compiled.mode`), and start the series the config bounds at zero
    (`initialise_series`)."""
    BUILD_INFO.info({"version": version, "config_hash": config_hash(config), "code": code})
    initialise_series(config)


def initialise_series(config: OpswardenConfig) -> None:
    """Create every verdict, finding, suppression and end-to-end lag series at zero.

    Prometheus's `increase()` cannot see the first increment of a series it never saw at zero, so without this
    the first unauthorized change after a worker start would raise no alert.
    """
    environments = {*config.environments.environments, config.environments.default_environment}
    for environment in environments - set(config.environments.unjudged):
        for verdict in VERDICTS:
            CHANGES_JUDGED.labels(verdict, environment)
    for finding_type in FINDING_TYPES:
        END_TO_END_LAG.labels(finding_type)
        for severity in SEVERITIES:
            for activity in ACTIVITIES:
                FINDINGS_ISSUED.labels(finding_type, severity, activity)
        for rule in config.suppressions:
            if glob_match(rule.finding_type, finding_type):
                FINDINGS_SUPPRESSED.labels(finding_type, rule.id)


class LagRecordingMonitor(PrometheusMonitor):
    """Faust's Prometheus monitor, which also sets `opswarden_consumer_lag_messages` at each offset commit.

    Faust tracks each partition's end offset as it fetches and its committed offset as it commits; the lag is
    their difference, refreshed per commit rather than per message to keep the fetch path cheap.
    """

    def on_tp_commit(self, tp_offsets: TPOffsetMapping) -> None:
        super().on_tp_commit(tp_offsets)
        for tp, committed in tp_offsets.items():
            end = self.tp_end_offsets.get(tp)
            if end is not None:
                record_consumer_lag(tp.topic, tp.partition, end - committed)


@cache
def _faust_metrics() -> FaustMetrics:
    return FaustMetrics.create(REGISTRY, FAUST_METRICS_PREFIX)


def install_faust_sensors(app: AppT) -> None:
    """Attach Faust's Prometheus sensors to `app`, writing into `REGISTRY` under the `opswarden_faust_` prefix.

    Call before the worker starts; `serve_metrics` serves them with opswarden's own, and consumer lag is
    recorded from then on. This is what `faust.sensors.prometheus.setup_prometheus_sensors` does, less its web
    page (a worker may run without Faust's web server), and safe to call for several apps in one process:
    they share one set of metrics.
    """
    app.monitor = LagRecordingMonitor(metrics=_faust_metrics())


#: One relayed sample: family name, family type, sample name, sorted labels, value.
RelayedSample = tuple[str, str, str, tuple[tuple[str, str], ...], float]
_RELAYED_TYPES = ("counter", "gauge", "histogram")
_KEPT_AFTER_EXIT = ("counter", "histogram")


def relay_snapshot(registry: CollectorRegistry = REGISTRY) -> list[RelayedSample]:
    """This process's opswarden series, for the worker process that serves them (`MergedRegistry`)."""
    return [
        (family.name, family.type, sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for family in registry.collect()
        if family.name.startswith("opswarden_") and family.type in _RELAYED_TYPES
        for sample in family.samples
        if not sample.name.endswith("_created")
    ]


class MergedRegistry:
    """`REGISTRY` plus the series its worker's input-stage processes relay (`streams.ingest_processes`).

    Each series is the sum over the processes, as Prometheus's own multiprocess mode sums them: counters and
    histograms add up, and the per-partition gauges a process sets (consumer lag) belong to it alone. A process
    that exits leaves its counters and histograms in the sum, so they never go back; its gauges go with it.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._live: dict[int, list[RelayedSample]] = {}
        self._kept: list[RelayedSample] = []
        self._lock = threading.Lock()

    def update(self, process: int, samples: list[RelayedSample]) -> None:
        with self._lock:
            self._live[process] = samples

    def retire(self, process: int) -> None:
        with self._lock:
            gone = self._live.pop(process, [])
            self._kept = _summed([*self._kept, *(sample for sample in gone if sample[1] in _KEPT_AFTER_EXIT)])

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            relayed = _summed([*self._kept, *(sample for samples in self._live.values() for sample in samples)])
        added: dict[str, list[RelayedSample]] = {}
        for sample in relayed:
            added.setdefault(sample[0], []).append(sample)
        for metric in self.registry.collect():
            extra = added.get(metric.name)
            if not extra:
                yield metric
                continue
            values = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in metric.samples}
            for _family, _kind, name, labels, value in extra:
                values[name, labels] = values.get((name, labels), 0.0) + value
            merged = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            for (name, labels), value in values.items():
                merged.add_sample(name, dict(labels), value)
            yield merged


def _summed(samples: list[RelayedSample]) -> list[RelayedSample]:
    """One sample per series, in first-seen order (a histogram's buckets stay together)."""
    totals: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], float] = {}
    for family, kind, name, labels, value in samples:
        totals[family, kind, name, labels] = totals.get((family, kind, name, labels), 0.0) + value
    return [(*key, value) for key, value in totals.items()]


#: What a worker serves: its own series and its input-stage processes'.
SERVED = MergedRegistry(REGISTRY)


def serve_metrics(port: int, host: str, health: Health | None = None) -> WSGIServer:
    """Serve `SERVED` at http://host:port/metrics from a daemon thread (the port: `Settings.metrics_port`), and,
    given `health`, the probes `/healthz` and `/readyz` (`streams.health`).

    Port 0 picks a free port: read it back from `server.server_port`. Stop with `shutdown()` then `server_close()`.
    """
    app = make_wsgi_app(SERVED)
    server = make_server(host, port, with_probes(app, health) if health else app, ThreadingWSGIServer, _QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    return server


class _QuietHandler(WSGIRequestHandler):
    """Scrapes and probes every few seconds are not worth a log line each."""

    def log_message(self, format: str, *args: Any) -> None:
        return None

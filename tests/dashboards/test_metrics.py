"""The metric functions the runtime calls record what they say, under bounded labels."""

from __future__ import annotations

import gc
import re
import time
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from detectors import anomaly, creep, judge, loops
from detectors.base import Detector, KeyKind, LedgerEntry, Outputs
from detectors.context import DetectionContext
from detectors.engine import Engine
from detectors.findings import FindingSpec
from models.authorization import AuthorizationRecord, AuthStatus
from models.config import EnvironmentConfig, EnvironmentSelectors, OpswardenConfig, SuppressionRule
from models.finding import Activity, DetectionFinding, Severity
from models.parsers.base import Parsed
from models.rejection import Rejection, RejectReason
from streams import metrics
from tests.dashboards.conftest import ROOT

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def finding(finding_type: str, activity: Activity = Activity.CREATE, at: datetime = T0) -> DetectionFinding:
    return FindingSpec(
        detector="judge",
        finding_type=finding_type,
        subject="role/deployer",
        first_event_id="evt-1",
        time=at,
        first_seen=at,
        severity=Severity.HIGH,
        message="test",
        activity=activity,
        environment="production",
    ).build()


def ledger(verdict: str, environment: str = "production") -> LedgerEntry:
    return LedgerEntry("evt-1", T0, "role/deployer", "ec2:RunInstances", (), environment, verdict, None, None)


def test_record_parse_counts_items_and_rejections_by_reason() -> None:
    before_parsed = value("opswarden_events_consumed_total", source="k8s", outcome="parsed", reason="")
    before_bad = value("opswarden_events_consumed_total", source="k8s", outcome="rejected", reason="not_json")
    metrics.record_parse("k8s", 3, [Rejection(reason=RejectReason.NOT_JSON, detail="x")] * 2)
    assert value("opswarden_events_consumed_total", source="k8s", outcome="rejected", reason="not_json") == (
        before_bad + 2
    )
    assert value("opswarden_events_consumed_total", source="k8s", outcome="parsed", reason="") == before_parsed + 3


def test_unknown_sources_share_one_label_value() -> None:
    before = value("opswarden_events_consumed_total", source="other", outcome="rejected", reason="wrong_shape")
    for name in ("typo-1", "typo-2"):
        metrics.record_parse(name, 0, [Rejection(reason=RejectReason.WRONG_SHAPE, detail="x")])
    assert value("opswarden_events_consumed_total", source="other", outcome="rejected", reason="wrong_shape") == (
        before + 2
    )


def test_record_outputs_counts_verdicts_findings_and_lag() -> None:
    labels = {"type": "remediation_loop", "severity": "high"}
    before_create = value("opswarden_findings_issued_total", **labels, activity="create")
    before_close = value("opswarden_findings_issued_total", **labels, activity="close")
    before_judged = value("opswarden_changes_judged_total", verdict="unauthorized_change", environment="staging")
    before_lag = value("opswarden_end_to_end_lag_seconds_count", type="remediation_loop")
    before_lag_sum = value("opswarden_end_to_end_lag_seconds_sum", type="remediation_loop")
    outputs = Outputs(
        findings=[finding("remediation_loop"), finding("remediation_loop", Activity.CLOSE)],
        ledger=[ledger("unauthorized_change", "staging"), *[ledger("authorized", "staging")] * 2],
    )
    before_authorized = value("opswarden_changes_judged_total", verdict="authorized", environment="staging")
    metrics.record_outputs(outputs, now=T0 + timedelta(seconds=30))
    assert value("opswarden_findings_issued_total", **labels, activity="create") == before_create + 1
    assert value("opswarden_findings_issued_total", **labels, activity="close") == before_close + 1
    assert value("opswarden_changes_judged_total", verdict="unauthorized_change", environment="staging") == (
        before_judged + 1
    )
    assert value("opswarden_changes_judged_total", verdict="authorized", environment="staging") == before_authorized + 2
    assert value("opswarden_end_to_end_lag_seconds_count", type="remediation_loop") == before_lag + 2
    assert value("opswarden_end_to_end_lag_seconds_sum", type="remediation_loop") == pytest.approx(before_lag_sum + 60)


def test_suppressed_findings_count_by_rule_not_as_issued() -> None:
    config = OpswardenConfig(
        suppressions=(SuppressionRule(id="quiet-creep", finding_type="permission_creep", reason="r", owner="o"),)
    )
    engine = Engine(config, [])
    suppressed = engine.suppressor.apply(finding("permission_creep"))
    issued = {"type": "permission_creep", "severity": "high", "activity": "create"}
    before_issued = value("opswarden_findings_issued_total", **issued)
    before = value("opswarden_findings_suppressed_total", type="permission_creep", rule="quiet-creep")
    metrics.record_outputs(Outputs(findings=[suppressed]), now=T0)
    assert value("opswarden_findings_suppressed_total", type="permission_creep", rule="quiet-creep") == before + 1
    assert value("opswarden_findings_issued_total", **issued) == before_issued


class CountingDetector(Detector[dict[str, int]]):
    """Keeps a count per target; reports itself as warm after two events and one pending change per key."""

    name = "counting"
    key_kind = KeyKind.TARGET

    def keys(self, item: Parsed) -> list[str]:
        return [getattr(item, "target", "")]

    def new_state(self) -> dict[str, int]:
        return {"seen": 0}

    def on_item(self, key: str, state: dict[str, int], item: Parsed, ctx: DetectionContext) -> Outputs:
        state["seen"] += 1
        return Outputs()

    def pending_changes(self, store: Mapping[str, Any]) -> int:
        return len(store)

    def warmup_counts(self, store: Mapping[str, Any]) -> tuple[int, int]:
        warm = sum(1 for state in store.values() if state["seen"] >= 2)
        return len(store) - warm, warm

    def encode_state(self, state: dict[str, int]) -> bytes:
        return str(state["seen"]).encode()

    def decode_state(self, data: bytes) -> dict[str, int]:
        return {"seen": int(data)}


def counting_engine(states: dict[str, dict[str, int]], evictions: int) -> Engine:
    config = OpswardenConfig()
    engine = Engine(config, [CountingDetector(config)])
    engine.stores["counting"].update(states)
    engine.context.authorizations.upsert(
        AuthorizationRecord(id="CHG1", status=AuthStatus.APPROVED, owner="o", principals=("p",), actions=("*",))
    )
    engine.max_event_time = T0
    engine.evictions["counting"] = evictions
    engine.context.judged_early = evictions * 10
    return engine


def test_engine_state_gauges_sum_over_a_workers_partition_engines() -> None:
    metrics.record_rebalance()
    first = counting_engine({"svc/a": {"seen": 3}, "svc/b": {"seen": 1}}, evictions=5)
    second = counting_engine({"svc/c": {"seen": 2}}, evictions=2)
    before_evicted = value("opswarden_evicted_keys_total", detector="counting")
    before_early = value("opswarden_changes_judged_early_total")
    for engine in (first, second, first, second):  # the runtime's timer, twice
        metrics.record_engine_state(engine)
    assert value("opswarden_tracked_keys", detector="counting", key_kind="target") == 3
    assert value("opswarden_model_keys", detector="counting", state="warm") == 2
    assert value("opswarden_model_keys", detector="counting", state="warming") == 1
    assert value("opswarden_pending_changes") == 3
    assert value("opswarden_authorizations_in_force") == 1
    assert value("opswarden_evicted_keys_total", detector="counting") == before_evicted + 7
    assert value("opswarden_changes_judged_early_total") == before_early + 70
    metrics.record_rebalance()  # the second partition moved away
    metrics.record_engine_state(first)
    assert value("opswarden_tracked_keys", detector="counting", key_kind="target") == 2


def test_rebalance_forgets_partition_lag() -> None:
    metrics.record_consumer_lag("audit.k8s", 3, 120)
    assert value("opswarden_consumer_lag_messages", topic="audit.k8s", partition="3") == 120
    before = value("opswarden_rebalances_total")
    metrics.record_rebalance()
    assert value("opswarden_rebalances_total") == before + 1
    lag_labels = {"topic": "audit.k8s", "partition": "3"}
    assert metrics.REGISTRY.get_sample_value("opswarden_consumer_lag_messages", lag_labels) is None


def test_faust_monitor_records_lag_at_each_commit() -> None:
    app = faust.App("metrics-test-lag", broker="kafka://127.0.0.1:1")
    metrics.install_faust_sensors(app)
    partition = TP("audit.azure", 2)
    app.monitor.track_tp_end_offset(partition, 500)
    app.monitor.on_tp_commit({partition: 380})
    assert value("opswarden_consumer_lag_messages", topic="audit.azure", partition="2") == 120
    app.monitor.on_tp_commit({partition: 500})
    assert value("opswarden_consumer_lag_messages", topic="audit.azure", partition="2") == 0


def test_dead_letters_count_by_topic_and_reason() -> None:
    before = value("opswarden_dead_letters_total", topic="audit.gcp", reason="too_large")
    metrics.record_dead_letter("audit.gcp", RejectReason.TOO_LARGE)
    assert value("opswarden_dead_letters_total", topic="audit.gcp", reason="too_large") == before + 1


def test_series_start_at_zero_so_the_first_event_after_a_start_is_an_increase() -> None:
    config = OpswardenConfig(
        environments=EnvironmentConfig(environments={"qa-zero": EnvironmentSelectors(accounts=("1",))}),
        suppressions=(SuppressionRule(id="zero-rule", finding_type="remediation_*", reason="r", owner="o"),),
    )
    metrics.set_build_info("1.2.3", config, "compiled")
    read = metrics.REGISTRY.get_sample_value
    for verdict in metrics.VERDICTS:
        assert read("opswarden_changes_judged_total", {"verdict": verdict, "environment": "qa-zero"}) == 0
    issued = {"type": "credential_outlived_task", "severity": "critical", "activity": "update"}
    assert read("opswarden_findings_issued_total", issued) is not None
    assert read("opswarden_findings_suppressed_total", {"type": "remediation_loop", "rule": "zero-rule"}) == 0
    assert read("opswarden_findings_suppressed_total", {"type": "permission_creep", "rule": "zero-rule"}) is None
    for finding_type in metrics.FINDING_TYPES:  # the p99 alert then works from a series' first observation
        assert read("opswarden_end_to_end_lag_seconds_count", {"type": finding_type}) is not None


def test_label_values_are_the_detectors_own() -> None:
    not_covered = {judge.UNAUTHORIZED, judge.OUT_OF_WINDOW, judge.OUT_OF_SCOPE, judge.REVOKED_USED}
    assert {judge.AUTHORIZED, judge.AUTHORIZED_BY_REGISTRY, *not_covered} == set(metrics.VERDICTS)
    other_detectors = {loops.FINDING, creep.FINDING, anomaly.FINDING}
    assert {*not_covered, *judge.CHECK_SEVERITY, *other_detectors} == set(metrics.FINDING_TYPES)
    before = value("opswarden_findings_issued_total", type="other", severity="high", activity="create")
    metrics.record_outputs(Outputs(findings=[finding("made_up_type")]), now=T0)
    assert value("opswarden_findings_issued_total", type="other", severity="high", activity="create") == before + 1


def test_build_info_carries_a_config_hash_that_changes_with_the_config_and_how_the_code_runs() -> None:
    default, changed = OpswardenConfig(), OpswardenConfig(allowed_lateness=timedelta(minutes=9))
    assert metrics.config_hash(default) == metrics.config_hash(OpswardenConfig())
    assert metrics.config_hash(default) != metrics.config_hash(changed)
    metrics.set_build_info("1.2.3", default, "partly compiled")
    labels = {"version": "1.2.3", "config_hash": metrics.config_hash(default), "code": "partly compiled"}
    assert value("opswarden_build_info", **labels) == 1


def test_one_endpoint_serves_opswarden_faust_and_process_metrics() -> None:
    for name in ("metrics-test-a", "metrics-test-b"):  # several apps in one process share the sensors
        metrics.install_faust_sensors(faust.App(name, broker="kafka://127.0.0.1:1"))
    server = metrics.serve_metrics(0, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert "# TYPE opswarden_findings_issued_total counter" in body
    assert "# TYPE opswarden_faust_messages_received_total counter" in body
    assert "process_resident_memory_bytes" in body


def test_every_metric_is_documented_and_every_documented_metric_exists() -> None:
    documented = set(re.findall(r"^\| `(opswarden_[a-z_]+)` \|", (ROOT / "README.md").read_text(), re.M))
    defined = {
        family.name + ("_total" if family.type == "counter" else "_info" if family.type == "info" else "")
        for family in metrics.REGISTRY.collect()
        if family.name.startswith("opswarden_") and not family.name.startswith(metrics.FAUST_METRICS_PREFIX)
    }
    assert documented == defined


def _ingest_like_metrics(registry: CollectorRegistry) -> tuple[Counter, Gauge, Histogram]:
    return (
        Counter("opswarden_test_consumed", "Consumed.", ["source"], registry=registry),
        Gauge("opswarden_test_lag_messages", "Lag.", ["partition"], registry=registry),
        Histogram("opswarden_test_batch_seconds", "Batches.", buckets=(1.0, 2.0), registry=registry),
    )


def _served(merged: metrics.MergedRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The exposition a scrape gets, parsed back: it must parse, one family per name."""
    families = list(text_string_to_metric_families(generate_latest(merged).decode()))  # type: ignore[arg-type]
    names = [family.name for family in families]
    assert len(names) == len(set(names))
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_served_series_sum_the_ingest_processes_and_a_gone_process_keeps_only_its_counters() -> None:
    worker = CollectorRegistry()
    consumed, _, _ = _ingest_like_metrics(worker)
    consumed.labels("cloudtrail").inc(2)
    child = CollectorRegistry()
    child_consumed, child_lag, child_batches = _ingest_like_metrics(child)
    child_consumed.labels("cloudtrail").inc(3)
    child_consumed.labels("k8s").inc()
    child_lag.labels("0").set(7)
    child_batches.observe(1.5)
    merged = metrics.MergedRegistry(worker)

    merged.update(101, metrics.relay_snapshot(child))
    served = _served(merged)
    assert served["opswarden_test_consumed_total", (("source", "cloudtrail"),)] == 5
    assert served["opswarden_test_consumed_total", (("source", "k8s"),)] == 1
    assert served["opswarden_test_lag_messages", (("partition", "0"),)] == 7
    assert served["opswarden_test_batch_seconds_bucket", (("le", "1.0"),)] == 0
    assert served["opswarden_test_batch_seconds_bucket", (("le", "2.0"),)] == 1
    assert served["opswarden_test_batch_seconds_count", ()] == 1

    merged.retire(101)  # the child exited: a new one starts from zero
    restarted = CollectorRegistry()
    again_consumed, _, _ = _ingest_like_metrics(restarted)
    again_consumed.labels("cloudtrail").inc(4)
    merged.update(102, metrics.relay_snapshot(restarted))
    served = _served(merged)
    assert served["opswarden_test_consumed_total", (("source", "cloudtrail"),)] == 2 + 3 + 4
    assert served["opswarden_test_batch_seconds_count", ()] == 1
    assert ("opswarden_test_lag_messages", (("partition", "0"),)) not in served
    assert worker.get_sample_value("opswarden_test_consumed_total", {"source": "cloudtrail"}) == 2  # not moved


def test_a_child_relays_only_opswarden_series() -> None:
    snapshot = metrics.relay_snapshot()
    assert snapshot
    assert all(family.startswith("opswarden_") for family, *_ in snapshot)
    assert not any(name.endswith("_created") for _family, _kind, name, _labels, _value in snapshot)


def test_cpu_meter_adds_what_the_clock_advanced_since_the_last_record() -> None:
    readings = iter([10.0, 10.25, 10.75, 10.5])  # the last goes back: a clock read on another thread's core
    meter = metrics.CpuMeter("input-7", clock=lambda: next(readings))
    before = value("opswarden_cpu_seconds_total", process="input-7")
    meter.record()
    assert value("opswarden_cpu_seconds_total", process="input-7") - before == 0.25
    meter.record()
    meter.record()
    assert value("opswarden_cpu_seconds_total", process="input-7") - before == 0.75


def test_cpu_meter_counts_the_cpu_this_process_spends() -> None:
    meter = metrics.CpuMeter("input-8")
    before = value("opswarden_cpu_seconds_total", process="input-8")
    spun = time.process_time() + 0.05
    while time.process_time() < spun:
        pass
    meter.record()
    spent = value("opswarden_cpu_seconds_total", process="input-8") - before
    assert spent >= 0.05
    time.sleep(0.3)  # waiting is not working
    meter.record()
    assert value("opswarden_cpu_seconds_total", process="input-8") - before - spent < 0.25


def test_an_input_process_relays_its_cpu_and_the_worker_serves_it_beside_its_own() -> None:
    metrics.CpuMeter(metrics.input_process_label(0), clock=iter([0.0, 3.0]).__next__).record()
    relayed = {
        (name, labels): count
        for family, _kind, name, labels, count in metrics.relay_snapshot()
        if family == "opswarden_cpu_seconds"
    }
    assert relayed["opswarden_cpu_seconds_total", (("process", "input-0"),)] >= 3.0

    metrics.CpuMeter(metrics.WORKER_PROCESS, clock=iter([0.0, 2.0]).__next__).record()
    merged = metrics.MergedRegistry(metrics.REGISTRY)
    merged.update(
        201, [("opswarden_cpu_seconds", "counter", "opswarden_cpu_seconds_total", (("process", "input-5"),), 3.0)]
    )
    served = _served(merged)
    assert served["opswarden_cpu_seconds_total", (("process", "input-5"),)] == 3.0
    assert served["opswarden_cpu_seconds_total", (("process", "worker"),)] >= 2.0


def test_each_garbage_collection_is_timed_by_process_and_generation() -> None:
    was_enabled = gc.isenabled()
    gc.disable()  # only the two collections below: an automatic one in between would be counted too
    timing = metrics.time_gc_pauses("input-9")
    try:
        assert value("opswarden_gc_pause_seconds_count", process="input-9", generation="2") == 0  # zero from the start
        gc.collect(1)
        gc.collect()
    finally:
        gc.callbacks.remove(timing)
        if was_enabled:
            gc.enable()
    assert value("opswarden_gc_pause_seconds_count", process="input-9", generation="1") == 1
    assert value("opswarden_gc_pause_seconds_count", process="input-9", generation="2") == 1
    assert value("opswarden_gc_pause_seconds_sum", process="input-9", generation="2") > 0

"""activity_anomaly: change and denial bursts against each principal's own learned rate, after warm-up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from detectors.anomaly import ActivityAnomalyDetector
from detectors.engine import Engine, run
from models.config import ConfigError, OpswardenConfig, load_config
from models.events import ChangeEvent, Outcome, Principal, PrincipalKind, Source
from models.finding import Activity, DetectionFinding, Severity

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
WHO = Principal(uid="arn:aws:sts::1:assumed-role/etl/s", issuer="arn:aws:iam::1:role/etl", kind=PrincipalKind.MACHINE)


def calls(start: datetime, n: int, span: float, *, denied: bool = False, seed: int = 0) -> list[ChangeEvent]:
    rng = random.Random(seed)
    return [
        ChangeEvent(
            event_id=f"{start.isoformat()}-{seed}-{k}",
            source=Source.CLOUDTRAIL,
            event_time=start + timedelta(seconds=rng.uniform(0, span)),
            principal=WHO,
            action="s3:GetObject" if denied else "ec2:CreateTags",
            outcome=Outcome.DENIED if denied else Outcome.SUCCESS,
            error_code="AccessDenied" if denied else None,
            is_change=not denied,
        )
        for k in range(n)
    ]


def routine(buckets: int, pace: int) -> list[ChangeEvent]:
    """`pace` changes in each of `buckets` consecutive 10-minute buckets."""
    events = []
    for b in range(buckets):
        events += calls(T0 + timedelta(minutes=10 * b), pace, 590, seed=b)
    return events


def anomalies(events: list[ChangeEvent], config: OpswardenConfig | None = None) -> list[DetectionFinding]:
    config = config or OpswardenConfig()
    ordered = sorted(events, key=lambda e: e.event_time)
    return run(Engine(config, [ActivityAnomalyDetector(config)]), ordered).findings


def test_no_finding_before_warm_up() -> None:
    events = routine(3, 5) + calls(T0 + timedelta(minutes=30), 100, 300)
    assert anomalies(events) == []


def test_a_change_burst_opens_grows_and_closes_with_its_baseline() -> None:
    burst_at = T0 + timedelta(minutes=120)
    events = routine(12, 5) + calls(burst_at, 120, 300, seed=99)
    found = anomalies(events)
    assert [f.activity_id for f in found] == [Activity.CREATE, Activity.UPDATE, Activity.UPDATE, Activity.CLOSE]
    create = found[0]
    assert create.unmapped["signals"] == ["change_burst"]
    assert OpswardenConfig().anomaly.min_changes <= create.unmapped["count"] <= 30  # raised as the floor is crossed
    assert create.severity_id is Severity.MEDIUM
    baseline = create.anomaly_analyses[0].baselines[0]
    observed = {o.name: o.value for o in baseline.observations}
    assert float(observed["changes_per_active_bucket"]) == pytest.approx(5, abs=0.5)
    evidence = create.evidences[0].data or {}
    assert evidence["model_score"]["change_z"] >= OpswardenConfig().anomaly.z_threshold
    assert len({f.uid for f in found}) == 1


def test_a_burst_of_access_denied_is_a_high_severity_signal() -> None:
    events = routine(8, 5) + calls(T0 + timedelta(minutes=80), 15, 200, denied=True, seed=7)
    found = anomalies(events)
    assert found[0].unmapped["signals"] == ["denied_burst"]
    assert found[0].severity_id is Severity.HIGH


def test_a_burst_split_by_a_bucket_boundary_is_seen_whole() -> None:
    boundary = T0 + timedelta(minutes=100)
    split = calls(boundary - timedelta(seconds=100), 8, 90, denied=True, seed=3)
    split += calls(boundary + timedelta(seconds=5), 8, 90, denied=True, seed=4)
    found = anomalies(routine(10, 5) + split)
    assert [f.unmapped["signals"] for f in found if f.activity_id is Activity.CREATE] == [["denied_burst"]]


def test_a_busy_principal_is_judged_by_its_own_rate_not_the_floor() -> None:
    steady = routine(20, 45)  # every bucket is above the 25-change floor
    assert anomalies(steady) == []
    assert anomalies(steady + calls(T0 + timedelta(minutes=200), 160, 500, seed=5))[0].unmapped["signals"] == [
        "change_burst"
    ]


def test_invalid_anomaly_settings_are_rejected_with_their_path() -> None:
    with pytest.raises(ConfigError, match=r"anomaly\.bucket"):
        load_config({"anomaly": {"bucket": "PT0S"}})
    with pytest.raises(ConfigError, match=r"anomaly\.z_threshold"):
        load_config({"anomaly": {"z_threshold": 0}})


def test_idle_and_surplus_principals_are_evicted_and_counted() -> None:
    config = load_config({"anomaly": {"max_principals": 5}})
    detector = ActivityAnomalyDetector(config)
    engine = Engine(config, [detector])
    for i in range(20):
        who = Principal(uid=f"arn:aws:iam::1:user/u{i}", kind=PrincipalKind.HUMAN)
        at = T0 + timedelta(minutes=2 * i)
        engine.process(
            ChangeEvent(
                event_id=f"u{i}",
                source=Source.CLOUDTRAIL,
                event_time=at,
                principal=who,
                action="ec2:CreateTags",
                is_change=True,
            )
        )
    assert len(engine.stores[detector.name]) <= 5 + 1  # the cap holds at each sweep; one may arrive after it
    assert engine.evictions[detector.name] >= 14


def test_warmup_counts_split_principals_by_history() -> None:
    config = OpswardenConfig()
    detector = ActivityAnomalyDetector(config)
    engine = Engine(config, [detector])
    other = Principal(uid="arn:aws:iam::1:user/new", kind=PrincipalKind.HUMAN)
    for event in [
        *routine(config.anomaly.warmup_buckets + 1, 3),
        calls(T0, 1, 1)[0].model_copy(update={"principal": other}),
    ]:
        engine.process(event)
    assert detector.warmup_counts(engine.stores[detector.name]) == (1, 1)


def test_a_stretch_read_again_after_a_restore_is_not_a_burst_beyond_the_remembered_ids() -> None:
    """After a restore the input since the last commit is read again: more events than a key remembers ids of.
    They belong to buckets already closed (input arrives in event-time order), so they are not counted."""
    config = load_config({"anomaly": {"remembered_events": 4}})
    history = sorted(routine(12, 5), key=lambda e: e.event_time)
    arrival = [*history, *history[-30:]]  # six buckets' worth read again, in order, after the rest
    assert run(Engine(config, [ActivityAnomalyDetector(config)]), arrival).findings == []


def test_redelivered_events_are_counted_once() -> None:
    """At-least-once delivery replays the last batch after a crash: that must not look like a burst."""
    history = routine(12, 5)
    recent = calls(T0 + timedelta(minutes=120), 8, 300)
    assert anomalies(history + recent) == []
    assert anomalies(history + recent * 5) == []

"""remediation_loop: repetition, flip-flop and ineffective fixes per target, against learned baselines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detectors.engine import Engine, run
from detectors.loops import RemediationLoopDetector
from models.config import ConfigError, OpswardenConfig, load_config
from models.events import (
    ActionEvent,
    ActionPhase,
    AlertEvent,
    AlertStatus,
    ChangeEvent,
    Principal,
    PrincipalKind,
    Source,
    Trigger,
)
from models.finding import Activity, DetectionFinding, Severity
from models.parsers.base import Parsed
from models.registry import Workflow
from tests.detectors.builders import restarted

T0 = datetime(2026, 3, 2, tzinfo=UTC)
POD = "k8s:prod-eu/payments/pods/api-1"


class Feed:
    """Builds the events of a test with unique ids."""

    def __init__(self) -> None:
        self.items: list[Parsed] = []
        self.n = 0

    def _id(self) -> str:
        self.n += 1
        return f"ev-{self.n:05d}"

    def action(
        self,
        at: datetime,
        target: str = POD,
        workflow: str = "restarter",
        action: str = "k8s:delete:pods",
        **kw: object,
    ) -> None:
        run_id = self._id()
        for phase, offset in ((ActionPhase.STARTED, 0), (ActionPhase.SUCCEEDED, 20)):
            self.items.append(
                ActionEvent(
                    id=self._id(),
                    time=at + timedelta(seconds=offset),
                    workflow=workflow,
                    run_id=run_id,
                    phase=phase,
                    action=action,
                    target=target,
                    principal=f"system:serviceaccount:aiops:{workflow}",
                    **kw,  # type: ignore[arg-type]
                )
            )

    def change(self, at: datetime, who: Principal, action: str, target: str, **details: object) -> None:
        self.items.append(
            ChangeEvent(
                event_id=self._id(),
                source=Source.CLOUDTRAIL,
                event_time=at,
                principal=who,
                action=action,
                resources=(target,),
                is_change=True,
                details=details,
            )
        )

    def alert(self, at: datetime, fingerprint: str, target: str = POD) -> None:
        self.items.append(
            AlertEvent(
                id=self._id(), time=at, status=AlertStatus.FIRING, alert="Lag", fingerprint=fingerprint, target=target
            )
        )


def bot(name: str) -> Principal:
    return Principal(uid=f"arn:aws:iam::1:role/{name}", kind=PrincipalKind.MACHINE)


def loops(items: list[Parsed], config: OpswardenConfig | None = None) -> list[DetectionFinding]:
    config = config or OpswardenConfig()
    ordered = sorted(items, key=lambda i: i.time if isinstance(i, ActionEvent | AlertEvent) else i.event_time)  # type: ignore[union-attr]
    return run(Engine(config, [RemediationLoopDetector(config)]), ordered).findings


def test_a_restart_loop_is_one_episode_that_grows_and_closes() -> None:
    feed = Feed()
    for k in range(8):
        feed.action(T0 + timedelta(minutes=3 * k))
    found = loops(feed.items)
    assert [f.activity_id for f in found] == [Activity.CREATE, Activity.UPDATE, Activity.CLOSE]
    assert len({f.uid for f in found}) == 1
    assert [f.unmapped["revision"] for f in found] == [0, 1, 2]
    assert [f.unmapped["count"] for f in found] == [3, 6, 8]
    create = found[0]
    assert create.unmapped["loop_kind"] == "repetition"
    assert create.unmapped["workflow"] == "restarter"
    assert create.unmapped["principal"] == "system:serviceaccount:aiops:restarter"
    assert create.unmapped["target"] == POD
    assert create.unmapped["action"] == "k8s:delete:pods"
    assert create.unmapped["period_seconds"] == pytest.approx(180, abs=1)
    assert create.time == int((T0 + timedelta(minutes=6)).timestamp() * 1000)  # the third repetition
    evidence = create.evidences[0].data or {}
    assert evidence["threshold"]["min_repetitions"] == 3
    assert create.anomaly_analyses[0].baselines
    closed_at = T0 + timedelta(minutes=21) + OpswardenConfig().loops.quiet_period
    assert found[-1].time == int(closed_at.timestamp() * 1000)


def test_redelivered_events_are_not_repetitions() -> None:
    """At-least-once delivery replays the last batch after a crash: two restarts read twice are not a loop."""
    feed, changes = Feed(), Feed()
    for k in range(2):
        feed.action(T0 + timedelta(minutes=3 * k))
        changes.change(T0 + timedelta(minutes=3 * k), bot("fixer"), "ec2:RebootInstances", "arn:aws:ec2:1:i-1")
    assert loops(feed.items) == []
    assert loops(feed.items * 3) == []
    assert loops(changes.items * 3) == []
    feed.action(T0 + timedelta(minutes=6))
    assert [f.unmapped["count"] for f in loops(feed.items * 2)][:1] == [3]


def test_twice_a_day_is_normal_and_every_three_minutes_is_a_loop() -> None:
    feed = Feed()
    for day in range(5):
        for hour in (6, 18):
            feed.action(T0 + timedelta(days=day, hours=hour))
    assert loops(feed.items) == []
    burst = T0 + timedelta(days=5, hours=9)
    for k in range(4):
        feed.action(burst + timedelta(minutes=3 * k))
    found = loops(feed.items)
    assert found[0].activity_id is Activity.CREATE
    assert found[0].time == int((burst + timedelta(minutes=6)).timestamp() * 1000)
    evidence = found[0].evidences[0].data or {}
    assert evidence["baseline"]["warm"] is True
    assert evidence["baseline"]["period_seconds"] > 6 * 3600
    assert evidence["model_score"] <= -OpswardenConfig().loops.z_threshold


def test_a_learned_double_restart_routine_is_not_flagged_where_the_floor_alone_would() -> None:
    feed = Feed()
    for day in range(6):
        for hour in (6, 18):  # restart, then restart again to verify: twice, twice a day
            feed.action(T0 + timedelta(days=day, hours=hour))
            feed.action(T0 + timedelta(days=day, hours=hour, minutes=5))
    burst = T0 + timedelta(days=6, hours=6)
    for k in range(3):
        feed.action(burst + timedelta(minutes=5 * k))
    learned = loops(feed.items)
    floors_only = loops(feed.items, load_config({"loops": {"warmup_gaps": 10_000}}))
    assert [f for f in learned if f.time >= int(burst.timestamp() * 1000)] == []
    assert any(f.time == int((burst + timedelta(minutes=10)).timestamp() * 1000) for f in floors_only)


def test_a_fleet_wide_wave_is_not_a_loop_but_the_same_on_one_target_is() -> None:
    fleet, single = Feed(), Feed()
    for wave in range(3):
        for i in range(12):
            fleet.action(T0 + timedelta(minutes=15 * wave, seconds=5 * i), target=f"k8s:prod-eu/web/pods/fe-{i}")
        single.action(T0 + timedelta(minutes=15 * wave))
    assert loops(fleet.items) == []
    assert [f.unmapped["loop_kind"] for f in loops(single.items)][:1] == ["repetition"]


@pytest.mark.parametrize("models", [True, False])
def test_a_wave_in_progress_at_a_restart_is_still_a_wave_once_the_fan_out_is_restored(models: bool) -> None:
    """A worker replaced between two waves of a fleet-wide patch: with the fan-out snapshot, the third wave is
    the wave it is; without, each target's third patch looks like a loop until the wave is seen again."""
    fleet = Feed()
    for wave in range(3):
        for i in range(12):
            fleet.action(T0 + timedelta(minutes=15 * wave, seconds=5 * i), target=f"k8s:prod-eu/web/pods/fe-{i}")
    config = OpswardenConfig()
    cut = 2 * 12 * 2  # two waves of runs, each a start and a success
    before = Engine(config, [RemediationLoopDetector(config)])
    findings = [f for item in fleet.items[:cut] for f in before.process(item).findings]
    after = restarted(before, config, lambda c: [RemediationLoopDetector(c)], models=models)
    findings += run(after, fleet.items[cut:]).findings
    assert (findings == []) is models
    if not models:
        assert {f.unmapped["loop_kind"] for f in findings} == {"repetition"}


@pytest.mark.parametrize("exchanged", [True, False])
def test_a_wave_over_two_workers_targets_is_a_wave_once_they_merge_fan_outs(exchanged: bool) -> None:
    """Two workers each hold half of a fleet's targets: alone, each sees a wave of six where ten make one, and
    takes every target's third patch for a loop; merging each other's fan-out snapshots between the waves (as
    they do through the models topic), each counts all twelve."""
    config = OpswardenConfig()
    workers = [Engine(config, [RemediationLoopDetector(config)]) for _ in range(2)]
    fleet, findings = Feed(), []
    for wave in range(3):
        start = len(fleet.items)
        for i in range(12):
            fleet.action(T0 + timedelta(minutes=15 * wave, seconds=5 * i), target=f"k8s:prod-eu/web/pods/fe-{i}")
        for item in fleet.items[start:]:
            assert isinstance(item, ActionEvent)
            findings += workers[int(item.target.rsplit("-", 1)[1]) % 2].process(item).findings
        if exchanged:
            first, second = (engine.detectors[0] for engine in workers)
            first_snapshot = first.snapshot_models()["fanout"]
            assert first.merge_model("fanout", second.snapshot_models()["fanout"])
            assert second.merge_model("fanout", first_snapshot)
    for engine in workers:
        findings += engine.flush().findings
    assert (findings == []) is exchanged


def test_two_principals_flip_flopping_a_firewall_rule_are_caught_on_the_fourth_change() -> None:
    feed = Feed()
    group = "arn:aws:ec2:eu-west-1:1:security-group/sg-1"
    for k in range(6):
        who, api = (
            (bot("net"), "ec2:AuthorizeSecurityGroupIngress")
            if k % 2 == 0
            else (bot("compliance"), "ec2:RevokeSecurityGroupIngress")
        )
        feed.change(T0 + timedelta(minutes=4 * k), who, api, group)
    found = loops(feed.items)
    create = found[0]
    assert create.unmapped["loop_kind"] == "flip_flop"
    assert create.severity_id is Severity.HIGH
    assert create.time == int((T0 + timedelta(minutes=12)).timestamp() * 1000)
    assert create.unmapped["count"] == 4


def test_one_principal_adding_and_removing_is_no_flip_flop() -> None:
    feed = Feed()
    group = "arn:aws:ec2:eu-west-1:1:security-group/sg-1"
    for k in range(4):
        api = "ec2:AuthorizeSecurityGroupIngress" if k % 2 == 0 else "ec2:RevokeSecurityGroupIngress"
        feed.change(T0 + timedelta(minutes=4 * k), bot("net"), api, group)
    assert loops(feed.items) == []


def test_autoscaler_against_cost_saver_is_a_flip_flop_by_replica_counts() -> None:
    feed = Feed()
    deployment = "k8s:prod-eu/search/deployments/indexer"
    hpa = Principal(uid="system:serviceaccount:kube-system:hpa", kind=PrincipalKind.SERVICE)
    saver = Principal(uid="system:serviceaccount:finops:cost-saver", kind=PrincipalKind.SERVICE)
    for k in range(4):
        who, replicas = (hpa, 8) if k % 2 == 0 else (saver, 2)
        feed.change(T0 + timedelta(minutes=5 * k), who, "k8s:patch:deployments/scale", deployment, replicas=replicas)
    assert [f.unmapped["loop_kind"] for f in loops(feed.items)][:1] == ["flip_flop"]


def test_a_fix_that_succeeds_while_its_alert_keeps_firing_is_ineffective() -> None:
    feed = Feed()
    trigger = Trigger(alert="Lag", fingerprint="fp-1")
    for k in range(4):
        fired = T0 + timedelta(minutes=40 * k)
        feed.alert(fired, "fp-1")
        feed.action(fired + timedelta(seconds=30), trigger=trigger)
    found = loops(feed.items)
    create = found[0]
    assert create.unmapped["loop_kind"] == "ineffective"
    assert create.unmapped["trigger"] == "fp-1"
    assert create.unmapped["workflow"] == "restarter"  # raised by the alert, naming the fix that did not hold
    assert create.unmapped["action"] == "k8s:delete:pods"
    assert create.time == int((T0 + timedelta(minutes=80)).timestamp() * 1000)  # the third firing
    assert [f.activity_id for f in found].count(Activity.CREATE) == 1


def test_routine_writes_by_automation_are_not_loops() -> None:
    feed = Feed()
    for k in range(6):
        feed.change(T0 + timedelta(minutes=2 * k), bot("etl"), "s3:PutObject", "arn:aws:s3:::reports")
    assert loops(feed.items) == []


def test_attaching_different_policies_to_one_role_is_not_a_repetition() -> None:
    feed = Feed()
    for k in range(4):
        feed.items.append(
            ChangeEvent(
                event_id=f"attach-{k}",
                source=Source.CLOUDTRAIL,
                event_time=T0 + timedelta(seconds=k),
                principal=bot("terraform"),
                action="iam:AttachRolePolicy",
                resources=("arn:aws:iam::1:role/app", f"arn:aws:iam::1:policy/p{k}"),
                is_change=True,
            )
        )
    assert loops(feed.items) == []


def test_invalid_loop_settings_are_rejected_with_their_path() -> None:
    with pytest.raises(ConfigError, match=r"loops\.min_repetitions"):
        load_config({"loops": {"min_repetitions": 1}})
    with pytest.raises(ConfigError, match="window must be positive"):
        load_config({"loops": {"window": "-PT1H"}})
    with pytest.raises(ConfigError, match="echo_window must be shorter"):
        load_config({"loops": {"echo_window": "PT2H"}})


def test_a_target_keeps_a_bounded_number_of_series() -> None:
    config = OpswardenConfig()
    detector = RemediationLoopDetector(config)
    feed = Feed()
    for k in range(3 * config.loops.max_series):
        feed.action(T0 + timedelta(minutes=k), workflow=f"wf-{k}")
    engine = Engine(config, [detector])
    run(engine, feed.items)
    state = engine.stores[detector.name][POD]
    assert len(state.series) == config.loops.max_series
    assert f"wf-{3 * config.loops.max_series - 1}\x1fk8s:delete:pods" in state.series
    assert len(detector.encode_state(state)) < 2048


def test_an_action_and_its_audit_record_count_once() -> None:
    config = OpswardenConfig()
    engine = Engine(config, [RemediationLoopDetector(config)])
    engine.upsert_workflow(
        Workflow.model_validate(
            {"name": "restarter", "class": "execution", "principals": ["system:serviceaccount:aiops:restarter"]}
        )
    )
    feed = Feed()
    account = Principal(uid="system:serviceaccount:aiops:restarter", kind=PrincipalKind.SERVICE)
    for k in range(3):
        at = T0 + timedelta(minutes=10 * k)
        feed.action(at)
        feed.change(at + timedelta(seconds=3), account, "k8s:delete:pods", POD)
    ordered = sorted(feed.items, key=lambda i: i.time if isinstance(i, ActionEvent) else i.event_time)  # type: ignore[union-attr]
    found = run(engine, ordered).findings
    assert found[0].unmapped["count"] == 3
    assert found[0].time == int((T0 + timedelta(minutes=20)).timestamp() * 1000)

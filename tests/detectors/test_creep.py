"""permission_creep: the grantee's power growing, judged on exact sets, its own learned baseline and drift, and the
growth score of its peer group."""

from __future__ import annotations

import doctest
import random
from datetime import UTC, datetime, timedelta

import pytest
from river import drift

from detectors import growth
from detectors.creep import PermissionCreepDetector
from detectors.engine import Engine, run
from detectors.growth import DriftState, GrowthDrift, GrowthScorer, profile
from models.authorization import AuthorizationRecord, AuthStatus, FixedWindow
from models.config import ConfigError, OpswardenConfig, load_config
from models.events import ChangeEvent, Grant, Principal, PrincipalKind, Source
from models.finding import Activity, DetectionFinding, Severity
from models.parsers.base import Parsed
from models.registry import Workflow

T0 = datetime(2026, 3, 2, tzinfo=UTC)
ROLE = "arn:aws:iam::1:role/svc"
TERRAFORM = Principal(uid="arn:aws:sts::1:assumed-role/terraform/s", issuer="arn:aws:iam::1:role/terraform",
                      kind=PrincipalKind.MACHINE)  # fmt: skip
OPERATOR = Principal(uid="arn:aws:iam::1:user/oncall", kind=PrincipalKind.HUMAN)


class Feed:
    def __init__(self) -> None:
        self.items: list[Parsed] = []

    def grant(self, at: datetime, privilege: str, grantee: str = ROLE, who: Principal = TERRAFORM) -> None:
        self.items.append(
            ChangeEvent(
                event_id=f"g-{len(self.items)}",
                source=Source.CLOUDTRAIL,
                event_time=at,
                principal=who,
                action="iam:AttachRolePolicy",
                resources=(grantee, privilege),
                is_change=True,
                grants=(Grant(grantee=grantee, privilege=privilege),),
            )
        )

    def call(self, at: datetime, who: Principal, action: str) -> None:
        self.items.append(
            ChangeEvent(
                event_id=f"c-{len(self.items)}",
                source=Source.CLOUDTRAIL,
                event_time=at,
                principal=who,
                action=action,
                is_change=True,
            )
        )


def creep(items: list[Parsed], config: OpswardenConfig | None = None) -> list[DetectionFinding]:
    config = config or OpswardenConfig()
    records = [i for i in items if isinstance(i, AuthorizationRecord)]
    events = sorted((i for i in items if isinstance(i, ChangeEvent)), key=lambda e: e.event_time)
    return run(Engine(config, [PermissionCreepDetector(config)]), [*records, *events]).findings


def policy(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


def test_an_admin_grant_raises_creep_on_the_grantee_not_the_granter() -> None:
    feed = Feed()
    feed.grant(T0, policy("AdministratorAccess"), grantee="arn:aws:iam::1:user/new")
    found = creep(feed.items)
    assert [f.activity_id for f in found] == [Activity.CREATE, Activity.CLOSE]
    assert found[0].unmapped["grantee"] == "arn:aws:iam::1:user/new"
    assert found[0].severity_id is Severity.HIGH
    assert found[0].unmapped["signals"] == ["admin_grant"]


def test_an_access_key_made_for_someone_else_is_a_takeover_grant() -> None:
    feed = Feed()
    feed.grant(T0, "access_key", grantee="arn:aws:iam::1:user/victim", who=OPERATOR)
    assert creep(feed.items)[0].unmapped["signals"] == ["takeover_grant"]


def test_provisioning_alone_is_quiet_and_a_run_after_it_is_creep() -> None:
    feed = Feed()
    for k in range(4):
        feed.grant(T0 + timedelta(seconds=k), policy(f"Base{k}"))
    assert creep(feed.items) == []
    for k in range(3):
        feed.grant(T0 + timedelta(hours=5 + 4 * k), policy(f"Extra{k}"))
    found = creep(feed.items)
    assert found[0].unmapped["signals"] == ["grant_run"]
    assert found[0].time == int((T0 + timedelta(hours=13)).timestamp() * 1000)
    evidence = found[0].evidences[0].data or {}
    assert [g["privilege"] for g in evidence["grants"]] == [policy(f"Extra{k}") for k in range(3)]
    assert evidence["threshold"]["min_grants"] == 3
    assert found[0].anomaly_analyses[0].baselines


def test_slow_growth_over_days_is_caught_by_the_growth_floor() -> None:
    feed = Feed()
    feed.grant(T0, policy("Base"))
    for k in range(5):
        feed.grant(T0 + timedelta(hours=20 + 26 * k), policy(f"Extra{k}"))
    found = creep(feed.items)
    assert found[0].unmapped["signals"] == ["steady_growth"]
    assert found[0].time == int((T0 + timedelta(hours=20 + 26 * 4)).timestamp() * 1000)


def test_rewriting_the_same_policy_daily_is_not_growth() -> None:
    feed = Feed()
    feed.grant(T0, policy("Base"))
    for day in range(1, 9):
        feed.grant(T0 + timedelta(days=day), "inline:release")
    assert creep(feed.items) == []


def test_a_principal_used_to_many_grants_is_judged_by_its_baseline() -> None:
    config = load_config({"creep": {"min_growth": 1000}})  # isolate the run model from the growth floor
    seasoned, fresh = Feed(), Feed()
    seasoned.grant(T0, policy("Base"))
    for day in range(1, 8):  # three new privileges every day for a week, then a pause
        for k in range(3):
            seasoned.grant(T0 + timedelta(days=day, hours=2 * k), policy(f"D{day}-{k}"))
    later = T0 + timedelta(days=9)
    for feed in (seasoned, fresh):
        if feed is fresh:
            feed.grant(later - timedelta(days=1), policy("Base"))
        for k in range(3):
            feed.grant(later + timedelta(hours=2 * k), policy(f"Late{k}"))
    at_late = int((later + timedelta(hours=4)).timestamp() * 1000)
    assert [f for f in creep(seasoned.items, config) if f.time == at_late] == []
    assert [f.unmapped["signals"] for f in creep(fresh.items, config) if f.time == at_late] == [["grant_run"]]


def test_a_sandbox_role_growing_like_its_peers_is_not_creep_but_an_ordinary_role_is() -> None:
    config = OpswardenConfig()
    detector = PermissionCreepDetector(config)
    engine = Engine(config, [detector])
    engine.upsert_workflow(
        Workflow.model_validate(
            {"name": "sandbox", "class": "execution", "principals": ["arn:aws:iam::1:role/sandbox-*"]}
        )
    )
    feed = Feed()
    for i in range(16):  # sixteen sandbox roles, each gaining three or four new policies every day for a week
        grantee = f"arn:aws:iam::1:role/sandbox-{i}"
        feed.grant(T0 + timedelta(minutes=i), policy(f"S{i}-base"), grantee=grantee)
        for day in range(1, 8):
            for k in range(3 + (day + i) % 2):
                feed.grant(
                    T0 + timedelta(days=day, hours=1 + 2 * k, minutes=i), policy(f"S{i}-{day}-{k}"), grantee=grantee
                )
    later = T0 + timedelta(days=8, hours=6)
    for grantee in ("arn:aws:iam::1:role/sandbox-new", "arn:aws:iam::1:role/ordinary"):
        feed.grant(later - timedelta(hours=5), policy("Base"), grantee=grantee)
        for k in range(3):
            feed.grant(later + timedelta(hours=k), policy(f"Late{k}"), grantee=grantee)
    events = sorted((i for i in feed.items if isinstance(i, ChangeEvent)), key=lambda e: e.event_time)
    found = run(engine, events).findings
    assert detector.peers.usual("workflow:sandbox/window", config.creep.peer_warmup) is not None
    late = {
        f.unmapped["grantee"]
        for f in found
        if f.activity_id is Activity.CREATE and f.time >= int(later.timestamp() * 1000)
    }
    assert late == {"arn:aws:iam::1:role/ordinary"}


def test_first_use_of_privileged_apis_after_a_quiet_history() -> None:
    bot = Principal(uid="arn:aws:sts::1:assumed-role/reports/s", issuer="arn:aws:iam::1:role/reports",
                    kind=PrincipalKind.MACHINE)  # fmt: skip
    feed = Feed()
    for hour in range(24):
        feed.call(T0 + timedelta(hours=hour), bot, "s3:PutObject")
    feed.call(T0 + timedelta(hours=30), bot, "secretsmanager:GetSecretValue")
    feed.call(T0 + timedelta(hours=30, minutes=5), bot, "iam:PassRole")
    found = creep(feed.items)
    assert found[0].unmapped["grantee"] == "arn:aws:iam::1:role/reports"
    assert found[0].unmapped["signals"] == ["privileged_first_use"]
    assert found[0].time == int((T0 + timedelta(hours=30, minutes=5)).timestamp() * 1000)


def test_a_new_principal_calling_sensitive_apis_in_its_first_hours_is_learning_not_creep() -> None:
    feed = Feed()
    for k, api in enumerate(("iam:CreateRole", "iam:PassRole", "iam:PutRolePolicy")):
        feed.call(T0 + timedelta(minutes=k), TERRAFORM, api)
    assert creep(feed.items) == []


def operator_approval(record_id: str) -> AuthorizationRecord:
    """The operator may attach policies to the role for a day from T0."""
    return AuthorizationRecord(
        id=record_id,
        status=AuthStatus.APPROVED,
        owner="team",
        principals=(OPERATOR.uid,),
        actions=("iam:AttachRolePolicy",),
        resources=(ROLE,),
        window=FixedWindow(start=T0, end=T0 + timedelta(days=1)),
    )


def test_approved_grants_still_count_but_rate_lower_and_name_the_record() -> None:
    record = operator_approval("CHG1")
    approved, unapproved = Feed(), Feed()
    approved.items.append(record)
    for feed in (approved, unapproved):
        feed.grant(T0 - timedelta(days=2), policy("Base"))
        for k in range(3):
            feed.grant(T0 + timedelta(hours=1 + k), policy(f"Extra{k}"), who=OPERATOR)
    covered, bare = creep(approved.items)[0], creep(unapproved.items)[0]
    assert bare.severity_id is Severity.MEDIUM
    assert covered.severity_id is Severity.LOW
    assert covered.unmapped["authorized_by"] == ["CHG1"]
    assert bare.unmapped["authorized_by"] == []


def test_state_stays_small_and_capped() -> None:
    config = OpswardenConfig()
    detector = PermissionCreepDetector(config)
    feed = Feed()
    for k in range(200):
        feed.grant(T0 + timedelta(days=k), policy(f"P{k:03d}-" + "x" * 40))
    engine = Engine(config, [detector])
    run(engine, feed.items)
    state = engine.stores[detector.name][ROLE]
    assert len(state.privileges) == config.creep.max_privileges
    assert len(detector.encode_state(state)) < 2048


def test_invalid_creep_settings_are_rejected_with_their_path() -> None:
    with pytest.raises(ConfigError, match=r"creep\.sensitive_apis"):
        load_config({"creep": {"sensitive_apis": {"iam:*": 0}}})
    with pytest.raises(ConfigError, match="growth_window"):
        load_config({"creep": {"growth_window": "PT1H"}})


def default_drift() -> GrowthDrift:
    cfg = OpswardenConfig().creep
    return GrowthDrift(cfg.drift_min_windows, cfg.drift_delta, cfg.drift_threshold)


def test_drift_alarms_on_a_steady_growth_series_and_not_on_stable_ones() -> None:
    model = default_drift()
    growing = DriftState()
    alarms = [model.update(growing, count) for count in [0] * 10 + [1] * 5]
    assert alarms.index(True) == 11  # the second window with a new privilege after ten quiet ones
    for series in ([0] * 40, [1] * 40, [3, 4] * 20):
        stable = DriftState()
        assert not any(model.update(stable, count) for count in series), series


def test_drift_is_rivers_page_hinkley_in_four_numbers() -> None:
    """Restarted from its four numbers at every window, the test alarms exactly where river's own detector does."""
    cfg = OpswardenConfig().creep
    rng = random.Random(4)
    series = [rng.choice((0, 0, 0, 1)) for _ in range(60)] + [rng.choice((1, 2, 3)) for _ in range(20)]
    river_ph = drift.PageHinkley(cfg.drift_min_windows, cfg.drift_delta, cfg.drift_threshold, mode="up")
    expected = []
    for count in series:
        river_ph.update(count)
        expected.append(river_ph.drift_detected)
    state, got = DriftState(), []
    for count in series:
        state = DriftState.from_list(state.to_list())
        got.append(default_drift().update(state, count))
    assert got == expected
    assert any(expected)


def test_a_probe_sees_the_open_window_without_learning_it() -> None:
    model, state = default_drift(), DriftState()
    model.update(state, *[0] * 6, 1)
    before = state.to_list()
    probes = [model.probe(state, count) for count in (0, 1, 2)]
    assert [alarm for alarm, _ in probes] == [False, False, True]
    assert probes[0][1] < probes[1][1] < probes[2][1]  # the statistic only rises with the open window's count
    assert state.to_list() == before


def test_a_quiet_principal_gaining_a_privilege_a_day_drifts_before_the_growth_floor() -> None:
    """Three new privileges on three days after four quiet ones: drift at the third, one finding that grows with
    the steady-growth floor at the fifth and stays open across day-long gaps."""
    feed = Feed()
    feed.grant(T0, policy("Base"))
    days = (5, 6, 7, 8, 9)
    for k, day in enumerate(days):
        feed.grant(T0 + timedelta(days=day, hours=1 + 0.5 * k), policy(f"Extra{k}"))
    found = creep(feed.items)
    assert [f.activity_id for f in found] == [Activity.CREATE, Activity.UPDATE, Activity.UPDATE, Activity.CLOSE]
    opened, grown = found[0], found[2]
    assert opened.unmapped["signals"] == ["growth_drift"]
    assert opened.time == int((T0 + timedelta(days=7, hours=2)).timestamp() * 1000)
    assert grown.unmapped["signals"] == ["growth_drift", "steady_growth"]
    analyses = {a.anomalies[0].observation_parameter: a for a in opened.anomaly_analyses}
    observed = {o.name: o.value for o in analyses["growth_drift"].anomalies[0].observations}
    learned = {o.name: o.value for o in analyses["growth_drift"].baselines[0].observations}
    assert observed["drift"] == "True"
    assert float(observed["statistic"]) > float(learned["threshold"]) == 1.5
    assert learned["windows_seen"] == "7"
    assert found[-1].message.endswith("quiet for 7 days, 0:00:00")


def test_a_principal_growing_at_one_rate_from_its_first_window_does_not_drift() -> None:
    feed = Feed()
    feed.grant(T0, policy("Base"))
    for day in range(1, 12):
        feed.grant(T0 + timedelta(days=day, hours=2), policy(f"Daily{day}"))
    signals = {s for f in creep(feed.items) for s in f.unmapped["signals"]}
    assert signals == {"steady_growth"}


def typical_profiles(count: int, seed: int = 3) -> list[dict[str, float]]:
    """Principal-windows of a peer group: mostly quiet, now and then a new privilege or a sensitive first use."""
    rng = random.Random(seed)
    profiles = []
    for _ in range(count):
        new = int(rng.random() < 0.2)
        grown = new + int(rng.random() < 0.3)
        quiet = rng.uniform(20, 168) if grown else 168.0
        profiles.append(profile(new, grown, grown / rng.randint(2, 8), 0.5 * (rng.random() < 0.1), quiet))
    return profiles


def test_the_scaled_growth_score_is_higher_for_an_unusual_profile() -> None:
    cfg = OpswardenConfig().creep
    scorer = GrowthScorer(cfg.score_window, cfg.max_score_groups)
    assert scorer.score("kind:unknown", profile(0, 0, 0, 0, 168)) is None  # warming
    for x in typical_profiles(3 * cfg.score_window):
        scorer.learn("kind:unknown", x)
    usual = [scorer.score("kind:unknown", x) or 0.0 for x in typical_profiles(200, seed=4)]
    unusual = scorer.score("kind:unknown", profile(3, 3, 0.75, 0.0, 2.0))
    assert unusual is not None
    assert unusual >= cfg.score_threshold > sorted(usual)[len(usual) // 2]
    assert unusual > (scorer.score("kind:unknown", profile(1, 1, 0.25, 0.0, 100.0)) or 1.0)
    baseline = scorer.baseline("kind:unknown")
    assert baseline["samples"] == 3 * cfg.score_window
    assert 0 < baseline["new_in_window_mean"] < 0.5 < baseline["new_in_window_std"] + 0.5


def test_the_score_models_are_bounded_and_survive_bytes() -> None:
    scorer = GrowthScorer(window_size=20, max_groups=2)
    for k, x in enumerate(typical_profiles(120)):
        scorer.learn(f"workflow:wf-{k % 4}", x)
    assert set(scorer.models) == {"workflow:wf-0", "workflow:wf-1", "*"}
    restored = GrowthScorer(window_size=20, max_groups=2)
    restored.decode(scorer.encode())
    for x in typical_profiles(30, seed=9):
        for model in (scorer, restored):
            model.learn("workflow:wf-3", x)
    probes = [*typical_profiles(10, seed=10), profile(4, 5, 1.0, 1.0, 1.0)]
    assert [restored.score("workflow:wf-3", x) for x in probes] == [scorer.score("workflow:wf-3", x) for x in probes]


def warm_peers(detector: PermissionCreepDetector) -> None:
    for x in typical_profiles(2 * detector.settings.score_window):
        detector.scorer.learn("kind:unknown", x)


def test_an_unusual_growth_profile_rates_an_unapproved_run_high_but_not_an_approved_one() -> None:
    record = operator_approval("CHG2")
    severities = {}
    for approved in (False, True):
        feed = Feed()
        if approved:
            feed.items.append(record)
        feed.grant(T0 - timedelta(days=2), policy("Base"))
        for k in range(3):
            feed.grant(T0 + timedelta(hours=1 + k), policy(f"Extra{k}"), who=OPERATOR)
        config = OpswardenConfig()
        detector = PermissionCreepDetector(config)
        warm_peers(detector)
        records = [i for i in feed.items if isinstance(i, AuthorizationRecord)]
        events = [i for i in feed.items if isinstance(i, ChangeEvent)]
        opened = run(Engine(config, [detector]), [*records, *events]).findings[0]
        severities[approved] = opened.severity_id
        data = opened.evidences[0].data or {}
        assert data["growth_profile"]["observed"]["highest_score"] >= config.creep.score_threshold
        assert data["growth_profile"]["baseline"]["samples"] >= config.creep.score_window
        analysis = next(a for a in opened.anomaly_analyses if a.anomalies[0].observation_parameter == "growth_profile")
        assert {o.name for o in analysis.baselines[0].observations} >= {"threshold", "quiet_hours_mean", "samples"}
    assert severities == {False: Severity.HIGH, True: Severity.LOW}


def test_invalid_growth_model_settings_are_rejected() -> None:
    with pytest.raises(ConfigError, match="drift_min_growth"):
        load_config({"creep": {"drift_min_growth": 6}})
    with pytest.raises(ConfigError, match=r"creep\.score_threshold"):
        load_config({"creep": {"score_threshold": 1.5}})
    with pytest.raises(ConfigError, match=r"creep\.drift_threshold"):
        load_config({"creep": {"drift_threshold": 0}})


def test_growth_docstring_examples_hold() -> None:
    assert doctest.testmod(growth).failed == 0

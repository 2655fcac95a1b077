"""permission_creep: the grantee's power growing, judged on exact sets and its own learned baseline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detectors.creep import PermissionCreepDetector
from detectors.engine import Engine, run
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


def test_approved_grants_still_count_but_rate_lower_and_name_the_record() -> None:
    record = AuthorizationRecord(
        id="CHG1",
        status=AuthStatus.APPROVED,
        owner="team",
        principals=(OPERATOR.uid,),
        actions=("iam:AttachRolePolicy",),
        resources=(ROLE,),
        window=FixedWindow(start=T0, end=T0 + timedelta(days=1)),
    )
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

"""The authorization judge: one verdict per production change, in event time."""

from __future__ import annotations

import gc
import random
from datetime import timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.context import AuthorizationIndex
from detectors.engine import Engine, run
from detectors.held import held_change
from detectors.judge import MAX_SHOWN_CANDIDATES, AuthorizationJudge, JudgeState
from models.authorization import AuthorizationRecord
from models.config import OpswardenConfig, load_config
from models.events import ActionPhase, Credential, CredentialKind, Outcome, PrincipalKind, change_from_json
from models.finding import Activity, Status
from models.registry import WorkflowRegistry
from tests.detectors.builders import CAROL, ROLE, action, at, change, principal, record

SG = "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1"


def engine(config: OpswardenConfig | None = None, registry: WorkflowRegistry | None = None) -> Engine:
    config = config or load_config(None)
    built = Engine(config, [AuthorizationJudge(config)])
    for workflow in (registry or WorkflowRegistry()).workflows:
        built.upsert_workflow(workflow)
    return built


def types_of(items: list, config: OpswardenConfig | None = None, registry: WorkflowRegistry | None = None) -> list[str]:
    out = run(engine(config, registry), items)
    return sorted(f.finding_type for f in out.findings if f.activity_id is Activity.CREATE)


def verdicts(items: list, config: OpswardenConfig | None = None, registry: WorkflowRegistry | None = None) -> dict:
    out = run(engine(config, registry), items)
    return {entry.event_id: entry.verdict for entry in out.ledger}


HUMAN = principal(CAROL, kind=PrincipalKind.HUMAN, issuer=None)
BOT = principal()


# -- verdicts ---------------------------------------------------------------------------------------


def test_change_inside_an_approved_window_is_authorized_with_no_finding() -> None:
    items = [record("CHG1"), change("e1", 0)]
    out = run(engine(), items)
    assert out.findings == []
    assert [(e.verdict, e.authorized_by, e.owner) for e in out.ledger] == [("authorized", "CHG1", "alice@example.com")]


def test_a_principal_named_by_hundreds_of_records_gets_a_bounded_finding_with_its_nearest_misses() -> None:
    other_service = [record(f"CHG{number:04d}", actions=["s3:*"]) for number in range(500)]
    ended = record("CHG9999", window={"start": at(-300).isoformat(), "end": at(-240).isoformat()})
    out = run(engine(), [*other_service, ended, change("e1", 0)])
    (finding,) = out.findings
    assert finding.finding_type == "out_of_window_change"
    evidence = finding.evidences[0].data
    shown = [candidate["id"] for candidate in evidence["candidates"]]
    assert len(shown) == MAX_SHOWN_CANDIDATES
    assert "CHG9999" in shown
    assert shown == sorted(shown)
    assert evidence["candidates_not_shown"] == 501 - MAX_SHOWN_CANDIDATES
    assert "481 other records" in (finding.finding_info.desc or "")
    assert len(orjson.dumps(finding.model_dump_ocsf())) < 20_000


def varied_record(number: int, draw: random.Random) -> AuthorizationRecord:
    """A record of a principal's long history: mostly closed windows, some open or to come, some out of scope,
    revoked, rejected or without a window."""
    start = draw.choice([-60 * 24 * 300, -60 * 24 * 3, -90, -30, 30, 60 * 24]) + draw.randint(0, 50)
    fields: dict[str, object] = {
        "status": draw.choice(["approved", "approved", "approved", "revoked", "rejected", "closed", "pending"]),
        "actions": [draw.choice(["ec2:*SecurityGroup*", "ec2:*", "s3:*"])],
        "window": draw.choice([None] + [{"start": at(start).isoformat(), "end": at(start + 120).isoformat()}] * 6),
    }
    return record(f"CHG{number:05d}", **fields)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000), size=st.integers(min_value=65, max_value=300))
def test_a_long_history_reviewed_in_part_gives_the_verdict_a_review_of_all_gives(seed: int, size: int) -> None:
    draw = random.Random(seed)
    config = load_config(None)
    judge = AuthorizationJudge(config)
    index = AuthorizationIndex()
    for number in range(size):
        index.upsert(varied_record(number, draw))
    the_change = change("e1", 0)
    identities = the_change.principal.identities()
    everything = [judge.review(row.record, the_change) for row in index.candidate_rows(identities)]
    reviews = judge.review_candidates(index, identities, the_change)
    assert judge.verdict(reviews.reviewed) == judge.verdict(everything)
    assert len(reviews.reviewed) + reviews.not_reviewed == size


def test_a_principal_with_years_of_closed_records_reviews_tens_of_them_for_an_unauthorized_change() -> None:
    config = load_config(None)
    judge = AuthorizationJudge(config)
    index = AuthorizationIndex()
    for day in range(2000):  # a change record a day for years, each window long closed
        index.upsert(record(f"CHG{day:05d}", window={"start": at(-60 * 24 * (day + 2)).isoformat(),
                                                     "end": at(-60 * 24 * (day + 2) + 120).isoformat()}))  # fmt: skip
    the_change = change("e1", 0)
    reviews = judge.review_candidates(index, the_change.principal.identities(), the_change)
    assert judge.verdict(reviews.reviewed)[0] == "out_of_window_change"
    assert len(reviews.reviewed) == MAX_SHOWN_CANDIDATES
    assert {review.record.id for review in reviews.reviewed} == {f"CHG{day:05d}" for day in range(20)}  # latest
    assert reviews.not_reviewed == 2000 - MAX_SHOWN_CANDIDATES


def test_an_old_record_that_covered_the_change_stands_for_the_closed_ones_not_reviewed() -> None:
    config = load_config(None)
    judge = AuthorizationJudge(config)
    index = AuthorizationIndex()
    for day in range(100):  # recent records, all for another service
        window = {"start": at(-60 * 24 * (day + 1)).isoformat(), "end": at(-60 * 24 * (day + 1) + 120).isoformat()}
        index.upsert(record(f"CHG{day + 1:05d}", actions=["s3:*"], window=window))
    index.upsert(
        record("CHG00000", window={"start": at(-60 * 24 * 400).isoformat(), "end": at(-60 * 24 * 399).isoformat()})
    )
    the_change = change("e1", 0)
    reviews = judge.review_candidates(index, the_change.principal.identities(), the_change)
    assert judge.verdict(reviews.reviewed)[0] == "out_of_window_change"
    assert "CHG00000" in {review.record.id for review in reviews.reviewed}
    assert len(reviews.reviewed) == MAX_SHOWN_CANDIDATES + 1


def test_change_after_the_window_is_out_of_window_and_says_how_late() -> None:
    out = run(engine(), [record("CHG1"), change("e1", 180)])
    (finding,) = out.findings
    assert finding.finding_type == "out_of_window_change"
    assert "window ended 2 h earlier" in (finding.finding_info.desc or "")
    assert finding.evidences[0].data["candidates"][0]["id"] == "CHG1"


def test_change_in_window_outside_scope_is_out_of_scope() -> None:
    items = [record("CHG1"), change("e1", 0, action="iam:AttachRolePolicy", resources=("arn:aws:iam::1:role/x",))]
    assert verdicts(items) == {"e1": "out_of_scope_change"}


def test_environment_outside_the_record_is_out_of_scope() -> None:
    assert verdicts([record("CHG1"), change("e1", 0, environment="staging")]) == {"e1": "out_of_scope_change"}


def test_change_after_revocation_uses_a_revoked_authorization() -> None:
    history = [{"status": "approved", "at": at(-120).isoformat()}, {"status": "revoked", "at": at(-5).isoformat()}]
    assert verdicts([record("CHG1", status="revoked", status_changes=history), change("e1", 0)]) == {
        "e1": "revoked_authorization_used"
    }


def test_change_before_revocation_stays_authorized() -> None:
    history = [{"status": "approved", "at": at(-120).isoformat()}, {"status": "revoked", "at": at(30).isoformat()}]
    assert verdicts([record("CHG1", status="revoked", status_changes=history), change("e1", 0)]) == {"e1": "authorized"}


def test_no_record_at_all_is_unauthorized() -> None:
    out = run(engine(), [change("e1", 0)])
    (finding,) = out.findings
    assert finding.finding_type == "unauthorized_change"
    assert finding.finding_info.related_events[0].uid == "e1"
    assert finding.evidences[0].actor is not None
    assert finding.evidences[0].actor.user.uid == CAROL
    assert finding.resources[0].uid == SG


def test_pending_record_does_not_authorize() -> None:
    assert verdicts([record("CHG1", status="pending"), change("e1", 0)]) == {"e1": "unauthorized_change"}


def test_record_for_another_principal_is_not_a_candidate() -> None:
    assert verdicts([record("CHG1", principals=["arn:aws:iam::1:role/other"]), change("e1", 0)]) == {
        "e1": "unauthorized_change"
    }


def test_principal_glob_matches_the_session_issuer() -> None:
    assert verdicts(
        [record("CHG1", principals=["arn:aws:iam::111122223333:role/remed*"]), change("e1", 0, who=BOT)]
    ) == {"e1": "authorized"}


def test_every_resource_must_be_covered() -> None:
    other = "arn:aws:ec2:eu-west-1:999:security-group/sg-9"
    assert verdicts([record("CHG1"), change("e1", 0, resources=(SG, other))]) == {"e1": "out_of_scope_change"}


# -- skew and windows -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(60 + 1.9, "authorized"), (60 + 2.1, "out_of_window_change"), (-60 - 1.9, "authorized")],
)
def test_clock_skew_tolerance_at_window_edges(minutes: float, expected: str) -> None:
    assert verdicts([record("CHG1"), change("e1", minutes)]) == {"e1": expected}


def test_skew_tolerance_is_configurable() -> None:
    config = load_config({"authorization": {"skew_tolerance": "PT0S"}})
    assert verdicts([record("CHG1"), change("e1", 60.5)], config) == {"e1": "out_of_window_change"}


def _nightly(tz: str = "America/New_York") -> dict:
    return {"rrule": "FREQ=DAILY", "dtstart": "2026-03-01T01:00:00", "duration": "PT2H", "tz": tz}


@pytest.mark.parametrize(
    ("utc_time", "expected"),
    [
        # 2026-03-07 EST (UTC-5): window 06:00-08:00 UTC
        ("2026-03-07T06:30:00+00:00", "authorized"),
        ("2026-03-07T05:30:00+00:00", "out_of_window_change"),
        # 2026-03-09 EDT (UTC-4) after the spring-forward: window 05:00-07:00 UTC
        ("2026-03-09T05:30:00+00:00", "authorized"),
        ("2026-03-09T07:30:00+00:00", "out_of_window_change"),
        # 2026-11-02 EST again after the fall-back: window 06:00-08:00 UTC
        ("2026-11-02T07:30:00+00:00", "authorized"),
        ("2026-11-02T05:30:00+00:00", "out_of_window_change"),
    ],
)
def test_rrule_windows_follow_local_time_across_dst(utc_time: str, expected: str) -> None:
    from datetime import datetime

    moment = datetime.fromisoformat(utc_time)
    offset = (moment - at(0)).total_seconds() / 60
    items = [record("CHG1", window=_nightly()), change("e1", offset)]
    assert verdicts(items) == {"e1": expected}


# -- late data and retro approval -------------------------------------------------------------------


def test_record_arriving_within_grace_resolves_the_change_silently() -> None:
    items = [change("e1", 0), change("later", 10), record("CHG1")]
    assert verdicts(items) == {"e1": "authorized", "later": "authorized"}


def test_record_arriving_after_grace_is_too_late() -> None:
    items = [change("e1", 0), change("tick", 30, action="ec2:CreateTags", resources=()), record("CHG1")]
    assert verdicts(items)["e1"] == "unauthorized_change"


def test_emergency_approved_after_the_fact_closes_the_finding() -> None:
    history = [{"status": "pending", "at": at(-1).isoformat()}, {"status": "approved", "at": at(120).isoformat()}]
    emergency = record("CHG9", type="emergency", status="approved", status_changes=history)
    items = [change("e1", 0), change("tick", 60, action="ec2:CreateTags", resources=()), emergency]
    out = run(engine(), items)
    e1 = [f for f in out.findings if f.finding_info.related_events[0].uid == "e1"]
    assert [f.activity_id for f in e1] == [Activity.CREATE, Activity.CLOSE]
    assert e1[0].uid == e1[1].uid
    assert e1[1].status_id is Status.RESOLVED
    assert e1[1].unmapped["closed_by"] == "CHG9"


def test_only_an_emergency_record_revisits_and_only_the_principals_it_names() -> None:
    judge = AuthorizationJudge(load_config(None))
    open_work = {CAROL: None, ROLE: None, "arn:aws:iam::111122223333:user/dave": None}
    assert judge.revisited(open_work, record("CHG1", principals=[CAROL, ROLE])) == []
    named = record("CHG2", type="emergency", principals=[CAROL, CAROL, "arn:aws:iam::111122223333:user/erin"])
    assert judge.revisited(open_work, named) == [CAROL]
    by_pattern = record("CHG3", type="emergency", principals=["arn:aws:iam::111122223333:user/*", ROLE])
    assert sorted(judge.revisited(open_work, by_pattern)) == sorted(open_work)


def test_an_emergency_record_naming_principals_by_pattern_closes_their_findings() -> None:
    history = [{"status": "pending", "at": at(-1).isoformat()}, {"status": "approved", "at": at(120).isoformat()}]
    emergency = record(
        "CHG9", type="emergency", status="approved", status_changes=history, principals=["arn:aws:iam::*:user/car*"]
    )
    out = run(engine(), [change("e1", 0), change("tick", 60, action="ec2:CreateTags", resources=()), emergency])
    e1 = [f.activity_id for f in out.findings if f.finding_info.related_events[0].uid == "e1"]
    assert e1 == [Activity.CREATE, Activity.CLOSE]


def test_emergency_approved_beyond_the_retro_limit_does_not_close() -> None:
    history = [{"status": "approved", "at": at(60 * 30).isoformat()}]
    emergency = record("CHG9", type="emergency", status="approved", status_changes=history)
    out = run(engine(), [change("e1", 0), change("tick", 60, action="ec2:CreateTags", resources=()), emergency])
    assert all(f.activity_id is Activity.CREATE for f in out.findings)


def test_normal_record_approved_after_the_fact_does_not_authorize() -> None:
    history = [{"status": "approved", "at": at(5).isoformat()}]
    assert verdicts([record("CHG1", status_changes=history), change("e1", 0)]) == {"e1": "unauthorized_change"}


def test_duplicate_events_give_one_verdict_and_one_finding() -> None:
    out = run(engine(), [change("e1", 0), change("e1", 0), change("e1", 0)])
    assert len(out.ledger) == 1
    assert len(out.findings) == 1


def capped(cap: int) -> OpswardenConfig:
    return load_config({"authorization": {"max_held_per_principal": cap}})


def test_a_principal_holding_more_changes_than_the_cap_has_its_oldest_judged_at_once_and_each_judged_once() -> None:
    config = capped(10)
    built = engine(config)
    changes = [change(f"e{number:02d}", number * 0.1) for number in range(25)]  # 2.5 min: all in one grace period
    early = [entry.event_id for item in [record("CHG1"), *changes] for entry in built.process(item).ledger]
    assert early == [f"e{number:02d}" for number in range(15)]  # judged as the 11th to 25th arrived
    assert built.context.judged_early == 15
    state = built.stores["authorization"][CAROL]
    assert len(state.pending) == 10
    assert len(state.seen) == 10
    assert len(AuthorizationJudge(config).encode_state(state)) < 20_000
    rest = [entry.event_id for entry in built.flush().ledger]
    assert sorted(early + rest) == [c.event_id for c in changes]
    assert set(built.flush().ledger) == set()


def test_findings_open_to_retro_approval_are_capped_and_the_oldest_can_no_longer_close() -> None:
    config = capped(3)
    built = engine(config)
    for number in range(5):
        built.process(change(f"e{number}", number))
    built.advance(at(60))  # past the grace period: all five judged unauthorized
    state = built.stores["authorization"][CAROL]
    assert [held[1] for _, held in state.open_findings] == ["e2", "e3", "e4"]
    history = [{"status": "approved", "at": at(30).isoformat()}]
    emergency = record("CHG9", type="emergency", status="approved", status_changes=history,
                       window={"start": at(-10).isoformat(), "end": at(10).isoformat()})  # fmt: skip
    closed = [f.finding_info.related_events[0].uid for f in built.process(emergency).findings]
    assert closed == ["e2", "e3", "e4"]


def test_a_late_change_left_open_takes_its_place_by_time_and_expires_first() -> None:
    config = load_config(None)
    built = engine(config)
    built.process(change("e60", 60))
    built.advance(at(80))  # e60's grace period is over: judged unauthorized, open to retro-approval
    built.process(change("e50", 50))  # late, and its grace period over already: judged at once
    state = built.stores["authorization"][CAROL]
    assert [held[1] for _, held in state.open_findings] == ["e50", "e60"]
    assert AuthorizationJudge(config).deadline(state) == at(50) + config.authorization.retro_approval_limit
    built.advance(at(51) + config.authorization.retro_approval_limit)  # e50's day is over, e60's is not
    assert [held[1] for _, held in state.open_findings] == ["e60"]


def test_findings_left_open_out_of_order_by_an_earlier_build_are_restored_in_order() -> None:
    judge = AuthorizationJudge(load_config(None))
    as_judged = JudgeState(open_findings=[("unauthorized_change", held_change(change(name, minutes)))
                                          for name, minutes in (("e60", 60), ("e50", 50), ("e55", 55))])  # fmt: skip
    restored = judge.decode_state(judge.encode_state(as_judged))
    assert [held[1] for _, held in restored.open_findings] == ["e50", "e55", "e60"]
    assert judge.deadline(restored) == at(50) + judge.settings.retro_approval_limit


def test_same_input_gives_byte_identical_findings() -> None:
    items = [record("CHG1"), change("e1", 0), change("e2", 300), change("e3", 1)]
    first = [f.model_dump_ocsf() for f in run(engine(), items).findings]
    second = [f.model_dump_ocsf() for f in run(engine(), items).findings]
    assert first == second
    assert first


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_shuffling_within_allowed_lateness_never_changes_the_findings(rnd: random.Random) -> None:
    """Events are generated so that each arrives within the allowed lateness (5 min) of the latest."""
    items: list = [record("CHG1", window={"start": at(0).isoformat(), "end": at(30).isoformat()})]
    events = [change(f"e{i}", i * 1.5) for i in range(40)]
    baseline = {f.uid for f in run(engine(), items + events).findings}
    shuffled = list(events)
    for i in range(len(shuffled) - 1):  # local swaps keep every event within 3 minutes of its place
        if rnd.random() < 0.5:
            shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    assert {f.uid for f in run(engine(), items + shuffled).findings} == baseline
    assert baseline


def test_unjudged_environments_are_skipped() -> None:
    config = load_config({"authorization": {}, "environments": {"unjudged": ["sandbox"]}})
    assert verdicts([change("e1", 0, environment="sandbox")], config) == {}


def test_denied_calls_are_not_judged() -> None:
    denied = change("e1", 0).model_copy(update={"outcome": Outcome.DENIED})
    assert verdicts([denied]) == {}


# -- further checks ---------------------------------------------------------------------------------


def registry(**workflow: object) -> WorkflowRegistry:
    base: dict[str, object] = {
        "name": "sg-healer",
        "class": "execution",
        "owner": "netops@example.com",
        "principals": [ROLE],
        "max_credential_ttl": "PT1H",
    }
    base.update(workflow)
    return WorkflowRegistry.model_validate({"workflows": [base]})


def test_registry_ticketless_action_authorizes_without_a_record() -> None:
    reg = registry(ticketless_actions=[{"action": "ec2:AuthorizeSecurityGroupIngress", "environments": ["production"]}])
    out = run(engine(registry=reg), [action("a1", -1), change("e1", 0, who=BOT)])
    assert [(e.verdict, e.authorized_by) for e in out.ledger] == [("authorized_by_registry", "registry:sg-healer")]
    assert out.findings == []


@pytest.mark.parametrize("workflow_class", ["read_only", "advisory"])
def test_non_executing_workflow_that_acts_is_flagged(workflow_class: str) -> None:
    found = types_of([record("CHG1"), change("e1", 0, who=BOT)], registry=registry(**{"class": workflow_class}))
    assert "non_executing_workflow_acted" in found


def test_machine_principal_without_registry_entry_is_unowned() -> None:
    assert types_of([record("CHG1"), change("e1", 0, who=BOT)]) == ["unowned_automation_change"]


def test_workflow_without_owner_is_unowned() -> None:
    found = types_of([record("CHG1"), action("a1", 0), change("e1", 0, who=BOT)], registry=registry(owner=None))
    assert found == ["unowned_automation_change"]


def test_human_without_record_is_not_automation() -> None:
    assert types_of([change("e1", 0, who=HUMAN)]) == ["unauthorized_change"]


def test_machine_without_record_is_unauthorized_and_unowned() -> None:
    assert types_of([change("e1", 0, who=BOT)]) == ["unauthorized_change", "unowned_automation_change"]


def test_static_credential_on_automation_is_long_lived() -> None:
    who = principal(credential=Credential(id="AKIAEXAMPLE", kind=CredentialKind.STATIC))
    found = types_of([record("CHG1"), action("a1", 0), change("e1", 0, who=who)], registry=registry())
    assert found == ["long_lived_credential_used"]


def test_credential_lifetime_beyond_workflow_limit_is_long_lived() -> None:
    cred = Credential(id="ASIA1", kind=CredentialKind.SHORT_LIVED, issued_at=at(-600), expires_at=at(600))
    found = types_of(
        [record("CHG1"), action("a1", 0), change("e1", 0, who=principal(credential=cred))], registry=registry()
    )
    assert found == ["long_lived_credential_used"]


def test_credential_used_after_its_run_ended() -> None:
    cred = Credential(id="ASIA1", kind=CredentialKind.SHORT_LIVED)
    items = [
        record("CHG1"),
        action("a1", 0, credential_id="ASIA1"),
        action("a2", 2, phase=ActionPhase.SUCCEEDED, credential_id="ASIA1"),
        change("e1", 1, who=principal(credential=cred)),
        change("e2", 20, who=principal(credential=cred)),
    ]
    out = run(engine(registry=registry()), items)
    outlived = [f for f in out.findings if f.finding_type == "credential_outlived_task"]
    assert [f.finding_info.related_events[0].uid for f in outlived] == ["e2"]


def test_change_with_no_matching_declaration_is_undeclared() -> None:
    items = [record("CHG1"), action("a1", 0, act="k8s:delete:pods"), change("e1", 0, who=BOT)]
    assert types_of(items, registry=registry()) == ["undeclared_automation_change"]


@pytest.mark.parametrize("declared_at", [-9, 9])
def test_declaration_within_the_window_before_or_after_counts(declared_at: float) -> None:
    items = [record("CHG1"), action("a1", declared_at), change("e1", 0, who=BOT)]
    assert types_of(items, registry=registry()) == []


def test_declaration_outside_the_window_does_not_count() -> None:
    items = [record("CHG1"), action("a1", -11), change("e1", 0, who=BOT)]
    assert types_of(items, registry=registry()) == ["undeclared_automation_change"]


def test_an_old_declaration_arriving_late_is_forgotten_alone() -> None:
    other = "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-9"
    items = [
        record("CHG1"),
        action("covers-e1", -9),
        action("old", -60, target=other),  # late, older than the one before it
        change("e0", -20, who=BOT),
        change("tick", 12, action="ec2:CreateTags", resources=()),  # e0 judged, declarations before -18 forgotten
        change("e1", 0, who=BOT),
    ]
    out = run(engine(registry=registry()), items)
    undeclared = [
        f.finding_info.related_events[0].uid for f in out.findings if f.finding_type == "undeclared_automation_change"
    ]
    assert undeclared == ["e0"]


@pytest.mark.parametrize("restored", [False, True])
def test_a_runs_credentials_are_forgotten_with_it_after_the_retro_approval_day(restored: bool) -> None:
    config = load_config(None)
    built = engine(config, registry())
    built.process(action("s1", 0, run_id="r1", credential_id="K1"))
    built.process(action("s2", 1, run_id="r2", credential_id="K2"))  # r2 goes on
    built.process(action("z1", 2, run_id="r1", credential_id="K1", phase=ActionPhase.SUCCEEDED))
    built.process(change("c1", 3, who=BOT))  # unauthorized: open, and a deadline, for a day
    store = built.stores["authorization"]
    (key,) = store
    assert store[key].credential_runs == {"K1": "r1", "K2": "r2"}
    if restored:
        judge = AuthorizationJudge(config)
        store[key] = judge.decode_state(judge.encode_state(store[key]))
    built.advance(at(4) + config.authorization.retro_approval_limit)  # r1 ended at minute 2, a day ago
    assert store[key].run_ends == {}
    assert store[key].credential_runs == {"K2": "r2"}


def test_separation_of_duties_requester_approved_own_change_and_executed_it() -> None:
    who = principal("arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin/alice@example.com", kind=PrincipalKind.HUMAN,
                    human="alice@example.com")  # fmt: skip
    rec = record("CHG1", approved_by=["alice@example.com", "bob@example.com"])
    assert types_of([rec, change("e1", 0, who=who)]) == ["separation_of_duties_violation"]


def test_separation_of_duties_record_approved_only_by_requester() -> None:
    rec = record("CHG1", approved_by=["Alice@Example.com"])
    out = run(engine(), [rec, change("e1", 0, who=HUMAN)])
    (finding,) = out.findings
    assert finding.finding_type == "separation_of_duties_violation"
    assert "no approver other than its requester" in finding.evidences[0].data["problem"]


def test_clean_record_with_independent_approver_has_no_sod_finding() -> None:
    assert types_of([record("CHG1"), change("e1", 0, who=HUMAN)]) == []


# -- severity and suppression ----------------------------------------------------------------------


def test_severity_follows_action_class_and_environment() -> None:
    network_prod = run(engine(), [change("e1", 0, who=HUMAN)]).findings[0]
    restart_staging = run(engine(), [change("e2", 0, who=HUMAN, action="ec2:RebootInstances", environment="staging")])
    assert int(network_prod.severity_id) == 4
    assert int(restart_staging.findings[0].severity_id) == 1


def test_suppressed_finding_is_still_issued_and_counted() -> None:
    config = load_config(
        {"suppressions": [{"id": "S1", "finding_type": "unauthorized_change", "principal": "*carol",
                           "reason": "lab user", "owner": "soc@example.com", "expires": at(60).isoformat()}]}
    )  # fmt: skip
    built = engine(config)
    out = run(built, [change("e1", 0, who=HUMAN), change("e2", 90, who=HUMAN)])
    statuses = {f.finding_info.related_events[0].uid: f.status_id for f in out.findings}
    assert statuses == {"e1": Status.SUPPRESSED, "e2": Status.NEW}
    assert built.suppressor.counts == {"S1": 1}


def test_restored_state_gives_the_same_next_output_as_an_uninterrupted_run() -> None:
    judge = AuthorizationJudge(load_config(None))
    head = [record("CHG1"), action("a1", 0, credential_id="ASIA1"), change("e1", 1, who=BOT), change("e2", 3)]
    tail = [change("e3", 40), change("e4", 41, who=BOT), change("e5", 200)]
    uninterrupted, stopped = engine(), engine()
    for item in head:
        uninterrupted.process(item)
        stopped.process(item)
    restored = engine()
    restored.context.authorizations = stopped.context.authorizations
    for key, state in stopped.stores["authorization"].items():
        restored.stores["authorization"][key] = judge.decode_state(judge.encode_state(state))
    restored.max_event_time, restored.context.watermark = stopped.max_event_time, stopped.context.watermark
    restored.rebuild_deadlines()
    expected, got = run(uninterrupted, tail), run(restored, tail)
    assert [f.model_dump_ocsf() for f in got.findings] == [f.model_dump_ocsf() for f in expected.findings]
    assert got.ledger == expected.ledger
    assert len(expected.ledger) == 5


def test_grace_shorter_than_declaration_window_is_rejected() -> None:
    with pytest.raises(ValueError, match="grace"):
        load_config({"authorization": {"grace": "PT1M"}})


def test_timedelta_defaults() -> None:
    assert load_config(None).authorization.grace == timedelta(minutes=15)


def test_pending_changes_counts_what_waits_for_its_grace() -> None:
    built = engine()
    for item in (change("e1", 0), change("e2", 1, who=BOT), change("e3", 2)):
        built.process(item)
    assert AuthorizationJudge.pending_changes(built.stores["authorization"]) == 3
    built.process(change("e4", 30))
    assert AuthorizationJudge.pending_changes(built.stores["authorization"]) == 1


def test_changes_arriving_out_of_order_are_held_and_judged_in_event_time_order() -> None:
    config = load_config(None)
    judge = AuthorizationJudge(config)
    state = judge.new_state()
    ctx = Engine(config, [judge]).context
    for event_id, minutes in (("late", 5), ("b", 0), ("a", 0), ("early", -3)):
        judge.on_item("k", state, change(event_id, minutes), ctx)
    assert judge.deadline(state) == at(-3) + config.authorization.grace
    out = judge.on_watermark("k", state, at(0) + config.authorization.grace, ctx)
    assert [entry.event_id for entry in out.ledger] == ["early", "a", "b"]
    assert [held[1] for held in state.pending] == ["late"]
    assert judge.deadline(state) == at(5) + config.authorization.grace
    restored = judge.decode_state(judge.encode_state(state))
    assert [held[1] for held in restored.pending] == ["late"]


def test_a_held_change_is_written_as_the_json_it_arrived_as() -> None:
    """A worker hands the judge each change's repartition JSON: its state writes those bytes, not a new encoding."""
    config = load_config(None)
    judge = AuthorizationJudge(config)
    state = judge.new_state()
    ctx = Engine(config, [judge]).context
    arrived, encoded_here = change("arrived", 0), change("encoded-here", 1)
    reordered = orjson.dumps(dict(reversed(orjson.loads(arrived.model_dump_json(exclude_none=True)).items())))
    ctx.received_json = reordered
    judge.on_item("k", state, arrived, ctx)
    ctx.received_json = None
    judge.on_item("k", state, encoded_here, ctx)
    written = judge.encode_state(state)
    assert reordered in written
    assert encoded_here.model_dump_json(exclude_none=True).encode() in written
    assert [change_from_json(held[2]) for held in judge.decode_state(written).pending] == [arrived, encoded_here]


def test_a_held_change_is_not_scanned_by_the_garbage_collector_after_two_looks() -> None:
    """A worker holds every production change for its grace period; were they models, each collection would walk
    them all (13 objects a change), stopping the worker for longer the more it holds. A held change is a tuple
    of immutable values with its resources in a tuple inside it: the collector stops tracking the outer one at
    the look after the one that untracks the inner."""
    config = load_config(None)
    judge = AuthorizationJudge(config)
    state = judge.new_state()
    ctx = Engine(config, [judge]).context
    for number in range(3):
        judge.on_item("k", state, change(f"e{number}", number), ctx)
    gc.collect()
    gc.collect()
    assert len(state.pending) == 3
    assert not any(gc.is_tracked(held) for held in state.pending)


def test_an_authorized_change_is_judged_on_its_held_facts_and_a_finding_decodes_its_change() -> None:
    """Most changes are authorized with no finding: their verdict and ledger entry come from the facts held beside
    the JSON, which is decoded only for a finding (here, the held JSON is swapped to tell the two apart)."""
    config = load_config(None)
    judge = AuthorizationJudge(config)
    state = judge.new_state()
    built = Engine(config, [judge])
    built.context.authorizations.upsert(record("CHG1", actions=["ec2:AuthorizeSecurityGroupIngress"]))
    authorized, unauthorized = change("e1", 0), change("e2", 1, action="ec2:RunInstances", source_ip="10.9.9.9")
    for item in (authorized, unauthorized):
        judge.on_item("k", state, item, built.context)
    state.pending = [(*held[:2], b"not JSON", *held[3:]) if held[1] == "e1" else held for held in state.pending]
    out = judge.on_watermark("k", state, at(1) + config.authorization.grace, built.context)
    assert [(entry.event_id, entry.verdict, entry.authorized_by) for entry in out.ledger] == [
        ("e1", "authorized", "CHG1"),
        ("e2", "out_of_scope_change", None),
    ]
    (finding,) = out.findings
    assert finding.finding_type == "out_of_scope_change"
    assert finding.evidences[0].src_endpoint == {"ip": "10.9.9.9"}

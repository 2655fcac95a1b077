"""What real authorization data costs where the throughput bench's uniform load does not look.

Run: `python -m bench.worst_cases`. The throughput bench's users each have one authorization record and the
registry is empty; an automation account is named by every change record it worked under, maintenance windows
recur for years, registries name workflows by pattern, ServiceNow syncs update records by the thousand, and a
busy principal holds hundreds of changes through their grace period, all written again at each state write,
a runaway or stolen identity leaves a finding open to retro-approval with every change, and a busy workflow
declares thousands of actions and ends thousands of credentialed runs a day.
Each case prints the median time of one operation, on one core.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from detectors.context import AuthorizationIndex, DetectionContext, RegistryIndex
from detectors.held import held_change
from detectors.judge import AuthorizationJudge, JudgeState
from detectors.windows import contains
from models.authorization import AuthorizationRecord, RecurringWindow
from models.config import load_config
from models.events import (
    ActionEvent,
    ActionPhase,
    ChangeEvent,
    Credential,
    CredentialKind,
    Principal,
    PrincipalKind,
    Scope,
    Source,
)
from models.parsers.base import Parsed
from models.registry import Workflow, WorkflowClass, WorkflowRegistry
from streams.replay import new_engine

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
BOT = "arn:aws:iam::111122223333:role/remediator"


def record(record_id: str, window_start: datetime | None, **fields: Any) -> AuthorizationRecord:
    window = None if window_start is None else {"start": window_start, "end": window_start + timedelta(hours=2)}
    return AuthorizationRecord.model_validate(
        {"id": record_id, "status": "approved", "owner": "sre", "requested_by": "alice", "approved_by": ["bob"],
         "principals": [BOT],
         "actions": ["ec2:*SecurityGroup*"], "window": window, **fields}
    )  # fmt: skip


def change(number: int) -> ChangeEvent:
    return ChangeEvent(
        event_id=f"e{number}",
        source=Source.CLOUDTRAIL,
        event_time=T0 + timedelta(seconds=number),
        # as a person: an automation account's own checks (registry, declarations) would add findings to build
        principal=Principal(uid=f"{BOT}/session", issuer=BOT, kind=PrincipalKind.HUMAN),
        action="ec2:AuthorizeSecurityGroupIngress",
        resources=("arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1",),
        scope=Scope(account="111122223333"),
        is_change=True,
    )


def median_us(operation: Callable[[int], object], runs: int) -> float:
    times = []
    for number in range(runs):
        started = time.perf_counter()
        operation(number)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def judging(history: int, authorized: bool) -> float:
    """A change by a principal named by `history` change records, one a day, all closed but perhaps one."""
    config = load_config(None)
    judge = AuthorizationJudge(config)
    ctx = DetectionContext(config=config)
    for day in range(history):
        ctx.authorizations.upsert(record(f"CHG{day:06d}", T0 - timedelta(days=day + 1)))
    if authorized:
        ctx.authorizations.upsert(record("CHG999999", T0 - timedelta(minutes=30)))  # the latest, last in id order
    changes = [held_change(change(number)) for number in range(200)]  # as held: judging decodes the JSON
    return median_us(lambda number: judge.judge(changes[number], JudgeState(), ctx), len(changes))


def recurring(rule: str, since: datetime) -> float:
    window = RecurringWindow(rrule=rule, dtstart=since, duration=timedelta(hours=2), tz="Europe/Berlin")
    return median_us(lambda number: contains(window, T0 + timedelta(seconds=number), timedelta(0)), 500)


def registry_look_up(workflows: int) -> float:
    index = RegistryIndex()
    for number in range(workflows):
        principal = f"system:serviceaccount:team-{number}:*"
        index.upsert(Workflow(name=f"w{number}", workflow_class=WorkflowClass.EXECUTION, principals=(principal,)))
    return median_us(lambda _: index.workflow_for((f"{BOT}/session", BOT)), 2000)


def authorization_update(records: int) -> float:
    index = AuthorizationIndex()
    held = [record(f"CHG{n:06d}", T0, principals=[f"arn:aws:iam::1:role/team-{n}/*"]) for n in range(records)]
    for each in held:
        index.upsert(each)
    return median_us(lambda number: index.upsert(held[number]), 1000)


def in_force(records: int) -> float:
    """The `opswarden_authorizations_in_force` gauge's count, asked every second for each engine of a worker."""
    index = AuthorizationIndex()
    for number in range(records):
        index.upsert(record(f"CHG{number:06d}", T0 - timedelta(days=number % 365), principals=[f"{BOT}-{number}"]))
    started = time.perf_counter()
    index.in_force_count(T0)
    print(f"  (the first count after the records change: {(time.perf_counter() - started) * 1e3:,.0f} ms)")
    return median_us(lambda number: index.in_force_count(T0 + timedelta(seconds=number)), 1000)


def state_write(held: int) -> float:
    """Encoding the state of a principal holding `held` changes in their grace period, as each state write does
    while the principal stays active (the changes are held as their JSON)."""
    judge = AuthorizationJudge(load_config(None))
    state = JudgeState(pending=[held_change(change(number)) for number in range(held)])
    size = len(judge.encode_state(state))
    print(f"  (a state of {held:,} held changes: {size / 1024:,.0f} KiB of JSON before compression)")
    return median_us(lambda _: judge.encode_state(state), 20)


def runaway(changes: int) -> float:
    """An event of a principal whose changes are all unauthorized, one every 2 s (a runaway automation, or a
    stolen key), after `changes` of them: each left a finding open to retro-approval for
    `authorization.retro_approval_limit` (24 h), up to `max_held_per_principal` (5,000), every detector run."""
    config = load_config(None)
    engine = new_engine(config)
    events = [change(number).model_copy(update={"event_time": T0 + timedelta(seconds=2 * number)}) for number in
              range(changes + 500)]  # fmt: skip
    for event in events[:changes]:
        engine.process(event)
    return median_us(lambda number: engine.process(events[changes + number]), 500)


def workflow_run(number: int) -> list[Parsed]:
    """One run of a busy workflow, one every 0.5 s: it declares its action, acts with the run's own credential
    a second later, and reports success a second after that."""
    started = T0 + timedelta(seconds=number / 2)
    target = f"arn:aws:ec2:eu-west-1:111122223333:security-group/sg-{number % 50}"
    credential = Credential(id=f"ASIA{number:08d}", kind=CredentialKind.SHORT_LIVED)
    report = {"workflow": "sg-healer", "run_id": f"run-{number}", "action": "ec2:AuthorizeSecurityGroupIngress",
              "target": target, "principal": BOT, "credential": credential}  # fmt: skip
    acted = change(number).model_copy(
        update={
            "event_time": started + timedelta(seconds=1),
            "resources": (target,),
            "principal": Principal(uid=f"{BOT}/session", issuer=BOT, kind=PrincipalKind.MACHINE, credential=credential),
        }
    )
    return [
        ActionEvent(id=f"a{number}", time=started, phase=ActionPhase.STARTED, **report),
        acted,
        ActionEvent(id=f"z{number}", time=started + timedelta(seconds=2), phase=ActionPhase.SUCCEEDED, **report),
    ]


def busy_workflow(runs: int) -> float:
    """A run of a workflow after `runs` of them: thousands of declarations within reach, and a day of runs
    whose credentials are remembered (`retro_approval_limit`), up to `max_held_per_principal`."""
    config = load_config(None)
    workflow = {"name": "sg-healer", "class": "execution", "owner": "netops", "principals": [BOT],
                "ticketless_actions": [{"action": "ec2:*"}]}  # fmt: skip
    engine = new_engine(config, WorkflowRegistry.model_validate({"workflows": [workflow]}))
    for number in range(runs):
        for item in workflow_run(number):
            engine.process(item)
    batches = [workflow_run(runs + number) for number in range(300)]
    return median_us(lambda number: [engine.process(item) for item in batches[number]], len(batches))


def record_arriving(principals_waiting: int, kind: str, named: str) -> float:
    """An authorization record (a sync of a change system brings thousands at once) arriving while
    `principals_waiting` principals hold changes in their grace period, every detector run."""
    config = load_config(None)
    engine = new_engine(config)
    for number in range(principals_waiting):
        who = Principal(uid=f"arn:aws:iam::111122223333:user/u{number}", kind=PrincipalKind.HUMAN)
        engine.process(change(number).model_copy(update={"principal": who}))
    records = [record(f"SYNC{number:06d}", T0, type=kind, principals=[named.format(number)]) for number in range(200)]
    return median_us(lambda number: engine.process(records[number]), len(records))


def targets_at_cap(cap: int, per_second: int) -> float:
    """The mean cost of an event once the loops' targets are at `cap` (`loops.max_targets`, 200,000), with a new
    target `per_second` of event time (pods come and go by the thousand in a large cluster): sweeps included,
    so a mean over five minutes of event time, not a median."""
    config = load_config({"loops": {"max_targets": cap}})
    engine = new_engine(config)
    run = {"workflow": "w", "run_id": "r", "phase": ActionPhase.STARTED, "action": "k8s:delete:pods"}

    def event(number: int) -> ActionEvent:
        moment = T0 + timedelta(seconds=number / per_second)
        return ActionEvent(id=f"a{number}", time=moment, target=f"k8s:prod/web/pods/web-{number}", **run)

    for number in range(cap):
        engine.process(event(number))
    later = [event(cap + number) for number in range(300 * per_second)]
    started = time.perf_counter()
    for item in later:
        engine.process(item)
    return (time.perf_counter() - started) / len(later) * 1e6


def main() -> None:
    cases: list[tuple[str, Callable[[], float]]] = [
        ("judging a change, principal named by 5,000 records, authorized", lambda: judging(5000, True)),
        ("same, not authorized (finding built)", lambda: judging(5000, False)),
        ("recurring window check, nightly since 2020", lambda: recurring("FREQ=DAILY", datetime(2020, 1, 1, 1))),
        ("recurring window check, hourly for a year", lambda: recurring("FREQ=HOURLY", datetime(2025, 6, 1))),
        ("workflow look-up, 200 workflows named by pattern", lambda: registry_look_up(200)),
        ("authorization update among 100,000 records", lambda: authorization_update(100_000)),
        ("records in force, counted among 100,000 (a gauge, every second)", lambda: in_force(100_000)),
        ("state write, a principal holding 600 changes (one every 2 s)", lambda: state_write(600)),
        ("state write, a principal holding 5,000 changes (the cap)", lambda: state_write(5000)),
        ("an event of a runaway principal, 1,000 unauthorized changes on", lambda: runaway(1000)),
        ("same, 10,000 on (5,000 findings open, the cap)", lambda: runaway(10_000)),
        ("a run of a busy workflow (declared, acted, ended), 1,000 runs on", lambda: busy_workflow(1000)),
        ("same, 10,000 runs on", lambda: busy_workflow(10_000)),
        ("a normal record, 10,000 principals holding changes", lambda: record_arriving(10_000, "normal", "{}")),
        (
            "an emergency record naming one of them",
            lambda: record_arriving(10_000, "emergency", "arn:aws:iam::111122223333:user/u{}"),
        ),
        (
            "an emergency record naming principals by pattern",
            lambda: record_arriving(10_000, "emergency", "arn:aws:iam::*:user/x{}*"),
        ),
        ("an event, 200,000 targets held (the cap) and 100 new a second", lambda: targets_at_cap(200_000, 100)),
    ]
    for label, case in cases:
        print(f"{label:66s} {case():10.1f} µs", flush=True)


if __name__ == "__main__":
    main()

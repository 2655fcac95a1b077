"""Per-event cost of the three online detectors together, at 10k tracked principals.

Run: `python -m bench.detectors [--principals N] [--events N]`. Every principal is seen first, so the
state stores hold all of them; then a mixed stream (routine changes, denied calls, IAM grants, AIOps
actions, alerts, remediating audit changes) is timed event by event with `time.perf_counter_ns` around
`Engine.process` (watermark advance, timers and eviction sweeps included), on one core. The day window rolls
over mid-run, so every principal's creep window closes while timed (its drift test and its peer group's
growth score learn then), and IAM grants are timed apart too (the drift probe, and the score of any finding).
Also reports the encoded state per tracked principal (all principal-keyed detectors together) and per
target, and the encoded size of the global models.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np

from detectors.engine import Engine
from detectors.evaluation import detectors_for
from models.config import OpswardenConfig
from models.events import (
    ActionEvent,
    ActionPhase,
    AlertEvent,
    AlertStatus,
    ChangeEvent,
    Grant,
    Outcome,
    Principal,
    PrincipalKind,
    Source,
    Trigger,
)
from models.parsers.base import Parsed

T0 = datetime(2026, 6, 1, 23, 50, tzinfo=UTC)  # the day windows roll over mid-run
ROUTINE = ("ec2:CreateTags", "s3:PutObject", "ssm:PutParameter", "dynamodb:UpdateItem", "ec2:RebootInstances")


def principal(i: int) -> Principal:
    if i % 3 == 0:
        return Principal(uid=f"arn:aws:iam::123456789012:user/u{i}", kind=PrincipalKind.HUMAN)
    return Principal(
        uid=f"arn:aws:sts::123456789012:assumed-role/svc-{i}/session",
        issuer=f"arn:aws:iam::123456789012:role/svc-{i}",
        kind=PrincipalKind.MACHINE,
    )


def stream(principals: int, events: int, rnd: random.Random) -> list[Parsed]:
    """Every principal once, then `events` mixed items, 20 ms of event time apart."""
    people = [principal(i) for i in range(principals)]
    targets = [f"k8s:prod/ns-{i % 50}/pods/p-{i}" for i in range(principals // 5)]
    items: list[Parsed] = []
    at = T0
    for n in range(principals + events):
        at += timedelta(milliseconds=20)
        who = people[n] if n < principals else rnd.choice(people)
        roll = rnd.random()
        if n < principals or roll < 0.80:
            action = rnd.choice(ROUTINE)
            items.append(
                ChangeEvent(
                    event_id=f"e{n}",
                    source=Source.CLOUDTRAIL,
                    event_time=at,
                    principal=who,
                    action=action,
                    resources=(f"arn:aws:ec2:eu-west-1:123456789012:instance/i-{rnd.randrange(50_000):x}",),
                    is_change=True,
                )
            )
        elif roll < 0.85:
            items.append(
                ChangeEvent(
                    event_id=f"e{n}",
                    source=Source.CLOUDTRAIL,
                    event_time=at,
                    principal=who,
                    action="s3:GetObject",
                    outcome=Outcome.DENIED,
                    error_code="AccessDenied",
                )
            )
        elif roll < 0.90:
            grantee = principal(rnd.randrange(principals)).issuer or "arn:aws:iam::123456789012:role/x"
            privilege = f"arn:aws:iam::123456789012:policy/p{rnd.randrange(500)}"
            items.append(
                ChangeEvent(
                    event_id=f"e{n}",
                    source=Source.CLOUDTRAIL,
                    event_time=at,
                    principal=who,
                    action="iam:AttachRolePolicy",
                    resources=(grantee, privilege),
                    is_change=True,
                    grants=(Grant(grantee=grantee, privilege=privilege),),
                )
            )
        elif roll < 0.97:
            target = rnd.choice(targets)
            trigger = Trigger(alert="CrashLoop", fingerprint=f"fp-{target}")
            phase = ActionPhase.STARTED if roll < 0.94 else ActionPhase.SUCCEEDED
            items.append(
                ActionEvent(
                    id=f"a{n}",
                    time=at,
                    workflow=f"wf-{rnd.randrange(20)}",
                    run_id=f"r{n // 2}",
                    phase=phase,
                    action="k8s:delete:pods",
                    target=target,
                    principal="system:serviceaccount:aiops:restarter",
                    trigger=trigger,
                )
            )
        else:
            target = rnd.choice(targets)
            items.append(
                AlertEvent(
                    id=f"al{n}",
                    time=at,
                    status=AlertStatus.FIRING,
                    alert="CrashLoop",
                    fingerprint=f"fp-{target}",
                    target=target,
                )
            )
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--principals", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = OpswardenConfig()
    engine = Engine(config, detectors_for(config))
    items = stream(args.principals, args.events, random.Random(args.seed))
    for item in items[: args.principals]:
        engine.process(item)
    timed = items[args.principals :]
    costs = np.empty(args.events, dtype=np.int64)
    for n, item in enumerate(timed):
        began = time.perf_counter_ns()
        engine.process(item)
        costs[n] = time.perf_counter_ns() - began
    micros = costs / 1000
    grants = np.array([isinstance(item, ChangeEvent) and bool(item.grants) for item in timed])
    print(f"events timed: {args.events}, tracked keys: {engine.tracked_keys()}, evictions: {dict(engine.evictions)}")
    print(f"per event, all three detectors: {spread(micros)}")
    print(f"  IAM grants ({grants.sum()}): {spread(micros[grants])}")
    per_key: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for detector in engine.detectors:
        sizes = [len(detector.encode_state(state)) for state in engine.stores[detector.name].values()]
        mean, worst = sum(sizes) / len(sizes), max(sizes)
        print(f"{detector.name} ({detector.key_kind.value}): {mean:.0f} bytes per key encoded, max {worst}")
        for key, state in engine.stores[detector.name].items():
            per_key[detector.key_kind.value][key] += len(detector.encode_state(state))
    for kind, totals in per_key.items():
        sizes = sorted(totals.values())
        print(f"per {kind}, all detectors: {sum(sizes) / len(sizes):.0f} bytes encoded, max {sizes[-1]}")
    for detector in engine.detectors:
        for name, snapshot in detector.snapshot_models().items():
            print(f"global model snapshot {detector.name}/{name}: {len(snapshot):,} bytes")


def spread(micros: np.ndarray) -> str:
    return f"median {np.median(micros):.1f} µs, p99 {np.percentile(micros, 99):.1f} µs"


if __name__ == "__main__":
    main()

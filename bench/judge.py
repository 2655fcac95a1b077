"""Cost of judging one change as authorizations grow: 100k records over 10k principals.

Run: `python -m bench.judge [--records N] [--principals N] [--changes N]`. Reports the median and
p99 of `AuthorizationJudge.judge` per change (its JSON decoded, candidate look-up, review of the candidates, verdict,
ledger entry and findings), on one core.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from detectors.context import DetectionContext
from detectors.held import held_change
from detectors.judge import AuthorizationJudge, JudgeState
from models.authorization import AuthorizationRecord, FixedWindow
from models.config import load_config
from models.events import ChangeEvent, Principal, PrincipalKind, Scope, Source

T0 = datetime(2026, 6, 1, tzinfo=UTC)
ACTIONS = ("ec2:AuthorizeSecurityGroupIngress", "ec2:RebootInstances", "iam:AttachRolePolicy", "k8s:delete:pods")


def role(i: int) -> str:
    return f"arn:aws:iam::{100000000000 + i % 50}:role/team-{i % 97}/svc-{i}"


def make_records(count: int, principals: int, rnd: random.Random) -> list[AuthorizationRecord]:
    records = []
    for n in range(count):
        i = rnd.randrange(principals)
        pattern = role(i) if n % 10 else role(i).rsplit("/", 1)[0] + "/*"  # one in ten is a glob over a team
        start = T0 + timedelta(hours=rnd.randrange(0, 24 * 30))
        records.append(
            AuthorizationRecord.model_validate(
                {
                    "id": f"CHG{n:07d}",
                    "status": "approved",
                    "owner": "owner@example.com",
                    "approved_by": ["approver@example.com"],
                    "requested_by": "requester@example.com",
                    "principals": [pattern],
                    "actions": [rnd.choice(("ec2:*", "iam:AttachRolePolicy", "k8s:delete:*"))],
                    "resources": ["*"],
                    "environments": ["production"],
                    "window": {"start": start.isoformat(), "end": (start + timedelta(hours=4)).isoformat()},
                }
            )
        )
    return records


def make_changes(
    count: int, principals: int, records: list[AuthorizationRecord], rnd: random.Random
) -> list[ChangeEvent]:
    """Nine in ten changes fall inside a record of their principal (as in a healthy estate); the rest anywhere."""
    changes = []
    by_role = {r.principals[0]: r for r in records if "*" not in r.principals[0]}
    roles = sorted(by_role)
    for n in range(count):
        if n % 10:
            name = rnd.choice(roles)
            record = by_role[name]
            assert isinstance(record.window, FixedWindow)
            moment = record.window.start + timedelta(minutes=rnd.randrange(0, 240))
            action = {"ec2:*": "ec2:RebootInstances", "k8s:delete:*": "k8s:delete:pods"}.get(
                record.actions[0], record.actions[0]
            )
        else:
            name = role(rnd.randrange(principals))
            moment = T0 + timedelta(minutes=rnd.randrange(0, 60 * 24 * 30))
            action = rnd.choice(ACTIONS)
        changes.append(
            ChangeEvent(
                event_id=f"e{n}",
                source=Source.CLOUDTRAIL,
                event_time=moment,
                principal=Principal(uid=name + "/session", issuer=name, kind=PrincipalKind.HUMAN),
                action=action,
                resources=(f"arn:aws:ec2:eu-west-1:1:instance/i-{n}",),
                scope=Scope(account="1"),
                environment="production",
                is_change=True,
            )
        )
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--principals", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=20_000)
    args = parser.parse_args()
    rnd = random.Random(7)
    config = load_config(None)
    judge = AuthorizationJudge(config)
    context = DetectionContext(config=config)
    records = make_records(args.records, args.principals, rnd)
    started = time.perf_counter()
    for record in records:
        context.authorizations.upsert(record)
    indexed = time.perf_counter() - started
    changes = [held_change(change) for change in make_changes(args.changes, args.principals, records, rnd)]
    for change in changes:  # warm-up: compile every glob once, as a running worker has
        judge.judge(change, JudgeState(), context)
    print(f"{args.records} records over {args.principals} principals indexed in {indexed:.2f} s")
    for memo in ("cold (every change looks its candidates up)", "warm (candidates memoised per principal)"):
        verdicts: dict[str, list[float]] = {}
        costs = np.empty(len(changes))
        for n, change in enumerate(changes):
            if memo.startswith("cold"):
                context.authorizations.forget_lookups()
            state = JudgeState()
            begin = time.perf_counter_ns()
            out = judge.judge(change, state, context)
            costs[n] = (time.perf_counter_ns() - begin) / 1000
            verdicts.setdefault(out.ledger[0].verdict, []).append(costs[n])
        summary = f"median {np.median(costs):.1f} µs, p99 {np.percentile(costs, 99):.1f} µs, mean {costs.mean():.1f} µs"
        print(f"judge per change, {memo}: {summary} over {len(changes)} changes")
        for verdict, values in sorted(verdicts.items()):
            print(f"  {verdict}: {len(values)} changes, median {np.median(values):.1f} µs")


if __name__ == "__main__":
    main()

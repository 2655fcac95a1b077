"""Seeded synthetic AIOps traffic with ground truth, to measure the online detectors (and to run the demo).

Pure and deterministic: the same seed gives the same items, no I/O, no clock. `evaluation_scenario`
mixes benign routines (steady principals with noisy paces, near misses below every floor, scheduled
restarts, fleet-wide patches and rolling reloads, load-following autoscaling, stable and daily-rewritten
identities) with labelled episodes of every kind the detectors look for: repetition, flip-flop and
ineffective-fix loops with varied periods and lengths, creeping identities (runs of grants, slow growth,
admin and takeover grants, first use of privileged APIs, one approved expansion) and change or denial
bursts. `demo_scenario` is the small story `make run` tells, with `demo_workflows` as its registry.

>>> items, labels = evaluation_scenario(seed=3, size=1)
>>> items == evaluation_scenario(seed=3, size=1)[0]
True
>>> sorted({label.finding_type for label in labels})
['activity_anomaly', 'permission_creep', 'remediation_loop']
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from models.authorization import AuthorizationRecord, AuthStatus, FixedWindow
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
    Scope,
    Source,
    Trigger,
)
from models.parsers.base import Parsed
from models.registry import Workflow

START = datetime(2026, 3, 2, tzinfo=UTC)
DAYS = 6
ACCOUNT = "111122223333"
REGION = "eu-west-1"
CLUSTER = "prod-eu"
ROUTINE_ACTIONS = (
    "ec2:CreateTags", "ssm:PutParameter", "s3:PutObject", "lambda:UpdateFunctionConfiguration",
    "dynamodb:UpdateItem", "ec2:ModifyInstanceAttribute", "sns:Publish", "logs:PutRetentionPolicy",
)  # fmt: skip
PRIVILEGED_APIS = ("secretsmanager:GetSecretValue", "iam:PassRole", "kms:Decrypt", "ssm:GetParameters")
CREEP_POLICIES = tuple(
    f"arn:aws:iam::aws:policy/{name}"
    for name in ("AmazonS3FullAccess", "AmazonEC2FullAccess", "SecretsManagerReadWrite", "AWSLambda_FullAccess",
                 "AmazonDynamoDBFullAccess", "CloudWatchFullAccess")
)  # fmt: skip


@dataclass(frozen=True)
class Label:
    """One expected finding: its type, subject, when the episode ran and the events that made it."""

    finding_type: str
    subject: str
    kind: str
    start: datetime
    end: datetime
    event_times: tuple[datetime, ...] = ()
    approved: bool = False


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def user(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def machine(name: str) -> Principal:
    """An automation role's session, as CloudTrail names it; its state lives under the role."""
    return Principal(
        uid=f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{name}-session",
        issuer=role(name),
        kind=PrincipalKind.MACHINE,
        name=name,
    )


def person(name: str) -> Principal:
    return Principal(uid=user(name), kind=PrincipalKind.HUMAN, name=name)


def service_account(namespace: str, name: str) -> Principal:
    return Principal(uid=f"system:serviceaccount:{namespace}:{name}", kind=PrincipalKind.SERVICE, name=name)


def k8s(namespace: str, resource: str, name: str) -> str:
    return f"k8s:{CLUSTER}/{namespace}/{resource}/{name}"


@dataclass
class Builder:
    """Collects items with deterministic ids; `items()` returns them in event-time order."""

    rng: random.Random
    timed: list[tuple[datetime, int, Parsed]] = field(default_factory=list)
    records: list[AuthorizationRecord] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    serial: int = 0

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial:07d}"

    def add(self, at: datetime, item: Parsed) -> None:
        self.timed.append((at, self.serial, item))

    def change(
        self,
        at: datetime,
        principal: Principal,
        action: str,
        resources: tuple[str, ...] = (),
        *,
        grants: tuple[Grant, ...] = (),
        outcome: Outcome = Outcome.SUCCESS,
        details: dict[str, object] | None = None,
        source: Source = Source.CLOUDTRAIL,
    ) -> ChangeEvent:
        scope = Scope(cluster=CLUSTER) if source is Source.K8S else Scope(account=ACCOUNT, region=REGION)
        event = ChangeEvent(
            event_id=self.next_id("ct" if source is Source.CLOUDTRAIL else "k8s"),
            source=source,
            event_time=at,
            principal=principal,
            action=action,
            resources=resources,
            scope=scope,
            outcome=outcome,
            error_code="AccessDenied" if outcome is Outcome.DENIED else None,
            is_change=outcome is Outcome.SUCCESS,
            grants=grants,
            details=details or {},
        )
        self.add(at, event)
        return event

    def action(
        self,
        at: datetime,
        workflow: str,
        action: str,
        target: str,
        *,
        trigger: Trigger | None = None,
        principal: str | None = None,
    ) -> None:
        """One run of a workflow: started, then succeeded half a minute later."""
        run = self.next_id("run")
        for phase, offset in ((ActionPhase.STARTED, 0), (ActionPhase.SUCCEEDED, 30)):
            self.add(
                at + timedelta(seconds=offset),
                ActionEvent(
                    id=self.next_id("act"),
                    time=at + timedelta(seconds=offset),
                    workflow=workflow,
                    run_id=run,
                    phase=phase,
                    action=action,
                    target=target,
                    environment="production",
                    principal=principal or f"system:serviceaccount:aiops:{workflow}",
                    trigger=trigger,
                ),
            )

    def alert(self, at: datetime, name: str, fingerprint: str, target: str) -> None:
        self.add(
            at,
            AlertEvent(
                id=self.next_id("alert"),
                time=at,
                status=AlertStatus.FIRING,
                alert=name,
                fingerprint=fingerprint,
                target=target,
                severity="critical",
                environment="production",
            ),
        )

    def jitter(self, seconds: float) -> timedelta:
        return timedelta(seconds=self.rng.uniform(-seconds, seconds))

    def items(self) -> list[Parsed]:
        ordered = sorted(self.timed, key=lambda entry: (entry[0], entry[1]))
        return [*self.records, *(item for _, _, item in ordered)]


# -- benign routines --------------------------------------------------------------------------------


def steady_principals(b: Builder, count: int, *, busy: bool = False) -> list[Principal]:
    """Principals that work every day at their own steady pace; their first hour touches every action."""
    principals = []
    for i in range(count):
        who = machine(f"{'etl' if busy else 'ops'}-{i:03d}") if i % 2 else person(f"{'dev' if busy else 'eng'}{i:03d}")
        principals.append(who)
        pace = b.rng.randint(30, 45) if busy else b.rng.randint(3, 12)
        actions = ROUTINE_ACTIONS[: b.rng.randint(3, len(ROUTINE_ACTIONS))]
        resources = tuple(f"arn:aws:s3:::bucket-{i}-{k}" for k in range(3))
        for day in range(DAYS):
            for bucket in range(8 * 6):  # working day, 10-minute buckets
                if day and b.rng.random() < 0.4:
                    continue
                begin = START + timedelta(days=day, hours=8, minutes=10 * bucket)
                n = max(1, round(pace * b.rng.uniform(0.6, 1.4)))
                for k in range(n):
                    at = begin + timedelta(seconds=b.rng.uniform(0, 590))
                    action = actions[k % len(actions)] if day == 0 and bucket == 0 else b.rng.choice(actions)
                    b.change(at, who, action, (b.rng.choice(resources),))
    return principals


def scheduled_restarts(b: Builder, count: int) -> None:
    for i in range(count):
        target = k8s("batch", "pods", f"report-worker-{i}")
        for day in range(DAYS):
            for hour in (6, 18):
                b.action(
                    START + timedelta(days=day, hours=hour) + b.jitter(300),
                    "nightly-recycler",
                    "k8s:delete:pods",
                    target,
                )


def fleet_patches(b: Builder, targets: int) -> None:
    """A daily patch over the fleet, and a rolling reload repeated three times in 40 minutes: fleet-wide, no loop."""
    hosts = [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-{i:08x}" for i in range(targets)]
    for day in range(DAYS):
        wave = START + timedelta(days=day, hours=2)
        for i, host in enumerate(hosts):
            b.action(wave + timedelta(seconds=5 * i), "patch-fleet", "ssm:SendCommand:AWS-RunPatchBaseline", host)
    pods = [k8s("web", "pods", f"frontend-{i}") for i in range(30)]
    reload_at = START + timedelta(days=2, hours=14)
    for repeat in range(3):
        for i, pod in enumerate(pods):
            b.action(
                reload_at + timedelta(minutes=20 * repeat, seconds=4 * i), "config-reloader", "k8s:delete:pods", pod
            )


def autoscaling(b: Builder, count: int) -> None:
    """The HPA follows load: up in the morning, down in the evening, one controller, no fight."""
    hpa = service_account("kube-system", "horizontal-pod-autoscaler")
    for i in range(count):
        target = k8s("shop", "deployments", f"checkout-{i}")
        for day in range(DAYS):
            morning = START + timedelta(days=day, hours=8)
            for step, replicas in enumerate((4, 5, 6)):
                at = morning + timedelta(minutes=35 * step) + b.jitter(300)
                b.change(
                    at, hpa, "k8s:patch:deployments/scale", (target,), details={"replicas": replicas}, source=Source.K8S
                )
            evening = START + timedelta(days=day, hours=20)
            for step, replicas in enumerate((5, 4, 3)):
                at = evening + timedelta(minutes=35 * step) + b.jitter(300)
                b.change(
                    at, hpa, "k8s:patch:deployments/scale", (target,), details={"replicas": replicas}, source=Source.K8S
                )


def near_misses(b: Builder, count: int) -> None:
    """Below every floor: a restart retried once, one correction of one bot by another, one refire after a fix."""
    for i in range(count):
        at = START + timedelta(days=i % DAYS, hours=b.rng.uniform(1, 22))
        pod = k8s("inventory", "pods", f"sync-{i}")
        b.action(at, "crashloop-restarter", "k8s:delete:pods", pod)
        b.action(at + timedelta(minutes=6), "crashloop-restarter", "k8s:delete:pods", pod)
        group = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-nm{i:06x}"
        b.change(at, machine("net-automation"), "ec2:AuthorizeSecurityGroupIngress", (group,))
        b.change(at + timedelta(minutes=3), machine("compliance-enforcer"), "ec2:RevokeSecurityGroupIngress", (group,))
        target = k8s("orders", "deployments", f"billing-{i}")
        fingerprint = f"fp-nm-{i:04x}"
        trigger = Trigger(alert="HighLatency", fingerprint=fingerprint)
        for k in range(2):
            fired = at + timedelta(minutes=30 * k)
            b.alert(fired, "HighLatency", fingerprint, target)
            b.action(fired + timedelta(seconds=40), "latency-fixer", "k8s:rollout:restart", target, trigger=trigger)


def hourly_jobs(b: Builder, count: int) -> None:
    for i in range(count):
        target = k8s("cache", "pods", f"warmer-{i}")
        for hour in range(DAYS * 24):
            b.action(START + timedelta(hours=hour, minutes=7) + b.jitter(60), "cache-warmer", "k8s:delete:pods", target)


def daily_reads(b: Builder, name: str, since: datetime) -> None:
    """A role at work: a few reads a day from its own sessions, so its (and its peers') windows without new
    privileges are seen too."""
    at = since + timedelta(hours=1)
    while at < START + timedelta(days=DAYS):
        b.change(at, machine(name), "s3:GetObject", (f"arn:aws:s3:::{name}-data",))
        at += timedelta(hours=b.rng.uniform(4, 10))


def stable_identities(b: Builder, count: int, provisioner: Principal) -> None:
    """Roles provisioned with a few policies at once, and a pipeline role whose inline policy is rewritten daily."""
    for i in range(count):
        grantee = role(f"app-{i:03d}")
        created = START + timedelta(hours=b.rng.uniform(1, 24 * (DAYS - 1)))
        b.change(created, provisioner, "iam:CreateRole", (grantee,))
        for k in range(b.rng.randint(2, 4)):
            policy = f"arn:aws:iam::{ACCOUNT}:policy/app-{i:03d}-p{k}"
            b.change(created + timedelta(seconds=20 + k), provisioner, "iam:AttachRolePolicy", (grantee, policy),
                     grants=(Grant(grantee=grantee, privilege=policy),))  # fmt: skip
        daily_reads(b, f"app-{i:03d}", created)
    churn = role("deploy-pipeline")
    for day in range(DAYS):
        at = START + timedelta(days=day, hours=3) + b.jitter(1800)
        b.change(
            at, provisioner, "iam:PutRolePolicy", (churn,), grants=(Grant(grantee=churn, privilege="inline:release"),)
        )


def provisioner_identity(b: Builder) -> Principal:
    """The IAM automation: every sensitive call it will ever make happens in its first hour."""
    terraform = machine("terraform-iam")
    for k, api in enumerate(("iam:CreateRole", "iam:AttachRolePolicy", "iam:PutRolePolicy", "iam:PassRole")):
        b.change(START + timedelta(minutes=k), terraform, api, (role("bootstrap"),))
    return terraform


# -- labelled episodes ------------------------------------------------------------------------------


def repetition_loops(b: Builder, count: int) -> None:
    for i in range(count):
        target = k8s("payments", "pods", f"api-{i}")
        period = timedelta(minutes=b.rng.choice((1, 2, 3, 5, 8, 12)))
        length = b.rng.randint(4, 16)
        begin = START + timedelta(days=1 + i % (DAYS - 2), hours=b.rng.uniform(0, 20))
        times = [begin + period * k + b.jitter(10) for k in range(length)]
        for at in times:
            b.action(at, "crashloop-restarter", "k8s:delete:pods", target)
        b.labels.append(Label("remediation_loop", target, "repetition", times[0], times[-1], tuple(times)))
    # a routine that learned "twice a day" and then runs every 3 minutes
    target = k8s("batch", "pods", "ledger-sync")
    for day in range(3):
        for hour in (7, 19):
            b.action(
                START + timedelta(days=day, hours=hour) + b.jitter(300), "ledger-recycler", "k8s:delete:pods", target
            )
    begin = START + timedelta(days=3, hours=10)
    times = [begin + timedelta(minutes=3 * k) for k in range(8)]
    for at in times:
        b.action(at, "ledger-recycler", "k8s:delete:pods", target)
    b.labels.append(Label("remediation_loop", target, "repetition", times[0], times[-1], tuple(times)))
    # an audit-only loop: a controller deleting the same pod again and again
    controller = service_account("ops", "janitor")
    target = k8s("payments", "pods", "worker-0")
    begin = START + timedelta(days=4, hours=3)
    times = [begin + timedelta(minutes=4 * k) for k in range(6)]
    for at in times:
        b.change(at, controller, "k8s:delete:pods", (target,), source=Source.K8S)
    b.labels.append(Label("remediation_loop", target, "repetition", times[0], times[-1], tuple(times)))


def flip_flop_loops(b: Builder, count: int) -> None:
    for i in range(count):
        begin = START + timedelta(days=1 + i % (DAYS - 2), hours=b.rng.uniform(1, 20))
        period = timedelta(minutes=b.rng.choice((2, 3, 5, 8)))
        length = b.rng.randint(4, 12)
        times = [begin + period * k + b.jitter(10) for k in range(length)]
        style = i % 3
        if style == 0:  # a firewall bot opens a port, a compliance bot closes it
            target = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-{i:08x}"
            opener, closer = machine("net-automation"), machine("compliance-enforcer")
            for k, at in enumerate(times):
                who, api = (
                    (opener, "ec2:AuthorizeSecurityGroupIngress")
                    if k % 2 == 0
                    else (closer, "ec2:RevokeSecurityGroupIngress")
                )
                b.change(at, who, api, (target,))
        elif style == 1:  # the HPA scales up, a cost saver scales down
            target = k8s("search", "deployments", f"indexer-{i}")
            hpa, saver = (
                service_account("kube-system", "horizontal-pod-autoscaler"),
                service_account("finops", "cost-saver"),
            )
            for k, at in enumerate(times):
                who, replicas = (hpa, 8) if k % 2 == 0 else (saver, 2)
                b.change(
                    at, who, "k8s:patch:deployments/scale", (target,), details={"replicas": replicas}, source=Source.K8S
                )
        else:  # two AIOps workflows fighting over capacity
            target = f"asg:{REGION}/workers-{i}"
            for k, at in enumerate(times):
                workflow, action = ("latency-guard", "scale:up") if k % 2 == 0 else ("cost-guard", "scale:down")
                b.action(at, workflow, action, target)
        b.labels.append(Label("remediation_loop", target, "flip_flop", times[0], times[-1], tuple(times)))


def ineffective_loops(b: Builder, count: int) -> None:
    for i in range(count):
        target = k8s("orders", "deployments", f"consumer-{i}")
        fingerprint = f"fp-{i:04x}-lag"
        trigger = Trigger(alert="KafkaConsumerLag", fingerprint=fingerprint, severity="critical")
        begin = START + timedelta(days=1 + i % (DAYS - 2), hours=b.rng.uniform(0, 18))
        period = timedelta(minutes=b.rng.choice((10, 20, 30, 45, 60)))
        cycles = b.rng.randint(3, 8)
        times = []
        for k in range(cycles):
            fired = begin + period * k + b.jitter(30)
            b.alert(fired, "KafkaConsumerLag", fingerprint, target)
            b.action(fired + timedelta(seconds=45), "lag-fixer", "k8s:rollout:restart", target, trigger=trigger)
            times.append(fired)
        b.labels.append(Label("remediation_loop", target, "ineffective", times[0], times[-1], tuple(times)))


def creeping_identities(b: Builder, count: int, provisioner: Principal) -> None:
    """Roles that gain policies after provisioning: a run within hours, or slow growth over days."""
    for i in range(count):
        grantee = role(f"svc-creep-{i:02d}")
        created = START + timedelta(hours=b.rng.uniform(1, 12))
        b.change(created, provisioner, "iam:CreateRole", (grantee,))
        for k in range(2):
            policy = f"arn:aws:iam::{ACCOUNT}:policy/svc-creep-{i:02d}-base{k}"
            b.change(created + timedelta(seconds=10 + k), provisioner, "iam:AttachRolePolicy", (grantee, policy),
                     grants=(Grant(grantee=grantee, privilege=policy),))  # fmt: skip
        daily_reads(b, f"svc-creep-{i:02d}", created)
        slow = i % 2 == 1
        gap_hours = (18, 26) if slow else (2, 9)
        steps = 5 if slow else b.rng.randint(3, 5)
        at = created + timedelta(hours=b.rng.uniform(*gap_hours))
        times = []
        for policy in b.rng.sample(CREEP_POLICIES, steps):
            b.change(
                at,
                provisioner,
                "iam:AttachRolePolicy",
                (grantee, policy),
                grants=(Grant(grantee=grantee, privilege=policy),),
            )
            times.append(at)
            at += timedelta(hours=b.rng.uniform(*gap_hours))
        b.labels.append(
            Label(
                "permission_creep", grantee, "steady_growth" if slow else "grant_run", times[0], times[-1], tuple(times)
            )
        )


def escalations(b: Builder, count: int) -> None:
    """Admin handed to a user, and an access key made for someone else: creep on the grantee at once."""
    for i in range(count):
        at = START + timedelta(days=1 + i % (DAYS - 2), hours=b.rng.uniform(0, 20))
        actor = person(f"intruder{i}")
        target = user(f"new-admin-{i}")
        b.change(at, actor, "iam:CreateUser", (target,))
        b.change(at + timedelta(seconds=30), actor, "iam:AttachUserPolicy", (target,),
                 grants=(Grant(grantee=target, privilege="arn:aws:iam::aws:policy/AdministratorAccess"),))  # fmt: skip
        b.labels.append(Label("permission_creep", target, "admin_grant", at, at + timedelta(seconds=30)))
        victim = user(f"victim-{i}")
        at2 = at + timedelta(hours=2)
        b.change(at2, actor, "iam:CreateAccessKey", (victim,), grants=(Grant(grantee=victim, privilege="access_key"),))
        b.labels.append(Label("permission_creep", victim, "takeover_grant", at2, at2))


def privileged_first_uses(b: Builder, count: int) -> None:
    """Established automation that suddenly starts minting keys and reading secrets."""
    for i in range(count):
        who = machine(f"report-bot-{i}")
        for day in range(DAYS):
            for hour in range(8, 18):
                at = START + timedelta(days=day, hours=hour, minutes=b.rng.uniform(0, 50))
                b.change(at, who, "s3:PutObject", (f"arn:aws:s3:::reports-{i}",))
        begin = START + timedelta(days=2 + i % (DAYS - 3), hours=b.rng.uniform(9, 16))
        times = []
        for k, api in enumerate(PRIVILEGED_APIS):
            at = begin + timedelta(minutes=7 * k)
            b.change(at, who, api, (f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-{i}",))
            times.append(at)
        b.labels.append(
            Label("permission_creep", who.issuer or who.uid, "privileged_first_use", times[0], times[-1], tuple(times))
        )


def approved_expansion(b: Builder) -> None:
    """Three policies for one role inside an approved change: still creep, at lower severity."""
    operator = person("platform-oncall")
    grantee = role("data-exporter")
    begin = START + timedelta(days=3, hours=10)
    b.records.append(
        AuthorizationRecord(
            id="CHG0041234",
            status=AuthStatus.APPROVED,
            owner="platform-team",
            requested_by="carol@example.com",
            approved_by=("dave@example.com",),
            purpose="data exporter needs S3, KMS and Glue access",
            principals=(operator.uid,),
            actions=("iam:AttachRolePolicy",),
            resources=(grantee, "arn:aws:iam::aws:policy/*"),
            window=FixedWindow(start=begin - timedelta(hours=1), end=begin + timedelta(hours=4)),
        )
    )
    provisioner = machine("terraform-iam")
    created = START + timedelta(hours=5)
    base = f"arn:aws:iam::{ACCOUNT}:policy/data-exporter-base"
    b.change(created, provisioner, "iam:CreateRole", (grantee,))
    b.change(
        created, provisioner, "iam:AttachRolePolicy", (grantee, base), grants=(Grant(grantee=grantee, privilege=base),)
    )
    times = []
    for k, policy in enumerate(
        ("AmazonS3ReadOnlyAccess", "AWSKeyManagementServicePowerUser", "AWSGlueConsoleFullAccess")
    ):
        at = begin + timedelta(minutes=25 * k)
        arn = f"arn:aws:iam::aws:policy/{policy}"
        b.change(at, operator, "iam:AttachRolePolicy", (grantee, arn), grants=(Grant(grantee=grantee, privilege=arn),))
        times.append(at)
    b.labels.append(Label("permission_creep", grantee, "grant_run", times[0], times[-1], tuple(times), approved=True))


def bursts(b: Builder, principals: list[Principal], *, denied: bool) -> None:
    """A runaway script (changes) or a probing stolen credential (denials) from a principal with a routine."""
    for i, who in enumerate(principals):
        begin = START + timedelta(
            days=2 + i % (DAYS - 3), hours=b.rng.choice((9, 11, 13, 15)), minutes=b.rng.uniform(0, 50)
        )
        n = b.rng.randint(20, 40) if denied else b.rng.randint(80, 150)
        span = b.rng.uniform(120, 480)
        times = sorted(begin + timedelta(seconds=b.rng.uniform(0, span)) for _ in range(n))
        for at in times:
            if denied:
                b.change(
                    at,
                    who,
                    b.rng.choice(("iam:ListRoles", "s3:GetObject", "ec2:DescribeInstances")),
                    outcome=Outcome.DENIED,
                )
            else:
                b.change(
                    at,
                    who,
                    "ec2:TerminateInstances",
                    (f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-{b.rng.getrandbits(32):08x}",),
                )
        key = who.issuer or who.uid
        kind = "denied_burst" if denied else "change_burst"
        b.labels.append(Label("activity_anomaly", key, kind, times[0], times[-1], tuple(times)))


def evaluation_scenario(seed: int = 7, size: int = 1) -> tuple[list[Parsed], list[Label]]:
    """Six days of traffic and the episodes in it; `size` scales how many of each there are."""
    b = Builder(random.Random(seed))
    terraform = provisioner_identity(b)
    steady = steady_principals(b, 12 * size)
    steady_principals(b, 3 * size, busy=True)
    scheduled_restarts(b, 4 * size)
    fleet_patches(b, 60 * size)
    autoscaling(b, 3 * size)
    hourly_jobs(b, 2 * size)
    near_misses(b, 6 * size)
    stable_identities(b, 50 * size, terraform)
    repetition_loops(b, 6 * size)
    flip_flop_loops(b, 6 * size)
    ineffective_loops(b, 5 * size)
    creeping_identities(b, 6 * size, terraform)
    escalations(b, 2 * size)
    privileged_first_uses(b, 3 * size)
    approved_expansion(b)
    bursts(b, steady[: 3 * size], denied=False)
    bursts(b, steady[3 * size : 6 * size], denied=True)
    return b.items(), b.labels


def demo_scenario(seed: int = 7) -> list[Parsed]:
    """The story `make run` tells: an authorized maintenance window, an unauthorized firewall change, a change
    outside its window, a remediation loop and a creeping identity, in one hour and a half."""
    b = Builder(random.Random(seed))
    begin = START + timedelta(days=1, hours=9)
    ops = machine("maintenance-runner")
    b.records.append(
        AuthorizationRecord(
            id="CHG0030001",
            status=AuthStatus.APPROVED,
            owner="platform-team",
            purpose="monthly RDS maintenance",
            principals=(ops.issuer or ops.uid, ops.uid),
            actions=("rds:ModifyDBInstance", "rds:RebootDBInstance"),
            resources=(f"arn:aws:rds:{REGION}:{ACCOUNT}:db:*",),
            window=FixedWindow(start=begin, end=begin + timedelta(minutes=30)),
        )
    )
    database = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders"
    for minutes, api in ((5, "rds:ModifyDBInstance"), (12, "rds:RebootDBInstance"), (95, "rds:RebootDBInstance")):
        at = begin + timedelta(minutes=minutes)  # the last one is outside its window
        b.action(at - timedelta(seconds=20), "maintenance-runner", api, database, principal=ops.issuer)
        b.change(at, ops, api, (database,))
    netbot = machine("net-automation")
    group = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0a1b2c3d"
    b.change(begin + timedelta(minutes=20), netbot, "ec2:AuthorizeSecurityGroupIngress", (group,),
             details={"cidr": "0.0.0.0/0", "port": 22})  # fmt: skip
    pod = k8s("payments", "pods", "api-7f9c")
    for k in range(6):
        b.action(begin + timedelta(minutes=30 + 2 * k), "crashloop-restarter", "k8s:delete:pods", pod)
    creeper = role("svc-reporting")
    granter = machine("terraform-iam")
    base = f"arn:aws:iam::{ACCOUNT}:policy/reporting-read"
    b.change(begin - timedelta(hours=3), granter, "iam:AttachRolePolicy", (creeper, base),
             grants=(Grant(grantee=creeper, privilege=base),))  # fmt: skip
    for k, policy in enumerate(("AmazonS3FullAccess", "SecretsManagerReadWrite", "AdministratorAccess")):
        arn = f"arn:aws:iam::aws:policy/{policy}"
        b.change(begin + timedelta(minutes=40 + 10 * k), granter, "iam:AttachRolePolicy", (creeper, arn),
                 grants=(Grant(grantee=creeper, privilege=arn),))  # fmt: skip
    return b.items()


def demo_workflows() -> tuple[Workflow, ...]:
    """The registry the demo runs with: every automation in `demo_scenario` has an owner."""
    rows = [
        ("maintenance-runner", "dba-team", (role("maintenance-runner"),)),
        ("net-automation", "network-team", (role("net-automation"),)),
        ("terraform-iam", "platform-team", (role("terraform-iam"),)),
        ("crashloop-restarter", "sre-team", ("system:serviceaccount:aiops:crashloop-restarter",)),
    ]
    return tuple(
        Workflow.model_validate({"name": name, "class": "execution", "owner": owner, "principals": list(principals)})
        for name, owner, principals in rows
    )

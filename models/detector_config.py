"""Configuration sections of the online detectors (remediation loops, permission creep, activity anomaly).

Each detector pairs an explicit floor (a count within a window) with a learned per-key baseline; both are
here with their defaults, and both are reported in every finding.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator, model_validator

from models.events import PrincipalKind
from models.section import Section


def _default_inverse_pairs() -> tuple[tuple[str, str], ...]:
    return (
        ("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"),
        ("ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress"),
        ("iam:AttachRolePolicy", "iam:DetachRolePolicy"),
        ("iam:AttachUserPolicy", "iam:DetachUserPolicy"),
        ("iam:AddUserToGroup", "iam:RemoveUserFromGroup"),
        ("ec2:StartInstances", "ec2:StopInstances"),
        ("autoscaling:ScaleOut", "autoscaling:ScaleIn"),
        ("scale:up", "scale:down"),
        ("k8s:create:*", "k8s:delete:*"),
        ("create", "delete"),
        ("enable", "disable"),
        ("add", "remove"),
    )


def _default_audit_actions() -> tuple[str, ...]:
    return (
        "k8s:delete:pods", "k8s:*:deployments*", "k8s:*:statefulsets*", "k8s:*:daemonsets*", "k8s:*:replicasets*",
        "k8s:*:horizontalpodautoscalers", "k8s:*:networkpolicies", "k8s:*:*rolebindings", "k8s:*:configmaps",
        "ec2:Reboot*", "ec2:Start*", "ec2:Stop*", "ec2:Terminate*", "ec2:*SecurityGroup*", "ec2:*Route*",
        "ec2:*NetworkAcl*", "autoscaling:*", "ecs:UpdateService", "rds:Reboot*", "rds:Failover*",
        "lambda:Put*Concurrency", "iam:Attach*", "iam:Detach*", "iam:Put*Policy", "iam:Delete*Policy",
        "iam:AddUserToGroup", "iam:RemoveUserFromGroup", "gcp:*firewalls*", "gcp:*instances.reset",
        "gcp:*instances.stop", "gcp:*instances.start", "gcp:*SetIamPolicy", "microsoft.network/*",
        "microsoft.compute/virtualmachines/restart/action", "microsoft.authorization/roleassignments/*", "scale:*",
    )  # fmt: skip


class LoopConfig(Section):
    """remediation_loop: floors per signal, the learned inter-arrival baseline, the inverse-action table."""

    window: timedelta = Field(default=timedelta(hours=1), description="Repetitions and flips count within this.")
    min_repetitions: int = Field(default=3, ge=2, description="Same action, same target, same actor: floor.")
    echo_window: timedelta = Field(
        default=timedelta(minutes=2),
        description="An AIOps action and its audit record this close together are one occurrence, not two.",
    )
    min_flips: int = Field(default=3, ge=1, description="Action/inverse alternations by different actors: floor.")
    ineffective_window: timedelta = Field(default=timedelta(hours=6), description="Refires after success count here.")
    min_refires: int = Field(default=2, ge=1, description="Trigger refires after a reported success: floor.")
    quiet_period: timedelta = Field(default=timedelta(minutes=30), description="An episode closes this long after.")
    fading_factor: float = Field(default=0.2, gt=0, le=1, description="EW weight of a new inter-arrival gap.")
    warmup_gaps: int = Field(default=5, ge=1, description="Gaps before a series' learned baseline is trusted.")
    z_threshold: float = Field(default=3.0, gt=0, description="How far below the learned log-gap a loop must be.")
    min_log_std: float = Field(default=0.5, gt=0, description="Std floor of the log-gap, so a clockwork job adapts.")
    fanout_targets: int = Field(default=10, ge=2, description="Distinct targets in a window that make it fleet-wide.")
    max_fanout_series: int = Field(default=10_000, ge=1, description="(actor, action) pairs the fan-out model keeps.")
    inverse_pairs: tuple[tuple[str, str], ...] = Field(
        default_factory=_default_inverse_pairs,
        description="Action globs and their inverses; bare words match the operation verb (create/delete).",
    )
    automation_kinds: tuple[PrincipalKind, ...] = (PrincipalKind.MACHINE, PrincipalKind.SERVICE)
    audit_actions: tuple[str, ...] = Field(
        default_factory=_default_audit_actions,
        description="Audit-log action globs that remediate or fight (AIOps actions always count); routine "
        "writes such as s3:PutObject are not loops.",
    )
    ignore_actions: tuple[str, ...] = Field(default=(), description="Action globs never treated as loops.")
    ignore_targets: tuple[str, ...] = Field(default=(), description="Target globs never treated as loops.")
    max_series: int = Field(default=8, ge=1, description="Per target: (actor, action) series kept; oldest go.")
    remembered_events: int = Field(
        default=32, ge=1, description="Latest event ids kept per target so a redelivered event counts once."
    )
    max_targets: int = Field(default=200_000, gt=0)
    idle_after: timedelta = timedelta(days=2)

    @model_validator(mode="after")
    def _positive_windows(self) -> LoopConfig:
        spans = ("window", "quiet_period", "ineffective_window", "echo_window")
        bad = [name for name in spans if getattr(self, name) <= timedelta(0)]
        if bad:
            raise ValueError(f"loops: {', '.join(bad)} must be positive")
        if self.echo_window >= self.window:
            raise ValueError("loops: echo_window must be shorter than window, or every repetition is an echo")
        return self


def _default_admin_privileges() -> tuple[str, ...]:
    return (
        "*:*",
        "arn:aws:iam::aws:policy/AdministratorAccess",
        "arn:aws:iam::aws:policy/IAMFullAccess",
        "arn:aws:iam::aws:policy/PowerUserAccess",
        "ClusterRole:cluster-admin",
        "ClusterRole:admin",
        "roles/owner",
        "roles/editor",
        "roles/iam.securityAdmin",
        "Owner",
        "User Access Administrator",
    )


def _default_sensitive_apis() -> dict[str, float]:
    return {
        "iam:CreateAccessKey": 1.0,
        "iam:CreateLoginProfile": 1.0,
        "iam:UpdateAssumeRolePolicy": 1.0,
        "iam:Attach*Policy": 1.0,
        "iam:Put*Policy": 1.0,
        "iam:CreateUser": 0.7,
        "iam:CreateRole": 0.5,
        "iam:PassRole": 0.5,
        "sts:AssumeRole": 0.2,
        "secretsmanager:GetSecretValue": 0.5,
        "ssm:GetParameter*": 0.3,
        "kms:Decrypt": 0.3,
        "cloudtrail:StopLogging": 1.0,
        "cloudtrail:DeleteTrail": 1.0,
        "organizations:*": 1.0,
        "k8s:create:pods/exec": 1.0,
        "k8s:get:secrets": 0.5,
        "k8s:*:clusterrolebindings": 1.0,
        "k8s:*:rolebindings": 0.7,
        "gcp:*SetIamPolicy": 1.0,
        "microsoft.authorization/roleassignments/write": 1.0,
    }


class CreepConfig(Section):
    """permission_creep: what admin power is, how fast privileges may grow, which APIs are sensitive, and the
    learned growth models (a Page-Hinkley drift test per principal, a growth score per peer group)."""

    window: timedelta = Field(default=timedelta(hours=24), description="A run of grants counts within this.")
    min_grants: int = Field(default=3, ge=1, description="New privileges within `window`: floor of a run.")
    growth_window: timedelta = Field(default=timedelta(days=7), description="Slow growth counts within this.")
    min_growth: int = Field(default=5, ge=2, description="New privileges within `growth_window`: floor of growth.")
    bootstrap: timedelta = Field(
        default=timedelta(hours=1), description="Grants this soon after a principal's first are its provisioning."
    )
    fading_factor: float = Field(default=0.2, gt=0, le=1, description="EW weight of a closed window's grant count.")
    warmup_windows: int = Field(default=3, ge=1, description="Closed windows before a baseline is trusted.")
    z_threshold: float = Field(default=3.0, gt=0, description="How far above its baselines a run must be.")
    min_std: float = Field(default=1.0, gt=0, description="Std floor of grants per window.")
    peer_warmup: int = Field(
        default=100, ge=1, description="Principal-windows a peer group (registry workflow, else kind) needs to judge."
    )
    peer_quantile: float = Field(
        default=0.9, gt=0, lt=1, description="A principal is beyond its peers above this quantile of their gains."
    )
    drift_threshold: float = Field(
        default=1.5,
        gt=0,
        description="Page-Hinkley threshold (lambda): how far a principal's new privileges per window may rise "
        "above their running mean, summed over windows, before its growth has drifted.",
    )
    drift_delta: float = Field(default=0.1, ge=0, description="Page-Hinkley delta: rise per window taken as noise.")
    drift_min_windows: int = Field(
        default=3, ge=1, description="Windows a principal's series needs before its drift test may alarm."
    )
    drift_min_growth: int = Field(
        default=3, ge=1, description="New privileges within `growth_window`: floor of a drift finding."
    )
    score_window: int = Field(
        default=100,
        ge=10,
        description="Principal-windows per peer group the growth score's trees are fitted on (HalfSpaceTrees "
        "window); a group has no score before its first window is full.",
    )
    score_threshold: float = Field(
        default=0.85, gt=0, lt=1, description="Growth score from which an unapproved finding is rated High."
    )
    max_score_groups: int = Field(
        default=16, ge=1, description="Peer groups with their own score model (~300 KB each); more share one."
    )
    admin_privileges: tuple[str, ...] = Field(
        default_factory=_default_admin_privileges, description="Privileges that are admin-equivalent (exact names)."
    )
    takeover_privileges: tuple[str, ...] = Field(
        default=("access_key", "console_password", "trust_policy"),
        description="Credentials or trust given to a principal by someone else: a takeover path on its own.",
    )
    sensitive_apis: dict[str, float] = Field(
        default_factory=_default_sensitive_apis, description="Action glob -> sensitivity weight of its first use."
    )
    sensitive_threshold: float = Field(default=1.0, gt=0, description="Weight of first uses within `window`.")
    min_history: timedelta = Field(
        default=timedelta(hours=6), description="A principal must be known this long before first uses count."
    )
    ignore_principals: tuple[str, ...] = Field(default=(), description="Grantee or actor globs never judged.")
    max_privileges: int = Field(default=48, ge=1, description="Distinct privileges and APIs remembered per key.")
    remembered_events: int = Field(
        default=32, ge=1, description="Latest event ids kept per principal so a redelivered event counts once."
    )
    max_principals: int = Field(default=200_000, gt=0)
    idle_after: timedelta = timedelta(days=30)

    @field_validator("sensitive_apis")
    @classmethod
    def _positive_weights(cls, table: dict[str, float]) -> dict[str, float]:
        bad = sorted(api for api, weight in table.items() if weight <= 0)
        if bad:
            raise ValueError(f"sensitivity weights must be positive: {bad}")
        return table

    @model_validator(mode="after")
    def _consistent_spans_and_floors(self) -> CreepConfig:
        if self.growth_window < self.window:
            raise ValueError("creep.growth_window must be at least creep.window")
        if self.drift_min_growth > self.min_growth:
            raise ValueError("creep.drift_min_growth must not exceed creep.min_growth: steady growth would come first")
        return self


class AnomalyConfig(Section):
    """activity_anomaly: per-principal change and denial rates per bucket, against the principal's own baseline."""

    bucket: timedelta = Field(default=timedelta(minutes=10), description="Counts are taken per bucket.")
    min_changes: int = Field(default=25, ge=1, description="Changes in one bucket: floor of a change burst.")
    min_denied: int = Field(default=10, ge=1, description="Denied calls in one bucket: floor of a denial burst.")
    fading_factor: float = Field(default=0.1, gt=0, le=1, description="EW weight of a closed bucket's count.")
    warmup_buckets: int = Field(default=6, ge=1, description="Active buckets before a key may raise findings.")
    surprising_weight: float = Field(
        default=0.1, ge=0, le=1, description="Learning pace of a bucket above the z threshold but under the floor."
    )
    z_threshold: float = Field(default=4.0, gt=0, description="How far above its baseline a bucket must be.")
    min_std: float = Field(default=2.0, gt=0, description="Std floor of a bucket count.")
    min_relative_std: float = Field(
        default=0.25, ge=0, description="Std floor as a fraction of the mean: busy principals vary more."
    )
    ignore_principals: tuple[str, ...] = Field(default=(), description="Principal globs never judged.")
    remembered_events: int = Field(
        default=256, ge=1, description="Latest event ids kept per principal so a redelivered event counts once."
    )
    max_principals: int = Field(default=200_000, gt=0)
    idle_after: timedelta = timedelta(days=7)

    @field_validator("bucket")
    @classmethod
    def _positive_bucket(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("anomaly.bucket must be positive")
        return value

"""opswarden's YAML configuration as pydantic models, with defaults a monitor can run on.

Each detector owns one section; every threshold is here, documented in the README, validated on load.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, ValidationError, field_validator, model_validator

from models.detector_config import AnomalyConfig, CreepConfig, LoopConfig
from models.events import Scope, Source
from models.patterns import any_match
from models.section import Section


class EnvironmentSelectors(Section):
    """Glob patterns that place a scope in an environment."""

    accounts: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    subscriptions: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()


class EnvironmentConfig(Section):
    """Named environments in order of precedence; `default_environment` fails closed to production."""

    environments: dict[str, EnvironmentSelectors] = Field(default_factory=dict)
    default_environment: str = "production"
    unjudged: tuple[str, ...] = ()

    def resolve(self, source: Source, scope: Scope) -> str:
        """First environment whose selector matches; a namespace rule wins over a cluster rule.

        Kubernetes scopes match on (cluster and namespace); cloud scopes on their account, project or
        subscription. Unmapped scopes get `default_environment`.
        """
        if scope.namespace is not None:
            for name, sel in self.environments.items():
                in_namespace = bool(sel.namespaces) and any_match(sel.namespaces, scope.namespace)
                in_cluster = not sel.clusters or (scope.cluster is not None and any_match(sel.clusters, scope.cluster))
                if in_namespace and in_cluster:
                    return name
        for name, sel in self.environments.items():
            if scope.cluster and sel.clusters and not sel.namespaces and any_match(sel.clusters, scope.cluster):
                return name
            account = scope.account
            if account is None:
                continue
            patterns = {
                Source.GCP: sel.projects,
                Source.AZURE: sel.subscriptions,
            }.get(source, sel.accounts)
            if patterns and any_match(patterns, account, ignore_case=source is Source.AZURE):
                return name
        return self.default_environment


class LimitsConfig(Section):
    """Bounds on a single input so that one hostile message cannot take a worker down."""

    max_document_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_depth: int = Field(default=64, gt=1)
    max_records_per_document: int = Field(default=100_000, gt=0)
    #: How far an event's time may be ahead of the clock that read it. One record dated in the future would
    #: carry its partition's watermark there: every change held for its grace period would be judged at once,
    #: and every later event would arrive late. Beyond this a record is rejected `future_time`; None: no check.
    max_time_ahead: Annotated[timedelta, Field(gt=timedelta(0))] | None = timedelta(minutes=15)


class ActionClass(Section):
    """Severity of changes whose action matches `pattern` (first match wins)."""

    pattern: str
    name: str
    severity: int = Field(ge=1, le=5)


def _default_action_classes() -> tuple[ActionClass, ...]:
    rows = [
        ("iam:*", "identity", 4), ("sts:*", "identity", 4), ("*:*RoleBinding*", "identity", 4),
        ("k8s:*:*rolebindings", "identity", 4), ("k8s:*:roles", "identity", 4), ("k8s:*:clusterroles", "identity", 4),
        ("gcp:*SetIamPolicy", "identity", 4), ("microsoft.authorization/*", "identity", 4),
        ("ec2:AuthorizeSecurityGroup*", "network_exposure", 4), ("ec2:*SecurityGroup*", "network", 3),
        ("ec2:*Route*", "network", 3), ("ec2:*NetworkAcl*", "network", 3), ("gcp:*firewalls*", "network_exposure", 4),
        ("microsoft.network/*", "network", 3), ("k8s:*:networkpolicies", "network", 3),
        ("secretsmanager:*", "secrets", 4), ("kms:*", "secrets", 4), ("k8s:*:secrets", "secrets", 4),
        ("k8s:create:pods/exec", "exec", 4), ("cloudtrail:*", "audit_tampering", 5),
        ("k8s:delete:pods", "restart", 2), ("ec2:RebootInstances", "restart", 2), ("*:Restart*", "restart", 2),
        ("k8s:patch:deployments/scale", "scale", 2), ("autoscaling:*", "scale", 2),
    ]  # fmt: skip
    return tuple(ActionClass(pattern=p, name=n, severity=s) for p, n, s in rows)


class AuthorizationConfig(Section):
    """The authorization judge: event-time tolerances and severity tables."""

    skew_tolerance: timedelta = timedelta(seconds=120)
    grace: timedelta = timedelta(minutes=15)
    retro_approval_limit: timedelta = timedelta(hours=24)
    declaration_before: timedelta = timedelta(minutes=10)
    declaration_after: timedelta = timedelta(minutes=10)
    action_classes: tuple[ActionClass, ...] = Field(default_factory=_default_action_classes)
    default_action_severity: int = Field(default=3, ge=1, le=5)
    environment_severity_offset: dict[str, int] = Field(
        default_factory=lambda: {"production": 0, "staging": -1, "development": -2}
    )
    unknown_environment_offset: int = -1
    judge_service_principals: bool = False
    dedupe_horizon: timedelta = timedelta(hours=1)
    #: Of each kind of thing the judge holds for a principal (changes in their grace period, findings open to
    #: retro-approval, remembered event ids, declarations, runs), at most this many; beyond, the oldest changes
    #: are judged at once and the oldest of the rest forgotten. A principal's state then stays under ~10 MB,
    #: within memory and a changelog message (16 MB), whatever a bulk job or a runaway loop does.
    max_held_per_principal: int = Field(default=5000, gt=0)
    max_principals: int = Field(default=200_000, gt=0)
    idle_after: timedelta = timedelta(days=7)

    @model_validator(mode="after")
    def _grace_covers_declarations(self) -> AuthorizationConfig:
        if self.grace < self.declaration_after:
            raise ValueError("grace must be at least declaration_after, or late declarations are missed")
        return self


class SuppressionRule(Section):
    """Marks matching findings Suppressed (they are still issued, so the SIEM keeps history and counts).

    Every pattern is a glob; an omitted pattern matches anything. An expired rule stops matching on its
    own, judged by the finding's event time.
    """

    id: str
    finding_type: str = "*"
    principal: str = "*"
    action: str = "*"
    target: str = "*"
    environment: str = "*"
    reason: str
    owner: str
    expires: AwareDatetime | None = None
    ticket: str | None = None


class OpswardenConfig(Section):
    """The whole configuration file."""

    environments: EnvironmentConfig = Field(default_factory=EnvironmentConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    allowed_lateness: timedelta = timedelta(minutes=5)
    authorization: AuthorizationConfig = Field(default_factory=AuthorizationConfig)
    loops: LoopConfig = Field(default_factory=LoopConfig)
    creep: CreepConfig = Field(default_factory=CreepConfig)
    anomaly: AnomalyConfig = Field(default_factory=AnomalyConfig)
    suppressions: tuple[SuppressionRule, ...] = ()

    @field_validator("suppressions")
    @classmethod
    def _unique_ids(cls, rules: tuple[SuppressionRule, ...]) -> tuple[SuppressionRule, ...]:
        ids = [rule.id for rule in rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate suppression ids: {duplicates}")
        return rules


class ConfigError(ValueError):
    """A configuration that does not validate; the message lists every offending path."""


def load_config(data: dict[str, Any] | None) -> OpswardenConfig:
    """Validate a parsed YAML mapping; errors name the dotted path of each bad key."""
    try:
        return OpswardenConfig.model_validate(data or {})
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from exc

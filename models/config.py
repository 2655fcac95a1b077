"""opswarden's YAML configuration as pydantic models, with defaults a monitor can run on.

Each detector owns one section; every threshold is here, documented in the README, validated on load.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.events import Scope, Source
from models.patterns import any_match


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
                if sel.namespaces and any_match(sel.namespaces, scope.namespace):
                    if not sel.clusters or (scope.cluster and any_match(sel.clusters, scope.cluster)):
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

    def is_judged(self, environment: str) -> bool:
        return environment not in self.unjudged


class LimitsConfig(Section):
    """Bounds on a single input so that one hostile message cannot take a worker down."""

    max_document_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_depth: int = Field(default=64, gt=1)
    max_records_per_document: int = Field(default=100_000, gt=0)


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
        lines = [
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from exc

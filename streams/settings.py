"""Runtime settings for the workers and the Kafka commands, from `OPSWARDEN_*` environment variables.

Detection behaviour lives in the YAML config (`config_file`); this is only where to connect and what to call things.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Items a partition's reorder buffer holds at most, unless `OPSWARDEN_REORDER_MAX_ITEMS` says otherwise.
REORDER_MAX_ITEMS = 100_000


class TopicNames(BaseModel):
    """Every topic opswarden reads or writes; `prefix` namespaces them all (tests, shared clusters)."""

    prefix: str = ""
    cloudtrail: str = "audit.cloudtrail"
    k8s: str = "audit.k8s"
    gcp: str = "audit.gcp"
    azure: str = "audit.azure"
    actions: str = "aiops.actions"
    authorizations: str = "change.authorizations"
    registry: str = "workflow.registry"
    findings: str = "opswarden.findings"
    ledger: str = "opswarden.ledger"
    deadletter: str = "opswarden.deadletter"
    by_principal: str = "opswarden.by-principal"
    by_target: str = "opswarden.by-target"
    models: str = "opswarden.models"

    def name(self, field: str) -> str:
        return f"{self.prefix}{getattr(self, field)}"

    def sources(self) -> dict[str, tuple[str, ...]]:
        """Event topics and the parsers each accepts."""
        return {
            self.name("cloudtrail"): ("cloudtrail",),
            self.name("k8s"): ("k8s",),
            self.name("gcp"): ("gcp",),
            self.name("azure"): ("azure",),
            self.name("actions"): ("aiops", "alertmanager", "pagerduty", "rundeck", "stackstorm"),
        }


#: The exit status of a command refused its configuration or settings (sysexits' EX_CONFIG).
EXIT_CONFIG = 78


def settings_problem(error: ValidationError) -> str:
    """What is wrong with each setting, by its variable's name and without its value (a password may be one)."""
    lines = [
        f"OPSWARDEN_{'__'.join(str(part) for part in detail['loc']).upper()}: {detail['msg']}"
        for detail in error.errors()
    ]
    return "invalid settings (OPSWARDEN_* variables, or the options that override them):\n  " + "\n  ".join(lines)


class Settings(BaseSettings):
    """Connection, topics and worker tuning; `OPSWARDEN_TOPICS__FINDINGS=...` sets a nested name."""

    model_config = SettingsConfigDict(env_prefix="OPSWARDEN_", env_nested_delimiter="__", extra="ignore")

    app_id: str = "opswarden"
    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    topics: TopicNames = Field(default_factory=TopicNames)
    partitions: int = Field(default=4, gt=0)
    replication_factor: int = Field(default=1, gt=0)
    findings_retention_ms: int = 30 * 24 * 3600 * 1000
    deadletter_retention_ms: int = 14 * 24 * 3600 * 1000

    config_file: Path | None = None
    registry_file: Path | None = None
    store: str = "memory://"
    data_dir: Path = Path(".opswarden-data")
    metrics_port: int = 9464
    #: `/healthz` on the metrics port reports the worker stalled once its event loop has not run this long.
    stall_after_s: float = Field(default=30.0, gt=0)

    #: Processes that parse and route input beside the worker's event loop (`streams.ingest_processes`); each
    #: takes a core when it is busy. 0 runs the input stage in the worker's own loop, sharing its core.
    ingest_processes: int = Field(default=1, ge=0)
    #: Largest batch of input messages parsed at once, and how long the broker may hold a fetch for more to
    #: arrive: a source fetch (until about 64 KiB are there) and the engines' fetches alike.
    batch_max: int = Field(default=2000, gt=0)
    batch_within_s: float = Field(default=0.02, gt=0)
    #: How often consumed offsets are committed, by the source reader and by Faust; a crash reads again what
    #: was consumed since the last commit (at-least-once).
    commit_interval_s: float = Field(default=1.0, gt=0)
    #: Event-time disorder absorbed before detectors see items (they then run in event-time order, as replay does).
    reorder_window_s: float = Field(default=60.0, ge=0)
    #: Items a partition's reorder buffer holds at most (~0.9 KB each in memory): beyond, the oldest are released
    #: before the window has passed them, so a source dense in event time cannot take all the worker's memory.
    reorder_max_items: int = Field(default=REORDER_MAX_ITEMS, gt=0)
    #: How often a partition's changed detector states are written to their tables (and acks released). Each
    #: write encodes every key changed since the last one, so a busy key costs one encoding per interval; a
    #: longer interval costs more input read again after a crash (at-least-once), never a lost finding.
    persist_every_s: float = Field(default=5.0, ge=0)
    #: How often the detectors' global models that changed are written to the models topic, for a replacement
    #: worker to start from (`streams.model_snapshots`); 0 writes none (they are still read at start).
    model_snapshot_every_s: float = Field(default=60.0, ge=0)
    #: How often each partition gets a watermark tick, and when a quiet partition counts as idle.
    tick_interval_s: float = Field(default=1.0, gt=0)
    idle_after_s: float = Field(default=5.0, ge=0)
    #: Event-time seconds a quiet partition's watermark advances per wall-clock second (1 = real time).
    idle_clock_rate: float = Field(default=1.0, gt=0)
    #: How long `worker`, `topics create` and `send` wait at start for the cluster to answer (`streams.reachability`).
    connect_timeout_s: float = Field(default=30.0, gt=0)
    #: Consumer group timings: short ones make the first join fast on a single-node broker.
    session_timeout_s: float = Field(default=30.0, gt=0)
    heartbeat_interval_s: float = Field(default=3.0, gt=0)
    rebalance_timeout_s: float = Field(default=30.0, gt=0)

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        if self.ssl_certfile:
            context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None)
        return context

    def confluent_config(self) -> dict[str, str | int | float | bool]:
        """librdkafka settings for the admin client and producers (`topics create`, `send`)."""
        conf: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol.lower(),
        }
        for key, value in (
            ("ssl.ca.location", self.ssl_cafile),
            ("ssl.certificate.location", self.ssl_certfile),
            ("ssl.key.location", self.ssl_keyfile),
            ("sasl.mechanism", self.sasl_mechanism),
            ("sasl.username", self.sasl_username),
            ("sasl.password", self.sasl_password.get_secret_value() if self.sasl_password else None),
        ):
            if value is not None:
                conf[key] = str(value)
        return conf

    def aiokafka_config(self) -> dict[str, object]:
        """aiokafka settings for the bare consumers (global state readers, benchmarks)."""
        conf: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        context = self.ssl_context()
        if context is not None:
            conf["ssl_context"] = context
        if self.sasl_mechanism:
            conf["sasl_mechanism"] = self.sasl_mechanism
            conf["sasl_plain_username"] = self.sasl_username
            conf["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        return conf

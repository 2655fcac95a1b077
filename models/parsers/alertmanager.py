"""Prometheus Alertmanager webhooks (version 4: `{"receiver", "status", "alerts": [...], ...}`) → AlertEvent.

One AlertEvent per entry of `alerts`:

- fingerprint = the alert's `fingerprint`, else a stable hash of its sorted labels (16 hex digits,
  the length Alertmanager uses).
- status = the alert's `status` (firing / resolved), else the payload's; time = `startsAt` when
  firing, `endsAt` when resolved (Alertmanager's zero time `0001-01-01T00:00:00Z` counts as absent).
- id = `alertmanager:<fingerprint>:<status>:<time>`, so re-sent notifications of one state dedupe.
- alert = `labels.alertname` (required); severity = `labels.severity`; environment =
  `labels.environment` or `labels.env`.
- target: with a `namespace` label, `k8s:<cluster>/<namespace>/<resource>/<name>` for the first of
  the deployment, statefulset, daemonset, job_name (a Kubernetes Job; `job` is Prometheus' scrape
  job), cronjob, pod and service labels (resource in its plural API form, as in audit objectRefs and
  `k8s:<verb>:<resource>` actions; cluster from `cluster`/`k8s_cluster`/`cluster_name`, else
  `unknown`). Otherwise `host:<name>` from `host`/`hostname`/`nodename`/`instance` (the port of an
  `instance` dropped), else `prometheus:job/<job>`; none when no label says.

One malformed alert rejects the payload, with the detail naming `alerts.<i>`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from models.events import AlertEvent, AlertStatus
from models.parsers.aiops import as_time, iso_z, mapping, optional_text, stable_hash, text
from models.parsers.base import ParseContext, Parsed, Record, build
from models.rejection import ParseError, RejectReason

NAME = "alertmanager"

#: Label → Kubernetes resource (plural), in order of preference: stable workloads before pods.
K8S_LABELS: tuple[tuple[str, str], ...] = (
    ("deployment", "deployments"),
    ("statefulset", "statefulsets"),
    ("daemonset", "daemonsets"),
    ("job_name", "jobs"),
    ("cronjob", "cronjobs"),
    ("pod", "pods"),
    ("service", "services"),
)
CLUSTER_LABELS = ("cluster", "k8s_cluster", "cluster_name")
HOST_LABELS = ("host", "hostname", "nodename", "instance")
_PORT = re.compile(r"^(?P<host>\[[^\]]+\]|[^:]+):\d+$")
_ZERO_TIME = "0001-01-01"


def matches(record: Record) -> bool:
    return isinstance(record.get("alerts"), list) and ("receiver" in record or "groupKey" in record)


def _label(labels: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = labels.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def target_of(labels: dict[str, Any]) -> str | None:
    """The canonical uid an alert's labels point at, or None."""
    namespace = _label(labels, "namespace")
    if namespace:
        cluster = _label(labels, *CLUSTER_LABELS) or "unknown"
        for label, resource in K8S_LABELS:
            name = _label(labels, label)
            if name:
                return f"k8s:{cluster}/{namespace}/{resource}/{name}"
    for label in HOST_LABELS:
        host = _label(labels, label)
        if host:
            match = _PORT.match(host) if label == "instance" else None
            return f"host:{match.group('host') if match else host}"
    job = _label(labels, "job")
    return f"prometheus:job/{job}" if job else None


def _time(alert: Record, key: str, where: str) -> datetime:
    value = alert.get(key)
    if value in (None, "") or (isinstance(value, str) and value.startswith(_ZERO_TIME)):
        raise ParseError(RejectReason.MISSING_FIELD, f"missing field {where}.{key}")
    return as_time(value, f"{where}.{key}")


def _alert(alert: Record, default_status: Any, index: int, ctx: ParseContext) -> AlertEvent:
    where = f"alerts.{index}"
    labels = mapping(alert.get("labels"), f"{where}.labels")
    raw_status = alert.get("status") if alert.get("status") not in (None, "") else default_status
    status_text = text(raw_status, f"{where}.status").lower()
    if status_text not in ("firing", "resolved"):
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}.status {status_text[:30]!r} is not firing/resolved")
    status = AlertStatus(status_text)
    when = _time(alert, "startsAt" if status is AlertStatus.FIRING else "endsAt", where)
    fingerprint = optional_text(alert.get("fingerprint"), f"{where}.fingerprint") or stable_hash(
        sorted((str(k), str(v)) for k, v in labels.items())
    )
    return build(
        AlertEvent,
        {
            "id": f"alertmanager:{fingerprint}:{status.value}:{iso_z(when)}",
            "time": when,
            "status": status,
            "alert": text(labels.get("alertname"), f"{where}.labels.alertname"),
            "fingerprint": fingerprint,
            "target": target_of(labels),
            "severity": _label(labels, "severity"),
            "environment": _label(labels, "environment", "env"),
            "raw_ref": ctx.raw_ref(),
        },
    )


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    alerts = record["alerts"]
    if not alerts:
        raise ParseError(RejectReason.MISSING_FIELD, "alerts is empty")
    return [_alert(mapping(alert, f"alerts.{i}"), record.get("status"), i, ctx) for i, alert in enumerate(alerts)]

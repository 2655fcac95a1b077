"""The cluster asked once, quietly, before a command that needs it starts.

Without an answer, every confluent-kafka client a command starts logs each failed connection to stderr
(some twenty lines a second) until its own timeout, and the command then fails with a traceback: ~650
lines in half a minute for a worker. Asked first by a client that logs nothing, a command says why in one
line and exits with sysexits' EX_UNAVAILABLE, which a supervisor (systemd, Compose, Kubernetes) restarts.
"""

from __future__ import annotations

import click
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from streams.settings import EXIT_CONFIG, Settings

#: The exit status of a command whose cluster did not answer (sysexits' EX_UNAVAILABLE).
EXIT_UNAVAILABLE = 69


def unreachable(settings: Settings, timeout_s: float) -> str | None:
    """Why the cluster does not answer a metadata request (no broker reached, TLS or SASL refused), or None.
    Raises KafkaException when no client can be made of the settings (a TLS file missing, say)."""
    admin = AdminClient(settings.confluent_config() | {"log_level": 0})
    try:
        admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        return reason(exc)
    return None


def reason(exc: KafkaException) -> str:
    """librdkafka's own words for what went wrong."""
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)


def require_cluster(settings: Settings, command: str) -> None:
    """Exit with one line on stderr unless the cluster answers within the connect timeout: `EXIT_CONFIG` when
    librdkafka refuses the settings themselves, `EXIT_UNAVAILABLE` when no answer comes."""
    try:
        problem = unreachable(settings, settings.connect_timeout_s)
    except KafkaException as exc:
        click.echo(f"opswarden {command}: the Kafka client refuses the settings: {reason(exc)}", err=True)
        raise SystemExit(EXIT_CONFIG) from exc
    if problem is not None:
        click.echo(
            f"opswarden {command}: no answer from the Kafka cluster at {settings.bootstrap_servers} (waited up "
            f"to {settings.connect_timeout_s:g} s, OPSWARDEN_CONNECT_TIMEOUT_S): {problem}",
            err=True,
        )
        raise SystemExit(EXIT_UNAVAILABLE)

"""`opswarden topics create`: the input, output and repartition topics, idempotently."""

from __future__ import annotations

import click

from streams.reachability import require_cluster
from streams.settings import Settings
from streams.topics import create_topics


@click.group("topics")
def topics_command() -> None:
    """Manage opswarden's Kafka topics."""


@topics_command.command("create")
@click.option("--bootstrap", help="Kafka bootstrap servers (default: OPSWARDEN_BOOTSTRAP_SERVERS).")
@click.option("--partitions", type=int, help="Partitions per topic (default: OPSWARDEN_PARTITIONS).")
def create(bootstrap: str | None, partitions: int | None) -> None:
    """Create every topic that does not exist yet; existing ones are left as they are."""
    overrides = {k: v for k, v in (("bootstrap_servers", bootstrap), ("partitions", partitions)) if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    require_cluster(settings, "topics create")
    for name, outcome in create_topics(settings).items():
        click.echo(f"{outcome:8} {name}")

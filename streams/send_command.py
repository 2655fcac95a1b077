"""`opswarden send TOPIC PATH...`: produce files of records to a topic, for backfills, demos and tests.

A file holding one JSON document is one message (an envelope stays an envelope); JSON lines are one
message per line; YAML documents are sent as JSON. Folders are walked recursively, `.gz` is read
transparently. The key is the record's own id where it has one, so compacted topics keep the latest.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson
import yaml
from confluent_kafka import KafkaException

from models.gzipped import is_gzip
from streams.files import input_files, is_yaml
from streams.outputs import DeliveryFailed, OutputProducer
from streams.reachability import require_cluster
from streams.settings import Settings

ID_FIELDS = ("id", "eventID", "auditID", "insertId", "eventDataId", "sys_id")


def record_key(document: Any) -> str | None:
    """The record's natural id (authorization id, CloudTrail eventID, audit id, ...), if it has one."""
    if not isinstance(document, dict):
        return None
    for name in ID_FIELDS:
        value = document.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    metadata = document.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("uid"), str):
        return str(metadata["uid"])
    return None


def file_messages(path: Path) -> Iterator[tuple[str | None, bytes]]:
    """(key, value) for every message in one file."""
    data = path.read_bytes()
    if is_gzip(data):
        data = gzip.decompress(data)
    if is_yaml(path):
        for document in yaml.safe_load_all(data):
            if document is not None:
                yield record_key(document), orjson.dumps(document, default=str)
        return
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        for line in data.splitlines():
            if line.strip():
                try:
                    key = record_key(orjson.loads(line))
                except orjson.JSONDecodeError:
                    key = None  # sent as is: the worker dead-letters it with a reason
                yield key, line
        return
    yield record_key(document), data


def send_files(settings: Settings, topic: str, paths: tuple[str, ...] | list[str]) -> int:
    """Produce every message under `paths` to `topic`; returns how many, once all are acknowledged."""
    producer = OutputProducer(settings)
    count = 0
    for path in input_files(paths):
        for key, value in file_messages(path):
            producer.produce(topic, value, key)
            count += 1
    producer.close()
    return count


@click.command("send")
@click.option("--bootstrap", help="Kafka bootstrap servers (default: OPSWARDEN_BOOTSTRAP_SERVERS).")
@click.argument("topic")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
def send_command(topic: str, paths: tuple[str, ...], bootstrap: str | None) -> None:
    """Produce the records in PATHS (files or folders) to TOPIC."""
    settings = Settings(bootstrap_servers=bootstrap) if bootstrap else Settings()
    require_cluster(settings, "send")
    try:
        count = send_files(settings, topic, paths)
    except (DeliveryFailed, KafkaException) as exc:  # refused by the broker, or by the client (too large)
        click.echo(f"opswarden send: {exc}", err=True)
        raise SystemExit(1) from exc
    click.echo(f"sent {count} messages to {topic}")

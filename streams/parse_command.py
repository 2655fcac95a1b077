"""`opswarden parse`: canonical events as JSON lines, rejections to stderr, a count per source."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.table import Table

from models.config import OpswardenConfig
from models.parsers import ParseResult, parse_document
from models.parsers.base import ParseContext
from models.rejection import Rejection, RejectReason
from streams.config_loader import load_config_file
from streams.files import input_files, is_yaml


def parse_paths(paths: tuple[str, ...], config: OpswardenConfig) -> ParseResult:
    """Parse every file under `paths`; unreadable files become rejections, never exceptions."""
    result = ParseResult()
    for path in input_files(paths):
        # Read now: an event dated after that is rejected `future_time`, as the workers reject it.
        ctx = ParseContext(environments=config.environments, received_time=datetime.now(UTC), origin=str(path))
        try:
            data = path.read_bytes()
        except OSError as exc:
            result.rejections.append(Rejection(reason=RejectReason.NOT_JSON, detail=str(exc), origin=str(path)))
            continue
        result.extend(parse_document(data, ctx, limits=config.limits, as_yaml=is_yaml(path)))
    return result


def source_of(item: object) -> str:
    source = getattr(item, "source", None)
    return str(source.value) if source is not None else str(getattr(item, "kind", "?"))


@click.command("parse")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), help="YAML config file.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
def parse_command(paths: tuple[str, ...], config_path: str | None) -> None:
    """Print canonical events from PATHS (files or folders) as JSON lines."""
    config = load_config_file(Path(config_path) if config_path else None)
    result = parse_paths(paths, config)
    out = sys.stdout.buffer
    for item in result.items:
        out.write(orjson.dumps(item.model_dump(mode="json", by_alias=True, exclude_none=True)) + b"\n")
    out.flush()
    for rejection in result.rejections:
        sys.stderr.buffer.write(orjson.dumps(rejection.model_dump(mode="json", exclude_none=True)) + b"\n")
    sys.stderr.flush()
    err = Console(stderr=True)
    counts = Counter(source_of(item) for item in result.items)
    rejected = Counter(r.reason.value for r in result.rejections)
    table = Table(title="parsed")
    table.add_column("source")
    table.add_column("events", justify="right")
    for source, count in sorted(counts.items()):
        table.add_row(source, str(count))
    for reason, count in sorted(rejected.items()):
        table.add_row(f"rejected: {reason}", str(count))
    err.print(table)

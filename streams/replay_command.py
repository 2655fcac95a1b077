"""`opswarden replay`: detectors over files, findings as JSON lines, a summary for the engineer tuning them."""

from __future__ import annotations

import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import click
import orjson
from rich.console import Console
from rich.progress import track
from rich.table import Table

from detectors.base import Outputs
from detectors.engine import run
from streams.config_loader import load_config_file, load_registry_file
from streams.replay import in_replay_order, new_engine, parse_inputs

#: Inputs longer than this get a progress bar on stderr.
PROGRESS_ABOVE = 10_000


def write_outputs(outputs: Outputs, findings: BinaryIO, ledger: BinaryIO | None) -> None:
    """Byte-stable JSON lines: sorted keys, the same input always gives the same bytes."""
    for finding in outputs.findings:
        findings.write(orjson.dumps(finding.model_dump_ocsf(), option=orjson.OPT_SORT_KEYS) + b"\n")
    if ledger is not None:
        for entry in outputs.ledger:
            ledger.write(entry.to_json(sort_keys=True) + b"\n")


def summary_table(outputs: Outputs, suppressed: dict[str, int], rejected: Counter[str]) -> Table:
    table = Table(title="replay summary")
    table.add_column("finding type")
    table.add_column("severity")
    table.add_column("created", justify="right")
    table.add_column("updated", justify="right")
    table.add_column("closed", justify="right")
    rows: Counter[tuple[str, str, int]] = Counter(
        (f.finding_type, f.severity, int(f.activity_id)) for f in outputs.findings
    )
    for finding_type, severity in sorted({(t, s) for t, s, _ in rows}):
        table.add_row(finding_type, severity, *(str(rows[(finding_type, severity, a)]) for a in (1, 2, 3)))
    verdicts = Counter(entry.verdict for entry in outputs.ledger)
    table.add_section()
    for verdict, count in sorted(verdicts.items()):
        table.add_row(f"ledger: {verdict}", "", str(count), "", "")
    for rule, count in sorted(suppressed.items()):
        table.add_row(f"suppressed by {rule}", "", str(count), "", "")
    for reason, count in sorted(rejected.items()):
        table.add_row(f"rejected input: {reason}", "", str(count), "", "")
    return table


@click.command("replay")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), help="YAML config file.")
@click.option(
    "--registry", "registry_path", type=click.Path(exists=True, dir_okay=False), help="Workflow registry YAML."
)
@click.option(
    "--authorizations",
    "authorization_paths",
    multiple=True,
    type=click.Path(exists=True),
    help="Authorization records: native JSON/JSONL or ServiceNow exports (repeatable).",
)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Findings file (default stdout).")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, writable=True), help="Ledger file.")
@click.option("--arrival-order", is_flag=True, help="Process events as read instead of in event-time order.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
def replay_command(
    paths: tuple[str, ...],
    config_path: str | None,
    registry_path: str | None,
    authorization_paths: tuple[str, ...],
    output: str | None,
    ledger_path: str | None,
    arrival_order: bool,
) -> None:
    """Run the detectors over PATHS (files or folders, any supported format, .gz too)."""
    config = load_config_file(Path(config_path) if config_path else None)
    registry = load_registry_file(Path(registry_path)) if registry_path else None
    parsed = parse_inputs(paths, config, authorization_paths)
    items = parsed.items if arrival_order else in_replay_order(parsed.items)
    engine = new_engine(config, registry)
    err = Console(stderr=True)
    feed = track(items, description="replaying", console=err) if len(items) > PROGRESS_ABOVE else items
    outputs = run(engine, feed)
    with ExitStack() as stack:
        findings = stack.enter_context(open(output, "wb")) if output else sys.stdout.buffer
        ledger = stack.enter_context(open(ledger_path, "wb")) if ledger_path else None
        write_outputs(outputs, findings, ledger)
        findings.flush()
    rejected = Counter(r.reason.value for r in parsed.rejections)
    err.print(summary_table(outputs, dict(engine.suppressor.counts), rejected))

"""`replay`: the stream's detectors over files, in memory, deterministically.

Inputs are parsed with the same parsers as the workers. Authorization records come first (their
status histories carry their own times) and events follow in event-time order (stable), so that a
backfill of out-of-order history judges each change as a stream that received it on time would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from detectors.base import Outputs
from detectors.catalog import build_detectors
from detectors.engine import Engine, run
from models.authorization import AuthorizationRecord
from models.config import OpswardenConfig
from models.parsers import ParseResult
from models.parsers.base import Parsed, item_time
from models.registry import WorkflowRegistry
from models.rejection import Rejection
from streams.parse_command import parse_paths

_NO_TIME = datetime.min.replace(tzinfo=UTC)


@dataclass
class ReplayResult:
    outputs: Outputs
    rejections: list[Rejection] = field(default_factory=list)
    suppressed_by_rule: dict[str, int] = field(default_factory=dict)
    items: int = 0


def in_replay_order(items: Iterable[Parsed]) -> list[Parsed]:
    """Authorization records first, then everything else by event time, ties in input order."""
    listed = list(items)
    records = [item for item in listed if isinstance(item, AuthorizationRecord)]
    timed = [item for item in listed if not isinstance(item, AuthorizationRecord)]
    timed.sort(key=lambda item: item_time(item) or _NO_TIME)
    return [*records, *timed]


def new_engine(config: OpswardenConfig, registry: WorkflowRegistry | None = None) -> Engine:
    """An engine with every detector and the registry loaded: what each replay and worker starts from."""
    engine = Engine(config, build_detectors(config))
    for workflow in (registry or WorkflowRegistry()).workflows:
        engine.upsert_workflow(workflow)
    return engine


def replay_items(
    items: Iterable[Parsed], config: OpswardenConfig, registry: WorkflowRegistry | None = None
) -> tuple[Outputs, Engine]:
    """Run every detector over `items` in the order given, and flush at end of input."""
    engine = new_engine(config, registry)
    return run(engine, items), engine


def parse_inputs(paths: Sequence[str], config: OpswardenConfig, authorization_paths: Sequence[str] = ()) -> ParseResult:
    parsed = parse_paths(tuple(authorization_paths), config)
    parsed.extend(parse_paths(tuple(paths), config))
    return parsed


def replay_paths(
    paths: Sequence[str],
    config: OpswardenConfig,
    registry: WorkflowRegistry | None = None,
    authorization_paths: Sequence[str] = (),
) -> ReplayResult:
    """Parse, order and replay files: the whole of `opswarden replay` without the terminal."""
    parsed = parse_inputs(paths, config, authorization_paths)
    ordered = in_replay_order(parsed.items)
    outputs, engine = replay_items(ordered, config, registry)
    return ReplayResult(outputs, parsed.rejections, dict(engine.suppressor.counts), len(ordered))

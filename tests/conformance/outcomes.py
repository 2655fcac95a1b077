"""What each Panther test event became through the dispatcher: the shared core of the audit-log suites."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import orjson

from models.events import ChangeEvent
from models.parsers import detect, parse_document
from models.parsers.base import ParseContext
from models.rejection import Rejection
from tests.samples import PantherCase, panther_cases


@dataclass(frozen=True)
class Outcomes:
    case: PantherCase
    detected: str | None
    events: list[ChangeEvent]
    rejections: list[Rejection]


def run(case: PantherCase) -> Outcomes:
    """The case through auto-detection; audit-log parsers only ever give change events."""
    result = parse_document(orjson.dumps(case.log), ParseContext(origin=case.file.name))
    parser = detect(case.log) if isinstance(case.log, dict) else None
    events = [item for item in result.items if isinstance(item, ChangeEvent)]
    assert len(events) == len(result.items)
    return Outcomes(case, parser.NAME if parser else None, events, result.rejections)


def folder_outcomes(folder: str) -> dict[tuple[str, str], Outcomes]:
    return {(c.file.name, c.name): run(c) for c in panther_cases(folder)}


def tally(outcomes: dict[tuple[str, str], Outcomes]) -> Counter[tuple[str | None, str]]:
    """(detected parser, `parsed` or rejection reason) -> how many."""
    counts: Counter[tuple[str | None, str]] = Counter()
    for outcome in outcomes.values():
        counts.update((outcome.detected, "parsed") for _ in outcome.events)
        counts.update((outcome.detected, r.reason.value) for r in outcome.rejections)
    return counts

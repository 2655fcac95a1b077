"""`bench.stream_throughput`'s events: `--reads` makes that share reads the parser takes as reads, and keeps the
rogue changes (the findings) changes."""

from __future__ import annotations

import argparse

import pytest

from bench.stream_throughput import ROGUE_EVERY, is_read, messages, read_share
from models.events import ChangeEvent
from models.parsers import parse_document
from models.parsers.base import ParseContext
from streams.settings import TopicNames

CLOUDTRAIL = TopicNames().sources()[TopicNames().name("cloudtrail")]


def changes(reads: float, events: int = 1000) -> list[bool]:
    """Whether each event, parsed from the benchmark's envelopes, is a change."""
    parsed = [
        item
        for value in messages(0, events, 100, reads)
        for item in parse_document(value, ParseContext(), sources=CLOUDTRAIL).items
    ]
    assert len(parsed) == events
    return [isinstance(item, ChangeEvent) and item.is_change for item in parsed]


@pytest.mark.parametrize("reads", [0.0, 0.5, 0.9, 0.99])
def test_the_share_of_reads_is_what_was_asked_and_the_parser_takes_them_as_reads(reads: float) -> None:
    parsed = changes(reads)
    assert parsed == [not is_read(index, reads) for index in range(len(parsed))]
    assert parsed.count(False) == round(len(parsed) * reads)


def test_every_rogue_change_stays_a_change_so_the_latency_run_has_its_findings() -> None:
    parsed = changes(0.99)
    assert all(parsed[index] for index in range(0, len(parsed), ROGUE_EVERY))


@pytest.mark.parametrize("text", ["1", "-0.1", "1.5"])
def test_a_share_that_would_leave_no_change_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        read_share(text)

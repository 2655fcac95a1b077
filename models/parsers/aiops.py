"""Placeholder: aiops parser is being written."""

from __future__ import annotations

from models.parsers.base import ParseContext, Parsed, Record

NAME = "aiops"


def matches(record: Record) -> bool:
    return False


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    return []

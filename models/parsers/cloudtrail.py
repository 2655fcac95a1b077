"""Placeholder: cloudtrail parser is being written."""

from __future__ import annotations

from models.parsers.base import ParseContext, Parsed, Record

NAME = "cloudtrail"


def matches(record: Record) -> bool:
    return False


def parse(record: Record, ctx: ParseContext) -> list[Parsed]:
    return []

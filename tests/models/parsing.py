"""One record through the dispatcher, expecting exactly one event or exactly one rejection."""

from __future__ import annotations

from typing import Any

import orjson

from models.events import ChangeEvent
from models.parsers import parse_document
from models.parsers.base import ParseContext
from models.rejection import Rejection


def single_event(record: Any, source: str, ctx: ParseContext) -> ChangeEvent:
    result = parse_document(orjson.dumps(record), ctx, sources=(source,))
    assert result.rejections == [], result.rejections
    assert len(result.items) == 1
    event = result.items[0]
    assert isinstance(event, ChangeEvent)
    return event


def single_rejection(record: Any, source: str, ctx: ParseContext) -> Rejection:
    result = parse_document(orjson.dumps(record), ctx, sources=(source,))
    assert result.items == []
    assert len(result.rejections) == 1
    assert result.rejections[0].detail
    return result.rejections[0]

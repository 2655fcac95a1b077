"""One record through the dispatcher, expecting exactly one item of a kind or exactly one rejection."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson

from models.events import ChangeEvent
from models.parsers import parse_document
from models.parsers.base import ParseContext
from models.rejection import Rejection

T = TypeVar("T")


def single_item(record: Any, source: str, ctx: ParseContext, kind: type[T]) -> T:
    result = parse_document(orjson.dumps(record), ctx, sources=(source,))
    assert result.rejections == [], result.rejections
    assert len(result.items) == 1
    item = result.items[0]
    assert isinstance(item, kind)
    return item


def single_event(record: Any, source: str, ctx: ParseContext) -> ChangeEvent:
    return single_item(record, source, ctx, ChangeEvent)


def single_rejection(record: Any, source: str, ctx: ParseContext) -> Rejection:
    result = parse_document(orjson.dumps(record), ctx, sources=(source,))
    assert result.items == []
    assert len(result.rejections) == 1
    assert result.rejections[0].detail
    return result.rejections[0]

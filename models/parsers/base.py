"""The contract every source parser follows: one record (a dict) in, canonical objects out, or a ParseError."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from models.authorization import AuthorizationRecord
from models.config import EnvironmentConfig
from models.events import ActionEvent, AlertEvent, ChangeEvent, RawRef
from models.rejection import ParseError, RejectReason
from models.timeutil import parse_time

Parsed = ChangeEvent | ActionEvent | AlertEvent | AuthorizationRecord
Record = dict[str, Any]
ModelT = TypeVar("ModelT", bound=BaseModel)


def build(model: type[ModelT], fields: dict[str, Any]) -> ModelT:
    """`model(**fields)`, validated the same, by pydantic's validator called directly. A call with keywords goes
    through `type.__call__` and `BaseModel.__init__`, a Python frame, and packs the keywords into a dict twice:
    ~10,000 instructions more for a change's 17 fields, ~3,000 for a two-field model, once per record. Parsers
    build every per-record model this way (events, principals, credentials, grants, scopes, triggers); authorization
    records, which are state rather than events, keep the keyword call and the type checker's look at it."""
    return model.__pydantic_validator__.validate_python(fields)  # type: ignore[no-any-return]


def item_time(item: Parsed) -> datetime | None:
    """Event time of an item; authorization records carry none (they are state, not events)."""
    if isinstance(item, ChangeEvent):
        return item.event_time
    if isinstance(item, ActionEvent | AlertEvent):
        return item.time
    return None


@dataclass(init=False)
class ParseContext:
    """What a parser needs besides the record: environment resolution, arrival time, where it came from. One is
    built for every record (`at`): not frozen, as a frozen dataclass's constructor costs several times more, and
    with a written-out constructor, compiled, where the dataclass's own runs as Python."""

    environments: EnvironmentConfig
    received_time: datetime | None
    origin: str
    index: int | None

    def __init__(
        self,
        environments: EnvironmentConfig | None = None,
        received_time: datetime | None = None,
        origin: str = "-",
        index: int | None = None,
    ) -> None:
        self.environments = EnvironmentConfig() if environments is None else environments
        self.received_time = received_time
        self.origin = origin
        self.index = index

    def at(self, index: int) -> ParseContext:
        """The context of a document's record `index`: built directly, a third of what `dataclasses.replace`
        costs, once per record."""
        return ParseContext(self.environments, self.received_time, self.origin, index)

    def raw_ref(self) -> RawRef:
        return build(RawRef, {"origin": self.origin, "index": self.index})


class SourceParser(Protocol):
    """A source module: `NAME`, `matches(record)` to recognise its shape, `parse(record, ctx)` to convert."""

    NAME: str

    def matches(self, record: Record) -> bool: ...

    def parse(self, record: Record, ctx: ParseContext) -> list[Parsed]: ...


def require(record: Any, *path: str) -> Any:
    """The value at a nested key path, or a ParseError naming the missing field."""
    value: Any = record
    for key in path:
        if not isinstance(value, dict) or key not in value or value[key] is None:
            raise ParseError(RejectReason.MISSING_FIELD, f"missing field {'.'.join(path)}")
        value = value[key]
    return value


def optional(record: Any, *path: str) -> Any:
    """The value at a nested key path, or None where any step is absent or not a mapping."""
    value: Any = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def require_str(record: Any, *path: str) -> str:
    value = require(record, *path)
    if isinstance(value, str) and value:
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParseError(RejectReason.INVALID_VALUE, f"field {'.'.join(path)} is not a non-empty string")
    return str(value)


def optional_str(record: Any, *path: str) -> str | None:
    """`optional` as a non-empty string (an integer as its digits). It walks the path itself, a dozen times a
    record: the call to `optional` cost as much as the walk."""
    value: Any = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def require_time(record: Any, *path: str) -> datetime:
    value = require(record, *path)
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ParseError(RejectReason.BAD_TIME, f"{'.'.join(path)}: {exc}") from exc


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether decoded JSON nests deeper than `limit`: a walk without recursion, one level of containers at a
    time, so that no node carries its depth (every envelope of records is walked, a few hundred nodes)."""
    level, depth = [value], 1
    while level:
        if depth > limit:
            return True
        nested: list[Any] = []
        for node in level:
            for child in node.values() if isinstance(node, dict) else node if isinstance(node, list) else ():
                if isinstance(child, dict | list):
                    nested.append(child)
        level, depth = nested, depth + 1
    return False

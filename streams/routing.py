"""Repartition messages: parsed items routed to the partition that owns their detector keys.

A message on a repartition topic (`opswarden.by-principal`, `opswarden.by-target`) is one of:

- a batch of canonical items (`I`, then one tagged JSON line per item), all routed to that message's partition;
- an authorization notice (a batch of one authorization record), broadcast to every principal partition
  so that each engine can revisit its open work (retro-approved emergencies);
- a tick (`tick`: its wall-clock send time), which lets a quiet partition's watermark move on processing
  time; a tick read long after it was sent shows the partition is behind, not quiet;
- an activity notice (`active`), sent by every ingest agent that is routing input to every partition now and
  then, so that a partition whose keys happen to be quiet does not count as idle while input flows.

Routing is by a stable hash of the detector key, the same one `TableStore` uses to find a partition's keys.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from pydantic import BaseModel

from models.authorization import AuthorizationRecord
from models.events import ActionEvent, AlertEvent, ChangeEvent
from models.parsers.base import Parsed

MODEL_BY_KIND: dict[str, type[BaseModel]] = {
    "change": ChangeEvent,
    "aiops.action": ActionEvent,
    "alert": AlertEvent,
    "authorization": AuthorizationRecord,
}
TAG_BY_KIND = {kind: bytes([ord("a") + number]) for number, kind in enumerate(MODEL_BY_KIND)}
MODEL_BY_TAG = {TAG_BY_KIND[kind]: model for kind, model in MODEL_BY_KIND.items()}
#: Marks a batch of items: newline-separated tagged lines follow (control messages are JSON objects).
ITEMS = b"I\n"


def partition_for(key: str, partitions: int) -> int:
    """The partition that owns a detector key: crc32, stable across processes and Python versions."""
    return zlib.crc32(key.encode()) % partitions


def encode_item(item: Parsed) -> bytes:
    """One line: a one-byte kind tag, then the item's JSON (which never holds a raw newline).

    The model's serializer is called directly: `model_dump_json` is a Python wrapper that passes a dozen
    arguments and decodes the bytes to text (which were encoded again here), 11,800 instructions an item more."""
    return TAG_BY_KIND[item.kind] + item.__pydantic_serializer__.to_json(item, exclude_none=True)


def decode_item(line: bytes) -> Parsed:
    """The item of one line (`encode_item`'s inverse)."""
    return _decode(line[:1], line[1:])


def _decode(tag: bytes, body: bytes) -> Parsed:
    """pydantic parses and validates the JSON in one pass: faster than orjson then `model_validate`. Its validator
    is called directly, as `model_validate_json` is a Python wrapper around it (5,100 instructions an item)."""
    return MODEL_BY_TAG[tag].__pydantic_validator__.validate_json(body)  # type: ignore[no-any-return]


def items_message(encoded: Sequence[bytes]) -> bytes:
    """A batch from items already encoded once by `encode_item` (an item may go to two topics)."""
    return ITEMS + b"\n".join(encoded)


ACTIVE = orjson.dumps({"active": True})


def tick_message(sent: float) -> bytes:
    return orjson.dumps({"tick": sent})


def authorization_notice(record: AuthorizationRecord) -> bytes:
    return items_message([encode_item(record)])


@dataclass(frozen=True)
class RoutedMessage:
    """A decoded repartition message: items to process, each with the JSON it arrived as (`bodies`, in the same
    order: a detector that keeps an item in its state writes those bytes rather than encoding the item again), or
    a tick (no items) with its send time."""

    items: list[Parsed]
    bodies: list[bytes] = field(default_factory=list)
    tick_sent: float | None = None
    active: bool = False


def decode_message(value: bytes) -> RoutedMessage:
    if value.startswith(ITEMS):
        lines = value[len(ITEMS) :].split(b"\n")
        bodies = [line[1:] for line in lines]
        return RoutedMessage([_decode(line[:1], body) for line, body in zip(lines, bodies, strict=True)], bodies)
    data = orjson.loads(value)
    sent = data.get("tick")
    return RoutedMessage([], tick_sent=float(sent) if isinstance(sent, int | float) else None, active="active" in data)

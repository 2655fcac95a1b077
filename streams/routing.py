"""Repartition messages: parsed items routed to the partition that owns their detector keys.

A message on a repartition topic (`opswarden.by-principal`, `opswarden.by-target`) is one of:

- a batch of canonical items (`T`, then one line per item: its kind's tag, its event time in microseconds since
  the epoch, a space, its JSON), all routed to that message's partition (`I` batches, written before item times
  were in the lines, are still read);
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
from datetime import UTC, datetime, timedelta

import orjson
from pydantic import BaseModel

from models.authorization import AuthorizationRecord
from models.events import ActionEvent, AlertEvent, ChangeEvent, compact_json
from models.parsers.base import Parsed, item_time

MODEL_BY_KIND: dict[str, type[BaseModel]] = {
    "change": ChangeEvent,
    "aiops.action": ActionEvent,
    "alert": AlertEvent,
    "authorization": AuthorizationRecord,
}
TAG_BY_KIND = {kind: bytes([ord("a") + number]) for number, kind in enumerate(MODEL_BY_KIND)}
MODEL_BY_TAG = {TAG_BY_KIND[kind]: model for kind, model in MODEL_BY_KIND.items()}
#: Marks a batch of items: newline-separated lines follow (control messages are JSON objects).
ITEMS = b"T\n"
#: Marks a batch whose lines have no event time, only a tag and the JSON: what earlier builds wrote, still on the
#: repartition topics during a rolling upgrade.
UNTIMED_ITEMS = b"I\n"

#: An item as it travels between the stages and waits in an engine's reorder buffer: its event time in
#: microseconds since the epoch (`None` for authorization records, which are state), its kind's tag and its JSON.
#: It is decoded only when its engine steps it: a model took ~4.5 KB and 12 objects that each garbage collection
#: walked, for every item of the `reorder_window_s`; this tuple of immutable values takes ~0.9 KB and is not
#: scanned after one look. Microseconds, not ISO text: `datetime.isoformat` costs ten times `fromisoformat`.
RoutedItem = tuple[int | None, bytes, bytes]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def epoch_us(moment: datetime) -> int:
    """A time as whole microseconds since the epoch, exactly (a float timestamp would round)."""
    return (moment - EPOCH) // MICROSECOND


def from_epoch_us(micros: int) -> datetime:
    return EPOCH + MICROSECOND * micros  # a product, not `timedelta(microseconds=...)`: no keyword parsing


def partition_for(key: str, partitions: int) -> int:
    """The partition that owns a detector key: crc32, stable across processes and Python versions."""
    return zlib.crc32(key.encode()) % partitions


def encode_item(item: Parsed) -> bytes:
    """One line: a one-byte kind tag, the item's event time (microseconds since the epoch, empty for none), a space,
    then the item's JSON (`compact_json`, which never holds a raw newline)."""
    moment = item_time(item)
    stamp = b"%d " % epoch_us(moment) if moment is not None else b" "
    return TAG_BY_KIND[item.kind] + stamp + compact_json(item)


def routed_item(line: bytes) -> RoutedItem:
    """One line of a batch, its item left encoded."""
    space = line.index(b" ", 1)
    return int(line[1:space]) if space > 1 else None, line[:1], line[space + 1 :]


def decode_item(line: bytes) -> Parsed:
    """The item of one line (`encode_item`'s inverse)."""
    _, tag, body = routed_item(line)
    return decode(tag, body)


def decode(tag: bytes, body: bytes) -> Parsed:
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
    """A repartition message read: items to process, still encoded (a detector that keeps an item in its state
    writes the JSON it arrived as rather than encoding the item again), or a tick (no items) with its send time,
    or an activity notice."""

    items: list[RoutedItem] = field(default_factory=list)
    tick_sent: float | None = None
    active: bool = False


def decode_message(value: bytes) -> RoutedMessage:
    if value.startswith(ITEMS):
        return RoutedMessage([routed_item(line) for line in value[len(ITEMS) :].split(b"\n")])
    if value.startswith(UNTIMED_ITEMS):
        return RoutedMessage([_untimed_item(line) for line in value[len(UNTIMED_ITEMS) :].split(b"\n")])
    data = orjson.loads(value)
    sent = data.get("tick")
    return RoutedMessage([], tick_sent=float(sent) if isinstance(sent, int | float) else None, active="active" in data)


def _untimed_item(line: bytes) -> RoutedItem:
    """A line of an `UNTIMED_ITEMS` batch: decoded once here for its time."""
    tag, body = line[:1], line[1:]
    moment = item_time(decode(tag, body))
    return epoch_us(moment) if moment is not None else None, tag, body

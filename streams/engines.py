"""Partitioned engines: one `Engine` per repartition-topic partition a worker holds, over table-backed state.

Each partition engine puts arriving items in event-time order before the detectors see them: items wait
in a reorder buffer until the partition has seen an event `reorder_window` newer, so disorder within the
window (several source partitions and topics feed one key) gives the same findings as `replay`, which
runs in event-time order. Buffered items live in memory only; the agent acks a message once all its items
have left the buffer and the state they changed is in the tables, so after a crash they are read again
from Kafka (at-least-once). State is written at most every `persist_every_s` (ticks ask for it on a quiet
partition): a key updated a thousand times a second is written once, not a thousand times.

A quiet partition moves on processing time: after `idle_after_s` without events, its reorder horizon (and
the watermark, which trails it by the allowed lateness) advances by `rate` times the wall-clock time since
the last event (`IdleClock`).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from detectors.base import Detector, Outputs
from detectors.engine import Engine
from models.config import OpswardenConfig
from models.parsers.base import Parsed, item_time
from streams.processing import SharedState
from streams.routing import RoutedMessage, decode, epoch_us, from_epoch_us
from streams.routing import partition_for as route
from streams.settings import REORDER_MAX_ITEMS
from streams.tables import TableStore

#: Bounds the idle shift (~1,000 years) so a fast idle clock cannot overflow datetime.
MAX_SHIFT_S = 3.2e10

#: Keys a partition engine remembers the owner of.
OWNS_REMEMBERED = 100_000

#: One partition's view of a table: on a worker, a `streams.tables.PartitionChangelog`.
PartitionView = Callable[[MutableMapping[str, bytes], int], MutableMapping[str, bytes]]


def whole_table(table: MutableMapping[str, bytes], partition: int) -> MutableMapping[str, bytes]:
    """The table itself, for tables with no changelog to route (plain dicts)."""
    return table


@dataclass
class PartitionEngine:
    """One partition's engine and stores, its reorder buffer, and what the idle clock counts from.

    Messages read again after a crash or a rebalance are processed again: their items may already be in
    the restored state (the tables' changelogs are separate topics, written without a transaction, so a
    crash can leave some of a step's writes behind and others not), and the detectors count an event
    they have seen once (event ids kept per key, in the same state as the effect they guard).
    """

    engine: Engine
    stores: list[TableStore]
    clocks: MutableMapping[str, bytes]
    newest: datetime | None
    last_event_clock: float
    buffer: list[tuple[int, int, bytes, bytes]] = field(default_factory=list)  # epoch µs, arrival, tag, JSON
    arrivals: int = 0
    persisted_at: float = 0.0


class IdleClock:
    """Processing-time fallback for a quiet partition: event time advances at `rate` times wall time.

    Quiet means: no item and no activity notice (input flowing anywhere) on the partition, nor a restore,
    for `idle_after_s`, and the tick that asks was read promptly, so a partition that is merely behind
    its input never jumps ahead of events still on their way.
    """

    def __init__(self, idle_after_s: float, rate: float, tick_interval_s: float) -> None:
        self.idle_after_s = idle_after_s
        self.rate = rate
        self.max_tick_delay_s = 2 * tick_interval_s

    def shift(self, holder: PartitionEngine, now: float, tick_sent: float | None) -> timedelta:
        if tick_sent is None or time.time() - tick_sent > self.max_tick_delay_s:
            return timedelta(0)
        quiet = now - holder.last_event_clock
        return timedelta(seconds=min(quiet * self.rate, MAX_SHIFT_S)) if quiet >= self.idle_after_s else timedelta(0)


@dataclass(frozen=True)
class ItemFailure:
    """An item that could not be decoded or processed: its JSON, for the dead letter, and why."""

    body: bytes
    error: Exception


@dataclass
class Handled:
    """What one repartition message produced; `held_until` is its newest buffered item's time, if any, and
    `persist_due` says the partition's state should now be written (`PartitionedEngines.state_write`), once
    these outputs are delivered; messages up to it may then be acked."""

    outputs: Outputs
    failures: list[ItemFailure]
    held_until: datetime | None
    released_through: datetime | None
    persist_due: bool
    released_early: int = 0  # items let out of a full reorder buffer before the window passed them


@dataclass(frozen=True)
class StateWrite:
    """A partition's state as it was when its write fell due, encoded: each table, key and value (None:
    deleted). Applied to the tables later, so it holds nothing the engine changed since."""

    changes: list[tuple[MutableMapping[str, bytes], str, bytes | None]]

    def apply(self) -> None:
        """Write to the tables; on a worker, Faust's RocksDB store finds the partition from the current event,
        so this runs in a context whose current event is of the partition written."""
        for table, key, value in self.changes:
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value


class PartitionedEngines:
    """The engines for one key kind on this worker: one per partition it holds, created on first use.

    Created lazily, after Faust has recovered the partition's tables, so a replacement worker starts from
    the restored state (`Engine.__init__` rebuilds the deadlines from it).
    """

    def __init__(
        self,
        config: OpswardenConfig,
        detectors: Sequence[Detector[Any]],
        tables: Mapping[str, MutableMapping[str, bytes]],
        watermarks: MutableMapping[str, bytes],
        partitions: int,
        shared: SharedState,
        clock: IdleClock,
        reorder_window: timedelta,
        persist_every_s: float = 0.0,
        view: PartitionView = whole_table,
        reorder_max_items: int = REORDER_MAX_ITEMS,
    ) -> None:
        self.config = config
        self.detectors = detectors
        self.tables = tables
        self.watermarks = watermarks
        self.partitions = partitions
        self.shared = shared
        self.clock = clock
        self.reorder_window = reorder_window
        self.persist_every_s = persist_every_s
        self.view = view
        self.reorder_max_items = reorder_max_items
        self.engines: dict[int, PartitionEngine] = {}

    def engine_for(self, partition: int) -> PartitionEngine:
        found = self.engines.get(partition)
        if found is None:
            found = self.engines[partition] = self._restore(partition)
        return found

    def _restore(self, partition: int) -> PartitionEngine:
        owned: dict[str, bool] = {}

        def owns(key: str) -> bool:
            """Asked for every key of every item, by every detector: remembered rather than hashed each time."""
            found = owned.get(key)
            if found is None:
                if len(owned) >= OWNS_REMEMBERED:
                    owned.clear()
                found = owned[key] = route(key, self.partitions) == partition
            return found

        stores = {d.name: TableStore(self.view(self.tables[d.name], partition), d, owns) for d in self.detectors}
        engine = Engine(
            self.config, self.detectors, context=self.shared.context(self.config), stores=dict(stores), owns=owns
        )
        clocks = self.view(self.watermarks, partition)
        saved = clocks.get(str(partition))
        marks = orjson.loads(saved) if saved is not None else {}
        engine.context.watermark = _time(marks.get("watermark"))
        engine.max_event_time = _time(marks.get("max_event_time"))
        now = time.monotonic()
        return PartitionEngine(
            engine,
            list(stores.values()),
            clocks,
            _time(marks.get("newest")),
            now,
            # Partitions start their write cycles spread over one interval: a write holds the agent, and all of
            # them at once held every partition's input for the sum.
            persisted_at=now - self.persist_every_s * (1 - partition / self.partitions),
        )

    def revoke(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.engines.pop(partition, None)

    def handle(self, partition: int, message: RoutedMessage) -> Handled:
        """Process one message in memory; its state reaches the tables through `state_write`."""
        holder = self.engine_for(partition)
        engine = holder.engine
        out = Outputs()
        failures: list[ItemFailure] = []
        newest: int | None = None
        now = time.monotonic()
        for micros, tag, body in message.items:
            if micros is None:
                item = self._decoded(tag, body, failures)
                if item is not None:
                    self._process(engine, item, body, out, failures)
                continue
            heapq.heappush(holder.buffer, (micros, holder.arrivals, tag, body))
            holder.arrivals += 1
            if newest is None or micros > newest:
                newest = micros
        held_until = from_epoch_us(newest) if newest is not None else None
        if held_until is not None:
            holder.newest = held_until if holder.newest is None else max(holder.newest, held_until)
        if held_until is not None or message.active:
            holder.last_event_clock = now
        shift = self.clock.shift(holder, now, message.tick_sent)
        horizon = holder.newest - self.reorder_window + shift if holder.newest is not None else None
        if horizon is not None:
            reached = epoch_us(horizon)
            while holder.buffer and holder.buffer[0][0] <= reached:
                self._release(engine, holder, out, failures)
        if shift and horizon is not None:
            self._advance(engine, horizon - self.config.allowed_lateness, out)
        early = max(0, len(holder.buffer) - self.reorder_max_items)
        for _ in range(early):  # a full buffer lets its oldest go: items older than them arriving later are late
            self._release(engine, holder, out, failures)
        persist_due = now - holder.persisted_at >= self.persist_every_s
        return Handled(out, failures, held_until, horizon, persist_due, early)

    def _release(self, engine: Engine, holder: PartitionEngine, out: Outputs, failures: list[ItemFailure]) -> None:
        """The buffer's oldest item to the detectors, time first moved on to it."""
        _, _, tag, body = heapq.heappop(holder.buffer)
        item = self._decoded(tag, body, failures)
        if item is None:
            return
        moment = item_time(item)  # the time its line carried: read from the item, cheaper than from the integer
        if moment is not None:
            self._advance(engine, moment - self.config.allowed_lateness, out)
        self._process(engine, item, body, out, failures)

    def state_write(self, partition: int) -> StateWrite:
        """The partition's states changed since its last write and its clocks, encoded as they are now; they
        are written to the tables (and so their changelogs) once the outputs of what changed them are
        delivered, while the engine goes on."""
        holder = self.engine_for(partition)
        holder.persisted_at = time.monotonic()
        changes = [change for store in holder.stores for change in store.changes()]
        engine = holder.engine
        clocks = {
            "watermark": _iso(engine.context.watermark),
            "max_event_time": _iso(engine.max_event_time),
            "newest": _iso(holder.newest),
        }
        changes.append((holder.clocks, str(partition), orjson.dumps(clocks)))
        return StateWrite(changes)

    @staticmethod
    def _advance(engine: Engine, watermark: datetime, out: Outputs) -> None:
        """Release what is due before an item is stepped, as if the other partitions' events had moved time on:
        a partition's findings then do not depend on how busy the others are."""
        released = engine.advance(watermark)
        if released.findings:
            released.findings = [engine.suppressor.apply(finding) for finding in released.findings]
        out.extend(released)

    @staticmethod
    def _decoded(tag: bytes, body: bytes, failures: list[ItemFailure]) -> Parsed | None:
        try:
            return decode(tag, body)
        except Exception as exc:  # a line that does not decode fails alone
            failures.append(ItemFailure(body, exc))
            return None

    @staticmethod
    def _process(engine: Engine, item: Parsed, body: bytes, out: Outputs, failures: list[ItemFailure]) -> None:
        engine.context.received_json = body
        try:
            out.extend(engine.process(item))
        except Exception as exc:  # one bad item must not stop the partition
            failures.append(ItemFailure(body, exc))
        finally:
            engine.context.received_json = None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None

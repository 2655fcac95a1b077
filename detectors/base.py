"""The detector contract: one event at a time with the state for its key, plus watermark ticks.

A detector is a small class in the style of a river estimator: it declares which key kind it
partitions on, how to derive keys from an input, and how to update one key's state. State objects
round-trip through bytes (`encode_state` / `decode_state`) so that the Faust runtime can keep them
in changelogged tables while `replay` keeps them in dicts. A detector's global models, learned from every
key it sees, round-trip through JSON (`snapshot_models` / `restore_model`), so that a worker replacing
another starts from what its predecessor had learned.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar, Generic, TypeVar

import orjson

from detectors.context import DetectionContext
from detectors.snapshot import SnapshotError
from models.config import OpswardenConfig
from models.finding import DetectionFinding
from models.parsers.base import Parsed

S = TypeVar("S")


class KeyKind(StrEnum):
    """What a detector partitions on; the stream runtime repartitions by this with `group_by`."""

    PRINCIPAL = "principal"
    TARGET = "target"


@dataclass(init=False)
class LedgerEntry:
    """One judged production change: the audit trail and the denominator of every rate. Not frozen: a frozen
    dataclass sets each field through `object.__setattr__`, and built so, once a judged change, the entry cost five
    times as much. The constructor is written out, and so compiled, as `Outputs`'s is."""

    event_id: str
    time: datetime
    principal: str
    action: str
    resources: tuple[str, ...]
    environment: str
    verdict: str
    authorized_by: str | None
    owner: str | None

    def __init__(
        self,
        event_id: str,
        time: datetime,
        principal: str,
        action: str,
        resources: tuple[str, ...],
        environment: str,
        verdict: str,
        authorized_by: str | None,
        owner: str | None,
    ) -> None:
        self.event_id = event_id
        self.time = time
        self.principal = principal
        self.action = action
        self.resources = resources
        self.environment = environment
        self.verdict = verdict
        self.authorized_by = authorized_by
        self.owner = owner

    def to_json(self, *, sort_keys: bool = False) -> bytes:
        """The entry as JSON, UTC times with `Z`: orjson reads the dataclass itself, a fifth of the cost of a dict
        (it does not sort a dataclass's fields, so sorted output, for files, goes through a dict)."""
        data = orjson.dumps(self, option=orjson.OPT_UTC_Z)
        return orjson.dumps(orjson.loads(data), option=orjson.OPT_SORT_KEYS) if sort_keys else data


@dataclass(slots=True, init=False)
class Outputs:
    """What one step of a detector produced: most steps produce nothing, so an empty side is skipped. The
    constructor is written out, and so compiled: a dozen are made an event, and the dataclass's own runs as Python,
    a default factory call for each list."""

    findings: list[DetectionFinding]
    ledger: list[LedgerEntry]

    def __init__(self, findings: list[DetectionFinding] | None = None, ledger: list[LedgerEntry] | None = None) -> None:
        self.findings = [] if findings is None else findings
        self.ledger = [] if ledger is None else ledger

    def extend(self, other: Outputs) -> None:
        if other.findings:
            self.findings.extend(other.findings)
        if other.ledger:
            self.ledger.extend(other.ledger)


@dataclass(frozen=True)
class EvictionPolicy:
    """Bounds a detector's key count: idle keys go first, then, above the cap, the least recently seen down to
    nine tenths of it.

    A sweep reads every key's state. A store over its cap is swept at most every `sweep_every` of event time;
    idle keys are looked for every hundredth of `idle_after` (idle means days), so a catch-up that runs event
    time fast does not read every state every minute of it.
    """

    max_keys: int
    idle_after: timedelta
    sweep_every: timedelta = timedelta(minutes=1)

    @property
    def idle_sweep_every(self) -> timedelta:
        return max(self.sweep_every, self.idle_after / 100)


class Detector(ABC, Generic[S]):
    """Base class: subclasses set `name` and `key_kind` and implement the abstract methods."""

    name: ClassVar[str]
    key_kind: ClassVar[KeyKind]

    def __init__(self, config: OpswardenConfig) -> None:
        self.config = config
        self.eviction: EvictionPolicy | None = None

    @abstractmethod
    def keys(self, item: Parsed) -> Iterable[str]:
        """The state keys `item` concerns (none when the detector ignores it)."""

    @abstractmethod
    def new_state(self) -> S:
        """Fresh state for a key seen for the first time."""

    @abstractmethod
    def on_item(self, key: str, state: S, item: Parsed, ctx: DetectionContext) -> Outputs:
        """Update `state` in place for `item`; return what it produced."""

    def on_watermark(self, key: str, state: S, watermark: datetime, ctx: DetectionContext) -> Outputs:
        """Release anything due by `watermark`; default: nothing is time-driven."""
        return Outputs()

    def deadline(self, state: S) -> datetime | None:
        """The earliest event time at which `on_watermark` has work for this key; None when idle."""
        return None

    def last_seen(self, state: S) -> datetime | None:
        """Event time of the key's latest activity, for idle eviction; None keeps it forever."""
        return None

    def revisited(self, keys: Collection[str], record: Parsed) -> list[str]:
        """Those of `keys` (the keys with open work) a newly arrived global record (an authorization) should be
        shown to; none by default. A detector that revisits only some kinds of record says no to the others
        before it looks at any key: a sync of thousands of records meets thousands of keys with work open."""
        return []

    def snapshot_models(self) -> dict[str, bytes]:
        """The global models (learned from every key, kept by no key's state) by name, as JSON; none by default."""
        return {}

    def restore_model(self, name: str, data: bytes) -> None:
        """Replace the global model `name` with a snapshot of it; `detectors.snapshot.SnapshotError` if there is no
        such model or the snapshot does not fit it (the model is then left as it was)."""
        raise SnapshotError(f"{self.name} has no model {name!r}")

    def merge_model(self, name: str, data: bytes) -> bool:
        """Fold another worker's snapshot of `name` into this worker's model, where that is exact (a set of targets,
        not a quantile); False where it is not, the snapshot then being only for a replacement to restore."""
        return False

    @abstractmethod
    def encode_state(self, state: S) -> bytes: ...

    @abstractmethod
    def decode_state(self, data: bytes) -> S: ...

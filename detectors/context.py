"""Global state every worker holds whole: authorization records (indexed) and the workflow registry."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import NamedTuple

from models.authorization import AuthorizationRecord, AuthStatus, FixedWindow
from models.config import OpswardenConfig
from models.events import Principal
from models.patterns import any_match, is_literal, literal_prefix
from models.registry import Workflow, WorkflowRegistry


def principal_key(principal: Principal) -> str:
    """The stable identity a principal's state lives under: the issuing role of a session, else its uid.

    AIOps action events name the role a workflow runs as, CloudTrail names the session; keying on the
    issuer joins the two.
    """
    return principal.issuer or principal.uid


#: Principals whose candidate lists are memoised at once; the memo starts afresh when full.
CANDIDATE_MEMO_SIZE = 50_000
#: Up to this many candidates a principal's are scanned whole; beyond, by their windows' ends first.
SCANNED_WHOLE = 16


class Candidate(NamedTuple):
    """A record with its fixed window as epoch seconds (±inf when it has none or recurs): judging a change
    scans these, and the window test rejects most candidates without touching the record itself."""

    start: float
    end: float
    id: str
    record: AuthorizationRecord


def approved_spans(record: AuthorizationRecord) -> Iterator[tuple[float, float]]:
    """The spans of time (epoch seconds, half-open) in which `record.status_at` is approved: from each change to
    approved until the next change, or for all time where there is no history and the status is approved.

    >>> from datetime import UTC, datetime
    >>> record = AuthorizationRecord.model_validate({"id": "CHG1", "status": "revoked", "owner": "sre",
    ...     "principals": ["*"], "actions": ["*"], "status_changes": [
    ...         {"status": "approved", "at": datetime(2026, 1, 1, tzinfo=UTC)},
    ...         {"status": "revoked", "at": datetime(2026, 1, 2, tzinfo=UTC)}]})
    >>> [(datetime.fromtimestamp(s, UTC).day, datetime.fromtimestamp(e, UTC).day) for s, e in approved_spans(record)]
    [(1, 2)]
    """
    changes = record.status_changes
    if not changes:
        if record.status is AuthStatus.APPROVED:
            yield -math.inf, math.inf
        return
    for index, change in enumerate(changes):
        if change.status is AuthStatus.APPROVED:
            following = changes[index + 1].at.timestamp() if index + 1 < len(changes) else math.inf
            yield change.at.timestamp(), following


def _approval_bounds(records: Iterable[AuthorizationRecord]) -> tuple[list[float], list[float]]:
    """Every approved span's start and end, each sorted: the records approved at a moment are the spans begun by
    then less those ended by then."""
    spans = [span for record in records for span in approved_spans(record)]
    return sorted(start for start, _ in spans), sorted(end for _, end in spans)


def _candidate(record: AuthorizationRecord) -> Candidate:
    window = record.window
    start, end = window.bounds if isinstance(window, FixedWindow) else (-math.inf, math.inf)
    return Candidate(start, end, record.id, record)


class AuthorizationIndex:
    """Records indexed by principal pattern, so judging a change costs a few dict look-ups.

    Literal principals go in an exact map; glob patterns go under their literal prefix, and a look-up
    probes only the prefix lengths that exist. Busy principals change things again and again, so each
    principal's candidates are memoised until the records change.
    """

    def __init__(self) -> None:
        self.records: dict[str, AuthorizationRecord] = {}
        self._exact: dict[str, dict[str, Candidate]] = defaultdict(dict)
        self._by_prefix: dict[str, dict[str, Candidate]] = defaultdict(dict)
        self._prefix_lengths: Counter[int] = Counter()  # how many prefixes of each length there are
        self._memo: dict[tuple[str, ...], list[Candidate]] = {}
        self._by_end: dict[tuple[str, ...], tuple[list[float], list[Candidate]]] = {}
        self._approval_bounds: tuple[list[float], list[float]] | None = None  # built again after a change

    def __len__(self) -> int:
        return len(self.records)

    def upsert(self, record: AuthorizationRecord) -> None:
        """Add or replace a record (compacted topic semantics: the latest version wins)."""
        self.forget_lookups()
        self._approval_bounds = None
        if record.id in self.records:
            self.remove(record.id)
        self.records[record.id] = record
        row = _candidate(record)
        for pattern in record.principals:
            if is_literal(pattern):
                self._exact[pattern][record.id] = row
            else:
                prefix = literal_prefix(pattern)
                if prefix not in self._by_prefix:
                    self._prefix_lengths[len(prefix)] += 1
                self._by_prefix[prefix][record.id] = row

    def remove(self, record_id: str) -> None:
        """Drop a record (a tombstone, or the old version of an update): in time independent of how many
        prefixes there are, since a ServiceNow sync updates thousands of records at once."""
        record = self.records.pop(record_id, None)
        if record is None:
            return
        self.forget_lookups()
        self._approval_bounds = None
        for pattern in record.principals:
            literal = is_literal(pattern)
            bucket = self._exact if literal else self._by_prefix
            key = pattern if literal else literal_prefix(pattern)
            rows = bucket.get(key)
            if rows is None:
                continue  # a pattern the record lists twice
            rows.pop(record_id, None)
            if not rows:
                del bucket[key]
                if not literal:
                    self._prefix_lengths[len(key)] -= 1
                    if not self._prefix_lengths[len(key)]:
                        del self._prefix_lengths[len(key)]

    def candidate_rows(self, identities: tuple[str, ...]) -> list[Candidate]:
        """Candidates whose principal patterns match any of the identities, in record id order."""
        rows = self._memo.get(identities)
        if rows is None:
            if len(self._memo) >= CANDIDATE_MEMO_SIZE:
                self.forget_lookups()
            rows = self._memo[identities] = self._lookup(identities)
        return rows

    def open_rows(self, identities: tuple[str, ...], at: float, slack: float) -> list[Candidate]:
        """The candidates whose window may hold `at` (epoch seconds), give or take `slack`, in record id order.

        An automation account is named by every change record it ever worked under, and nearly all of them have
        closed: its rows sorted by window end are bisected past those, so judging its change costs the few still
        open, not a scan of years of records (129 µs at 5,000, `bench.worst_cases`). Recurring and windowless
        rows are always open.
        """
        rows = self.candidate_rows(identities)
        if len(rows) <= SCANNED_WHOLE:
            return rows
        ends, by_end = self._sorted_by_end(identities)
        return sorted((row for row in by_end[bisect_left(ends, at - slack) :] if row.start <= at + slack),
                      key=attrgetter("id"))  # fmt: skip

    def closed_near(self, identities: tuple[str, ...], at: float, slack: float, count: int) -> list[Candidate]:
        """The `count` candidates not open at `at` whose windows are nearest to it (the latest to close, the
        first to open), in record id order; for a principal with more than `SCANNED_WHOLE` candidates."""
        ends, by_end = self._sorted_by_end(identities)
        cut = bisect_left(ends, at - slack)
        ended = by_end[max(cut - count, 0) : cut]
        to_open = sorted((row for row in by_end[cut:] if row.start > at + slack), key=attrgetter("start"))[:count]
        nearest = sorted([*ended, *to_open], key=lambda row: max(at - row.end, row.start - at))[:count]
        return sorted(nearest, key=attrgetter("id"))

    def _sorted_by_end(self, identities: tuple[str, ...]) -> tuple[list[float], list[Candidate]]:
        found = self._by_end.get(identities)
        if found is None:
            by_end = sorted(self.candidate_rows(identities), key=attrgetter("end"))
            found = self._by_end[identities] = ([row.end for row in by_end], by_end)
        return found

    def forget_lookups(self) -> None:
        """Drop the memo, so a benchmark can time the look-up a principal's first change pays."""
        self._memo.clear()
        self._by_end.clear()

    def _lookup(self, identities: tuple[str, ...]) -> list[Candidate]:
        found: dict[str, Candidate] = {}
        for identity in identities:
            found.update(self._exact.get(identity, {}))
            for length in self._prefix_lengths:
                if length <= len(identity):
                    for record_id, row in self._by_prefix.get(identity[:length], {}).items():
                        if record_id not in found and any_match(row.record.principals, identity):
                            found[record_id] = row
        return [found[record_id] for record_id in sorted(found)]

    def in_force_count(self, moment: datetime) -> int:
        """How many records are approved at `moment`, by two bisections in their approved spans, which are laid out
        again only after the records change: the workers' gauge asks every second for each engine, and asking
        each of an organisation's 100,000 records took 42 ms a time."""
        if self._approval_bounds is None:
            self._approval_bounds = _approval_bounds(self.records.values())
        starts, ends = self._approval_bounds
        at = moment.timestamp()
        return bisect_right(starts, at) - bisect_right(ends, at)

    def __iter__(self) -> Iterator[AuthorizationRecord]:
        return iter(self.records.values())


class RegistryIndex:
    """Workflows by the principals they run as (exact, then glob) and by name."""

    def __init__(self, registry: WorkflowRegistry | None = None) -> None:
        self.by_name: dict[str, Workflow] = {}
        self._exact: dict[str, str] = {}
        self._patterns: list[tuple[str, str]] = []
        self._names_of_key: dict[str, set[str]] = {}  # what each key of the registry topic defines now
        self._key_of_name: dict[str, str] = {}
        self._found: dict[tuple[str, ...], str | None] = {}  # workflow name by identities, until the registry changes
        for workflow in (registry or WorkflowRegistry()).workflows:
            self.upsert(workflow)

    def upsert(self, workflow: Workflow) -> None:
        self.by_name[workflow.name] = workflow
        self._key_of_name.pop(workflow.name, None)
        self._reindex()

    def replace(self, key: str, workflows: Sequence[Workflow]) -> None:
        """What a key of the compacted registry topic defines now; none for a tombstone. Workflows the key
        defined before and no longer does are removed (unless another key has defined them since), so taking
        a workflow out of the registry takes away what it allowed, such as its ticketless actions."""
        names = {workflow.name for workflow in workflows}
        for gone in self._names_of_key.pop(key, set()) - names:
            if self._key_of_name.get(gone) == key:
                del self.by_name[gone]
                del self._key_of_name[gone]
        for workflow in workflows:
            previous = self._key_of_name.get(workflow.name)
            if previous is not None and previous != key:
                self._names_of_key[previous].discard(workflow.name)
            self.by_name[workflow.name] = workflow
            self._key_of_name[workflow.name] = key
        if names:
            self._names_of_key[key] = names
        self._reindex()

    def _reindex(self) -> None:
        self._exact = {p: w.name for w in self.by_name.values() for p in w.principals if is_literal(p)}
        self._patterns = [(p, w.name) for w in self.by_name.values() for p in w.principals if not is_literal(p)]
        self._found.clear()

    def workflow_for(self, identities: tuple[str, ...]) -> Workflow | None:
        """The workflow a principal runs as. Asked for every judged change: remembered per principal, since
        the glob patterns are tried one by one (~30 µs with 200 workflows named by pattern)."""
        if identities in self._found:
            name = self._found[identities]
        else:
            if len(self._found) >= CANDIDATE_MEMO_SIZE:
                self._found.clear()
            name = self._found[identities] = self._lookup(identities)
        return None if name is None else self.by_name[name]

    def _lookup(self, identities: tuple[str, ...]) -> str | None:
        for identity in identities:
            name = self._exact.get(identity)
            if name is not None:
                return name
        for identity in identities:
            for pattern, name in self._patterns:
                if any_match((pattern,), identity):
                    return name
        return None

    def __len__(self) -> int:
        return len(self.by_name)


@dataclass
class DetectionContext:
    """What detectors read besides their own key's state."""

    config: OpswardenConfig
    authorizations: AuthorizationIndex = field(default_factory=AuthorizationIndex)
    registry: RegistryIndex = field(default_factory=RegistryIndex)
    watermark: datetime | None = None
    #: Changes judged before the end of their grace period because their principal held too many (a count for
    #: the runtime's metrics, like the engine's evictions).
    judged_early: int = 0
    #: The JSON the item being processed arrived as, when the driver has it (a worker: the JSON of the item's
    #: repartition line), so that a detector keeping the item holds and writes these bytes instead of encoding it
    #: again; None otherwise (replay).
    received_json: bytes | None = None

"""The authorization judge: every production change held against the records that could cover it.

Changes are held per principal for a grace period of event time, so that late audit logs, late
authorization records and AIOps declarations that arrive within it are all seen; then each change
gets exactly one verdict (and a ledger entry) plus any further checks that apply.

Verdicts, first that holds:
1. a candidate in force covers action, resources, environment and time → `authorized`;
2. a candidate that was approved covers action, resources, environment but not the time → `out_of_window_change`;
3. a candidate in force whose window contains the time misses action, a resource or the environment →
   `out_of_scope_change`;
4. a candidate that would have authorized it was revoked, rejected or closed before → `revoked_authorization_used`;
5. otherwise → `unauthorized_change`.
A registry `ticketless_actions` entry authorizes without a record (`authorized_by_registry`).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from operator import attrgetter
from typing import Any, TypeVar

import orjson

from detectors.base import Detector, EvictionPolicy, KeyKind, LedgerEntry, Outputs
from detectors.context import AuthorizationIndex, Candidate, DetectionContext, principal_key
from detectors.findings import FindingSpec, spec_from_change
from detectors.held import HeldChange, HeldView, JudgedChange, held_change
from detectors.windows import contains, explain_miss
from models.authorization import AuthorizationRecord, AuthStatus, AuthType, RecurringWindow
from models.classify import is_production_change
from models.config import AuthorizationConfig, OpswardenConfig
from models.events import ActionEvent, ChangeEvent, CredentialKind, PrincipalKind, change_from_json
from models.finding import Activity, Severity, title_case
from models.parsers.base import Parsed
from models.patterns import any_match, glob_match, is_literal
from models.registry import Workflow, WorkflowClass

#: What `_insert_in_time_order` keeps: findings open to retro-approval, declarations.
EntryT = TypeVar("EntryT")
DETECTOR = "authorization"
AUTHORIZED = "authorized"
AUTHORIZED_BY_REGISTRY = "authorized_by_registry"
UNAUTHORIZED = "unauthorized_change"
OUT_OF_WINDOW = "out_of_window_change"
OUT_OF_SCOPE = "out_of_scope_change"
REVOKED_USED = "revoked_authorization_used"
SEPARATION_OF_DUTIES = "separation_of_duties_violation"
NON_EXECUTING_ACTED = "non_executing_workflow_acted"
UNOWNED_AUTOMATION = "unowned_automation_change"
LONG_LIVED_CREDENTIAL = "long_lived_credential_used"
CREDENTIAL_OUTLIVED_TASK = "credential_outlived_task"
UNDECLARED_AUTOMATION = "undeclared_automation_change"

#: Base severity of the checks that are not verdicts (verdicts take the action class severity).
CHECK_SEVERITY = {
    SEPARATION_OF_DUTIES: 3,
    NON_EXECUTING_ACTED: 4,
    UNOWNED_AUTOMATION: 3,
    LONG_LIVED_CREDENTIAL: 3,
    CREDENTIAL_OUTLIVED_TASK: 4,
    UNDECLARED_AUTOMATION: 3,
}
_VERDICT_BUMP = {UNAUTHORIZED: 0, REVOKED_USED: 0, OUT_OF_WINDOW: -1, OUT_OF_SCOPE: -1}
#: Candidate records a finding shows as evidence, the nearest misses. An automation account named by every
#: change record of a year has thousands: listed whole, its findings outgrew what a broker (1 MB by default)
#: and a SIEM accept, and a worker whose finding the broker refuses stops, again at every restart.
MAX_SHOWN_CANDIDATES = 20
#: Beyond this many candidates, a change that is not authorized reviews those open at its time and the nearest
#: closed ones, not all (`AuthorizationJudge.review_candidates`).
REVIEWED_WHOLE = 64


@dataclass
class Declaration:
    """An AIOps action a workflow announced, which an audited change of its principal may match."""

    time: datetime
    action: str
    target: str
    workflow: str
    run_id: str


@dataclass
class JudgeState:
    """One principal's pending changes, recent declarations, runs, and findings open to retro-approval."""

    pending: list[HeldChange] = field(default_factory=list)  # in judging order
    declarations: list[Declaration] = field(default_factory=list)
    credential_runs: dict[str, str] = field(default_factory=dict)
    run_ends: dict[str, datetime] = field(default_factory=dict)
    open_findings: list[tuple[str, HeldChange]] = field(default_factory=list)  # (verdict, change), by change time
    seen: dict[str, datetime] = field(default_factory=dict)
    last_seen: datetime | None = None
    #: `credential_runs` inverted, so a run's credentials go with it: derived, not written (`decode_state`).
    run_credentials: dict[str, list[str]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class CandidateReview:
    """How one candidate record fared against a change: the evidence an analyst reads. The verdict needs only
    the flags; the reason, in words, is written for the candidates a finding shows."""

    record: AuthorizationRecord
    change: ChangeEvent
    status: AuthStatus | None
    approved_at_time: bool
    ever_approved: bool
    in_scope: bool
    in_window: bool
    retro: bool

    @cached_property
    def reason(self) -> str:
        record, change = self.record, self.change
        if not self.in_scope:
            return scope_miss(record, change)
        if not self.in_window and record.window is not None:
            return f"covered {', '.join(record.actions)} but {explain_miss(record.window, change.event_time)}"
        if not self.approved_at_time:
            status = self.status.value if self.status else "not yet recorded"
            return f"covered the change but was {status} at the time"
        return "approved emergency change, approved after the fact" if self.retro else "covered the change"

    def as_evidence(self) -> dict[str, Any]:
        return {
            "id": self.record.id,
            "owner": self.record.owner,
            "type": self.record.type.value,
            "status_at_change": self.status.value if self.status else None,
            "reason": self.reason,
        }


def _opened_at(entry: tuple[str, HeldChange]) -> datetime:
    return entry[1][0]


def _declared_at(declaration: Declaration) -> datetime:
    return declaration.time


def _insert_in_time_order(
    entries: list[EntryT], entry: EntryT, time_of: Callable[[EntryT], datetime], cap: int
) -> None:
    """Keep `entries` (findings open to retro-approval, declarations) in time order, dropping the oldest beyond
    `cap`: then those expired are a prefix, cut at one bisection, and the first to expire is the first. A
    principal whose every change is unauthorized (a runaway automation, a stolen key) holds thousands open for
    their day, and a busy workflow thousands of declarations: a pass over all of them at every deadline and
    watermark step cost such a principal 0.3 to 0.9 ms an event. Entries come in event time nearly always, so this
    is nearly always an append."""
    if entries and time_of(entries[-1]) > time_of(entry):
        bisect.insort(entries, entry, key=time_of)
    else:
        entries.append(entry)
    del entries[:-cap]


def _hold(pending: list[HeldChange], change: HeldChange) -> None:
    """Keep `pending` in judging order, so the due changes are a prefix and the deadline is the first's.
    Changes mostly arrive in order (engines step items in event time), so this is nearly always an append."""
    if pending and pending[-1] > change:
        bisect.insort(pending, change)
    else:
        pending.append(change)


def _nearest_miss(review: CandidateReview) -> tuple[bool, bool, bool, bool, str]:
    """What the verdicts look at, best first: covers the change, its window holds, in force, ever approved."""
    return (not review.in_scope, not review.in_window, not review.approved_at_time, not review.ever_approved,
            review.record.id)  # fmt: skip


@dataclass(init=False)
class Reviews:
    """The candidates reviewed for a change, and how many more named its principal without a review. One is made
    for every judged change: its constructor is written out, and so compiled."""

    reviewed: list[CandidateReview]
    not_reviewed: int

    def __init__(self, reviewed: list[CandidateReview] | None = None, not_reviewed: int = 0) -> None:
        self.reviewed = [] if reviewed is None else reviewed
        self.not_reviewed = not_reviewed


def shown_candidates(reviews: Reviews) -> tuple[list[CandidateReview], int]:
    """The candidates a finding shows (all, or the `MAX_SHOWN_CANDIDATES` nearest misses), in record id order,
    and how many it leaves out."""
    reviewed = reviews.reviewed
    if len(reviewed) <= MAX_SHOWN_CANDIDATES:
        return reviewed, reviews.not_reviewed
    nearest = sorted(reviewed, key=_nearest_miss)[:MAX_SHOWN_CANDIDATES]
    left_out = len(reviewed) - MAX_SHOWN_CANDIDATES + reviews.not_reviewed
    return sorted(nearest, key=lambda review: review.record.id), left_out


def candidate_evidence(reviews: Reviews) -> dict[str, Any]:
    shown, left_out = shown_candidates(reviews)
    evidence: dict[str, Any] = {"candidates": [review.as_evidence() for review in shown]}
    if left_out:
        evidence["candidates_not_shown"] = left_out
    return evidence


def covers(record: AuthorizationRecord, change: JudgedChange) -> bool:
    """Whether a record's scope (actions, resources, environments) covers a change."""
    return (
        any_match(record.actions, change.action, ignore_case=True)
        and all(any_match(record.resources, r) for r in change.resources)
        and any_match(record.environments, change.environment)
    )


def scope_miss(record: AuthorizationRecord, change: ChangeEvent) -> str:
    """What a record's scope misses of a change that it does not cover, in words."""
    if not any_match(record.actions, change.action, ignore_case=True):
        return f"action {change.action} is not in {list(record.actions)}"
    outside = [r for r in change.resources if not any_match(record.resources, r)]
    if outside:
        return f"resource {outside[0]} is not in {list(record.resources)}"
    return f"environment {change.environment} is not in {list(record.environments)}"


def _inverted(credential_runs: dict[str, str]) -> dict[str, list[str]]:
    runs: dict[str, list[str]] = {}
    for credential, run in credential_runs.items():
        runs.setdefault(run, []).append(credential)
    return runs


def _forget_oldest(held: dict[str, Any], cap: int) -> None:
    """Drop the entries first inserted (the oldest, as they arrive about in time order) beyond `cap`."""
    while len(held) > cap:
        del held[next(iter(held))]


@lru_cache(maxsize=4096)
def _person(name: str | None) -> str | None:
    """Names compared as people: case-folded, and an email reduced to its local part (remembered: the same
    requesters, approvers and executors come back with every authorized change)."""
    if not name:
        return None
    return name.strip().lower().split("@", 1)[0]


class AuthorizationJudge(Detector[JudgeState]):
    """Judges production changes per principal, in event time, against authorization records and the registry."""

    name = DETECTOR
    key_kind = KeyKind.PRINCIPAL

    def __init__(self, config: OpswardenConfig) -> None:
        super().__init__(config)
        self.settings: AuthorizationConfig = config.authorization
        self.eviction = EvictionPolicy(max_keys=self.settings.max_principals, idle_after=self.settings.idle_after)
        # Read once: config values are pydantic attributes, and `keys` (twice an event) and the deadlines ask for these.
        self._unjudged_environments = frozenset(config.environments.unjudged)
        self._unjudged_kinds = frozenset(() if self.settings.judge_service_principals else (PrincipalKind.SERVICE,))
        self._grace = self.settings.grace

    # -- routing --------------------------------------------------------------------------------

    def keys(self, item: Parsed) -> Iterable[str]:
        if isinstance(item, ChangeEvent):
            if self._judged(item):
                return (principal_key(item.principal),)
            return ()
        if isinstance(item, ActionEvent) and item.principal:
            return (item.principal,)
        return ()

    def _judged(self, event: ChangeEvent) -> bool:
        return (
            is_production_change(event)
            and event.environment not in self._unjudged_environments
            and event.principal.kind not in self._unjudged_kinds
        )

    def revisited(self, keys: Collection[str], record: Parsed) -> list[str]:
        """An emergency record may approve, after the fact, the changes of the principals it names: looked up
        where it names them outright, matched against every key only where it names them by pattern."""
        if not isinstance(record, AuthorizationRecord) or record.type is not AuthType.EMERGENCY:
            return []
        if all(is_literal(pattern) for pattern in record.principals):
            return [principal for principal in dict.fromkeys(record.principals) if principal in keys]
        return [key for key in keys if any_match(record.principals, key)]

    # -- state ----------------------------------------------------------------------------------

    def new_state(self) -> JudgeState:
        return JudgeState()

    def deadline(self, state: JudgeState) -> datetime | None:
        due = state.pending[0][0] + self._grace if state.pending else None
        if not state.open_findings:
            return due
        closes = _opened_at(state.open_findings[0]) + self.settings.retro_approval_limit
        return closes if due is None else min(due, closes)

    def last_seen(self, state: JudgeState) -> datetime | None:
        return state.last_seen

    @staticmethod
    def pending_changes(store: Mapping[str, JudgeState]) -> int:
        """Changes held for their grace period, awaiting a record: the analysts' pending gauge."""
        return sum(len(state.pending) for state in store.values())

    def encode_state(self, state: JudgeState) -> bytes:
        return orjson.dumps(
            {
                "pending": [orjson.Fragment(change[2]) for change in state.pending],
                "declarations": [d.__dict__ for d in state.declarations],
                "credential_runs": state.credential_runs,
                "run_ends": state.run_ends,
                "open": [[verdict, orjson.Fragment(change[2])] for verdict, change in state.open_findings],
                "seen": state.seen,
                "last_seen": state.last_seen,
            }
        )

    def decode_state(self, data: bytes) -> JudgeState:
        raw = orjson.loads(data)
        return JudgeState(
            pending=sorted(held_change(ChangeEvent.model_validate(c)) for c in raw["pending"]),
            declarations=sorted(
                (Declaration(**{**d, "time": datetime.fromisoformat(d["time"])}) for d in raw["declarations"]),
                key=_declared_at,
            ),
            credential_runs=raw["credential_runs"],
            run_credentials=_inverted(raw["credential_runs"]),
            run_ends={k: datetime.fromisoformat(v) for k, v in raw["run_ends"].items()},
            open_findings=sorted(
                ((verdict, held_change(ChangeEvent.model_validate(c))) for verdict, c in raw["open"]), key=_opened_at
            ),  # in order already, unless written by a build that kept them as judged
            seen={k: datetime.fromisoformat(v) for k, v in raw["seen"].items()},
            last_seen=datetime.fromisoformat(raw["last_seen"]) if raw["last_seen"] else None,
        )

    # -- events ---------------------------------------------------------------------------------

    def on_item(self, key: str, state: JudgeState, item: Parsed, ctx: DetectionContext) -> Outputs:
        if isinstance(item, ChangeEvent):
            at, event_id = item.event_time, item.event_id
            state.last_seen = at if state.last_seen is None else max(at, state.last_seen)
            if event_id not in state.seen:
                state.seen[event_id] = at
                _forget_oldest(state.seen, self.settings.max_held_per_principal)
                _hold(state.pending, held_change(item, ctx.received_json))
                return self._judge_overflow(state, ctx)
        elif isinstance(item, ActionEvent):
            self._remember_action(state, item)
        elif isinstance(item, AuthorizationRecord):
            return self._retro_close(state, item)
        return Outputs()

    def _judge_overflow(self, state: JudgeState, ctx: DetectionContext) -> Outputs:
        """A principal holding more changes than `max_held_per_principal` has its oldest judged at once, before
        the end of their grace period: a bulk job or a runaway loop would otherwise grow its state without
        bound, past what memory and a changelog message hold, and stop the worker."""
        cap = self.settings.max_held_per_principal
        if len(state.pending) <= cap:
            return Outputs()
        due, state.pending = state.pending[:-cap], state.pending[-cap:]
        ctx.judged_early += len(due)
        out = Outputs()
        for change in due:
            out.extend(self.judge(change, state, ctx))
        return out

    def _remember_action(self, state: JudgeState, action: ActionEvent) -> None:
        cap = self.settings.max_held_per_principal
        credential = action.credential.id if action.credential is not None else None
        if credential and state.credential_runs.get(credential) != action.run_id:
            state.credential_runs[credential] = action.run_id
            _forget_oldest(state.credential_runs, cap)
            state.run_credentials.setdefault(action.run_id, []).append(credential)
            _forget_oldest(state.run_credentials, cap)
        if action.phase.is_terminal:
            state.run_ends[action.run_id] = action.time
            _forget_oldest(state.run_ends, cap)
        elif action.phase.value == "started":
            declaration = Declaration(action.time, action.action, action.target, action.workflow, action.run_id)
            _insert_in_time_order(state.declarations, declaration, _declared_at, cap)
        state.last_seen = max(action.time, state.last_seen or action.time)

    def on_watermark(self, key: str, state: JudgeState, watermark: datetime, ctx: DetectionContext) -> Outputs:
        out = Outputs()
        graced = watermark - self._grace  # changes at or before this have had their grace period
        pending = state.pending
        cut = 0
        while cut < len(pending) and pending[cut][0] <= graced:
            cut += 1
        if cut:
            due, state.pending = pending[:cut], pending[cut:]
            for change in due:
                out.extend(self.judge(change, state, ctx))
        closed = watermark - self.settings.retro_approval_limit
        if state.open_findings:  # the findings whose retro-approval day has passed are a prefix
            del state.open_findings[: bisect.bisect_right(state.open_findings, closed, key=_opened_at)]
        self._prune(state, watermark)
        return out

    def _prune(self, state: JudgeState, watermark: datetime) -> None:
        """Forget what no pending or future change can need any more (at each of the principal's deadlines,
        about once a change; most principals have no declarations or runs to look at)."""
        settings = self.settings
        if state.declarations:
            horizon = watermark - settings.grace - settings.declaration_before
            del state.declarations[: bisect.bisect_left(state.declarations, horizon, key=_declared_at)]
        dedupe_before = watermark - settings.dedupe_horizon
        seen = state.seen
        while seen:  # in arrival order, which is about event-time order: forget from the oldest on
            oldest = next(iter(seen))
            if seen[oldest] >= dedupe_before:
                break
            del seen[oldest]
        run_ends = state.run_ends
        if run_ends:
            run_horizon = watermark - settings.retro_approval_limit
            credential_runs = state.credential_runs
            while run_ends:  # in the order runs ended, about event-time order; a busy workflow ends thousands a day
                run = next(iter(run_ends))
                if run_ends[run] >= run_horizon:
                    break
                del run_ends[run]
                for credential in state.run_credentials.pop(run, ()):
                    if credential_runs.get(credential) == run:
                        del credential_runs[credential]

    # -- judging --------------------------------------------------------------------------------

    def judge(self, kept: HeldChange, state: JudgeState, ctx: DetectionContext) -> Outputs:
        """One verdict and ledger entry for a held change, plus every further check that applies. An authorized
        change without a finding is judged on its held facts alone; a finding's change is decoded."""
        change = HeldView(kept)
        identities = change.principal.identities()
        workflow = ctx.registry.workflow_for(identities)
        out = Outputs()
        reviews = Reviews()
        if workflow is not None and self._ticketless(workflow, change):
            out.ledger.append(self._ledger(change, AUTHORIZED_BY_REGISTRY, f"registry:{workflow.name}", workflow.owner))
        else:
            record = self.first_authorizing(ctx.authorizations, identities, change)
            if record is not None:
                verdict = AUTHORIZED
            else:  # only a change that is not authorized needs the full review of every candidate
                reviews = self.review_candidates(ctx.authorizations, identities, change.model())
                verdict, record = self.verdict(reviews.reviewed)
            out.ledger.append(
                self._ledger(change, verdict, record.id if record else None, record.owner if record else None)
            )
            if record is None:
                out.findings.append(self._verdict_finding(verdict, change.model(), reviews, workflow).build())
                cap = self.settings.max_held_per_principal  # beyond, the oldest can no longer close
                _insert_in_time_order(state.open_findings, (verdict, kept), _opened_at, cap)
            else:
                out.findings.extend(self._separation_of_duties(change, record, workflow))
        for finding_type, detail in self._automation_checks(change, state, workflow):
            out.findings.append(self._check_finding(finding_type, change.model(), workflow, detail, reviews).build())
        return out

    def review_candidates(self, index: AuthorizationIndex, identities: tuple[str, ...], change: ChangeEvent) -> Reviews:
        """The reviews a change that is not authorized needs: of every candidate, or, for a principal named by
        more than `REVIEWED_WHOLE` records (an automation account after a year of change records), of those
        open at its time, the `MAX_SHOWN_CANDIDATES` closed nearest to it, and, standing in for all other closed
        ones, the first that was approved and covered the change. A closed record counts in a verdict only as
        that (out of window), so the verdict is the one a review of all would give, and a compromised account's
        run of unauthorized changes costs tens of reviews each, not thousands."""
        rows = index.candidate_rows(identities)
        if len(rows) <= REVIEWED_WHOLE:
            return Reviews([self.review(row.record, change) for row in rows])
        at, slack = change.event_time.timestamp(), self.settings.skew_tolerance.total_seconds()
        picked = {row.id: row for row in index.open_rows(identities, at, slack)}
        picked |= {row.id: row for row in index.closed_near(identities, at, slack, MAX_SHOWN_CANDIDATES)}
        reviewed = [self.review(row.record, change) for row in sorted(picked.values(), key=attrgetter("id"))]
        if not any(r.ever_approved and r.in_scope and not r.in_window for r in reviewed):
            stand_in = next((row for row in rows if row.id not in picked and self._approved_cover(row, change)), None)
            if stand_in is not None:
                reviewed.append(self.review(stand_in.record, change))
        return Reviews(reviewed, len(rows) - len(reviewed))

    def _approved_cover(self, row: Candidate, change: ChangeEvent) -> bool:
        """Whether a closed candidate covers the change and was approved by its time: an out-of-window miss."""
        return covers(row.record, change) and self.review(row.record, change).ever_approved

    def first_authorizing(
        self, index: AuthorizationIndex, identities: tuple[str, ...], change: JudgedChange
    ) -> AuthorizationRecord | None:
        """Verdict 1 alone, cheapest test first: the fast path for the common, authorized change.

        Only the candidates open at the change's time are looked at, and fixed windows are tested on the
        rows' epoch seconds before the record is touched.
        """
        moment, skew = change.event_time, self.settings.skew_tolerance
        at, slack = moment.timestamp(), skew.total_seconds()
        low, high = at + slack, at - slack
        for row in index.open_rows(identities, at, slack):
            if row.start > low or row.end < high:
                continue
            record = row.record
            if isinstance(record.window, RecurringWindow) and not contains(record.window, moment, skew):
                continue
            if covers(record, change) and (
                record.status_at(moment + skew) is AuthStatus.APPROVED or self._retro(record, moment, None)
            ):
                return record
        return None

    def _retro(self, record: AuthorizationRecord, moment: datetime, status: AuthStatus | None) -> bool:
        """An emergency record approved after the change, within the retro-approval limit, never revoked first."""
        if record.type is not AuthType.EMERGENCY or status is AuthStatus.APPROVED:
            return False
        approved_at = record.first_time_in(AuthStatus.APPROVED)
        return (
            approved_at is not None
            and moment < approved_at <= moment + self.settings.retro_approval_limit
            and record.status_at(approved_at) is AuthStatus.APPROVED
            and not any(c.at < approved_at and c.status in (AuthStatus.REVOKED, AuthStatus.REJECTED)
                        for c in record.status_changes)
        )  # fmt: skip

    def review(self, record: AuthorizationRecord, change: ChangeEvent) -> CandidateReview:
        moment, skew = change.event_time, self.settings.skew_tolerance
        status = record.status_at(moment + skew)
        approved_at = record.first_time_in(AuthStatus.APPROVED)
        retro = self._retro(record, moment, status)
        in_force = status is AuthStatus.APPROVED or retro
        ever_approved = in_force or (
            approved_at is not None and approved_at <= moment + skew
            if record.status_changes
            else record.status in (AuthStatus.APPROVED, AuthStatus.CLOSED)
        )
        in_window = contains(record.window, moment, skew)
        return CandidateReview(
            record, change, status, in_force, ever_approved, covers(record, change), in_window, retro
        )

    @staticmethod
    def verdict(reviews: list[CandidateReview]) -> tuple[str, AuthorizationRecord | None]:
        for review in reviews:
            if review.approved_at_time and review.in_scope and review.in_window:
                return AUTHORIZED, review.record
        if any(r.ever_approved and r.in_scope and not r.in_window for r in reviews):
            return OUT_OF_WINDOW, None
        if any(r.approved_at_time and r.in_window and not r.in_scope for r in reviews):
            return OUT_OF_SCOPE, None
        ended = (AuthStatus.REVOKED, AuthStatus.REJECTED, AuthStatus.CLOSED)
        if any(r.status in ended and r.in_scope and r.in_window for r in reviews):
            return REVOKED_USED, None
        return UNAUTHORIZED, None

    def _ticketless(self, workflow: Workflow, change: JudgedChange) -> bool:
        if workflow.workflow_class is not WorkflowClass.EXECUTION:
            return False
        return any(
            glob_match(t.action, change.action, ignore_case=True)
            and any_match(t.environments, change.environment)
            and all(any_match(t.targets, r) for r in change.resources)
            for t in workflow.ticketless_actions
        )

    def _automation_checks(
        self, change: JudgedChange, state: JudgeState, workflow: Workflow | None
    ) -> list[tuple[str, dict[str, Any]]]:
        principal = change.principal
        automation = principal.kind is PrincipalKind.MACHINE or workflow is not None
        checks: list[tuple[str, dict[str, Any]]] = []
        if workflow is not None and not workflow.workflow_class.may_act:
            checks.append((NON_EXECUTING_ACTED, {"workflow_class": workflow.workflow_class.value}))
        if principal.kind is PrincipalKind.MACHINE and (workflow is None or not workflow.owner):
            reason = "no registry entry" if workflow is None else "its workflow has no named owner"
            checks.append((UNOWNED_AUTOMATION, {"reason": reason}))
        credential = principal.credential
        if automation and credential is not None:
            lifetime = credential.lifetime_seconds
            limit = workflow.max_credential_ttl if workflow else None
            if credential.kind is CredentialKind.STATIC:
                checks.append((LONG_LIVED_CREDENTIAL, {"credential_kind": "static", "credential": credential.id}))
            elif limit is not None and lifetime is not None and lifetime > limit.total_seconds():
                detail = {"lifetime_s": lifetime, "limit_s": limit.total_seconds(), "credential": credential.id}
                checks.append((LONG_LIVED_CREDENTIAL, detail))
            run = state.credential_runs.get(credential.id or "")
            ended = state.run_ends.get(run) if run else None
            if ended is not None and change.event_time > ended + self.settings.skew_tolerance:
                detail = {"run_id": run, "run_ended": ended.isoformat(), "credential": credential.id}
                checks.append((CREDENTIAL_OUTLIVED_TASK, detail))
        if workflow is not None and workflow.workflow_class.may_act and not self._declared(change, state):
            checks.append((UNDECLARED_AUTOMATION, {"workflow": workflow.name}))
        return checks

    def _declared(self, change: JudgedChange, state: JudgeState) -> bool:
        """Whether a declaration within reach of the change's time covers it. The declarations are in time order,
        so those in reach are one run of them, looked at nearest first: a workflow declares an action just
        before it acts, and a busy one holds thousands of declarations for other targets around it."""
        declarations, at = state.declarations, change.event_time
        first = bisect.bisect_left(declarations, at - self.settings.declaration_before, key=_declared_at)
        after = bisect.bisect_right(declarations, at, key=_declared_at)
        last = bisect.bisect_right(declarations, at + self.settings.declaration_after, key=_declared_at)
        nearest_first = itertools.chain(range(after - 1, first - 1, -1), range(after, last))
        return any(self._covers(declarations[index], change) for index in nearest_first)

    @staticmethod
    def _covers(declared: Declaration, change: JudgedChange) -> bool:
        return glob_match(declared.action, change.action, ignore_case=True) and (
            not change.resources or any(glob_match(declared.target, r) for r in change.resources)
        )

    def _separation_of_duties(
        self, change: HeldView, record: AuthorizationRecord, workflow: Workflow | None
    ) -> list[Any]:
        executor = _person(change.principal.human or (change.principal.name or change.principal.uid))
        requester = _person(record.requested_by)
        approvers = {_person(a) for a in record.approved_by} - {None}
        others = approvers - {requester}
        if not others:
            problem = "the record has no approver other than its requester"
        elif executor is not None and executor == requester and executor in approvers:
            problem = "the executor requested and approved the change"
        else:
            return []
        detail = {"problem": problem, "executor": executor, "requested_by": record.requested_by,
                  "approved_by": list(record.approved_by), "record": record.id}  # fmt: skip
        spec = self._check_finding(SEPARATION_OF_DUTIES, change.model(), workflow, detail, Reviews())
        return [spec.build()]

    # -- findings -------------------------------------------------------------------------------

    def _severity(self, base: int, change: ChangeEvent, workflow: Workflow | None) -> Severity:
        offsets = self.settings.environment_severity_offset
        value = base + offsets.get(change.environment, self.settings.unknown_environment_offset)
        if workflow is not None and not workflow.workflow_class.may_act:
            value += 1
        return Severity(max(1, min(5, value)))

    def action_class(self, action: str) -> tuple[str, int]:
        for row in self.settings.action_classes:
            if glob_match(row.pattern, action, ignore_case=True):
                return row.name, row.severity
        return "other", self.settings.default_action_severity

    def _verdict_finding(
        self, verdict: str, change: ChangeEvent, reviews: Reviews, workflow: Workflow | None
    ) -> FindingSpec:
        action_class, action_severity = self.action_class(change.action)
        severity = self._severity(action_severity + _VERDICT_BUMP[verdict], change, workflow)
        shown, left_out = shown_candidates(reviews)
        because = "; ".join(f"record {r.record.id} {r.reason}" for r in shown) or "no record names this principal"
        if left_out:
            because += f"; and {left_out} other records that name the principal but miss the change by more"
        message = f"{change.principal.uid} ran {change.action} in {change.environment}: {title_case(verdict)}"
        return spec_from_change(
            DETECTOR,
            verdict,
            change,
            severity,
            message,
            description=because,
            evidence={**candidate_evidence(reviews), "action_class": action_class},
            unmapped={"verdict": verdict, "workflow": workflow.name if workflow else None},
        )

    def _check_finding(
        self,
        finding_type: str,
        change: ChangeEvent,
        workflow: Workflow | None,
        detail: dict[str, Any],
        reviews: Reviews,
    ) -> FindingSpec:
        severity = self._severity(CHECK_SEVERITY[finding_type], change, workflow)
        message = f"{change.principal.uid} ran {change.action} in {change.environment}: {title_case(finding_type)}"
        return spec_from_change(
            DETECTOR,
            finding_type,
            change,
            severity,
            message,
            evidence={**detail, **candidate_evidence(reviews)} if reviews.reviewed else detail,
            unmapped={"workflow": workflow.name if workflow else None,
                      "workflow_owner": workflow.owner if workflow else None},
        )  # fmt: skip

    def _retro_close(self, state: JudgeState, record: AuthorizationRecord) -> Outputs:
        """An emergency record approved after the fact closes the findings it covers, keeping history."""
        out = Outputs()
        approved_at = record.first_time_in(AuthStatus.APPROVED)
        limit = self.settings.retro_approval_limit
        still_open: list[tuple[str, HeldChange]] = []
        for verdict, kept in state.open_findings:
            if approved_at is None or not kept[0] < approved_at <= kept[0] + limit:
                still_open.append((verdict, kept))  # the record cannot be its retro-approval: not decoded
                continue
            change = change_from_json(kept[2])
            review = self.review(record, change)
            if review.retro and review.in_scope and review.in_window:
                out.findings.append(self._close(verdict, change, record, approved_at))
                out.ledger.append(self._ledger(change, AUTHORIZED, record.id, record.owner))
            else:
                still_open.append((verdict, kept))
        state.open_findings = still_open
        return out

    def _close(self, verdict: str, change: ChangeEvent, record: AuthorizationRecord, at: datetime) -> Any:
        spec = self._verdict_finding(verdict, change, Reviews([self.review(record, change)]), None)
        spec.activity = Activity.CLOSE
        spec.revision = 1
        spec.time = at
        spec.message = f"closed: emergency record {record.id} (owner {record.owner}) approved the change after the fact"
        spec.evidence = {"closed_by": record.id, "owner": record.owner, "approved_at": at.isoformat()}
        spec.unmapped = {"verdict": AUTHORIZED, "closed_by": record.id}
        return spec.build()

    @staticmethod
    def _ledger(change: JudgedChange, verdict: str, authorizer: str | None, owner: str | None) -> LedgerEntry:
        return LedgerEntry(
            event_id=change.event_id,
            time=change.event_time,
            principal=change.principal.uid,
            action=change.action,
            resources=change.resources,
            environment=change.environment,
            verdict=verdict,
            authorized_by=authorizer,
            owner=owner,
        )

"""remediation_loop: automation that fights itself or its own alerts, one target at a time.

State lives per target and holds one small series per (actor, action) — the actor being the workflow
(or, for audit events, the registry workflow or principal) — so three signals read one key:

- repetition: a series repeats `min_repetitions` times within `window`, and, once the series has a
  learned inter-arrival baseline (river-style EW mean/var of log gaps, `detectors.rate`), its recent
  gaps are `z_threshold` standard deviations shorter than usual. A job restarted twice a day for weeks
  is normal; the same job restarted every 3 minutes is not. A series repeated across many targets by one
  actor within the window (a fleet-wide wave) is not a loop.
- flip_flop: an action and its inverse (`inverse_pairs`) alternate on the target between different
  actors, `min_flips` times within `window`: two controllers fighting.
- ineffective: a remediation reports success, and the trigger (alert fingerprint) fires again on the
  same target, `min_refires` times within `ineffective_window`.

The finding's subject is the target; it opens once, grows (Update) while automation keeps touching the
target, and closes after `quiet_period` (or two loop periods, if longer) without activity.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from statistics import median
from typing import Any

import orjson

from detectors.base import Detector, EvictionPolicy, KeyKind, Outputs
from detectors.context import DetectionContext, principal_key
from detectors.episode import Episode, analysis, epoch, moment, remember
from detectors.memo import BoundedMemo
from detectors.rate import EWStats, log_gap
from detectors.redelivery import RecentEvents
from detectors.snapshot import SnapshotError, expect, loads
from models.classify import is_production_change
from models.config import OpswardenConfig
from models.events import ActionEvent, ActionPhase, AlertEvent, AlertStatus, ChangeEvent, PrincipalKind
from models.finding import Activity, Severity
from models.parsers.base import Parsed, item_time
from models.patterns import any_match, glob_match

FINDING = "remediation_loop"
MAX_TARGETS_PER_CHANGE = 4
SEVERITY = {"repetition": Severity.MEDIUM, "flip_flop": Severity.HIGH, "ineffective": Severity.MEDIUM}


@dataclass
class Series:
    """One actor's one action on the target: recent occurrence times and the learned gap baseline."""

    actor: str
    action: str
    times: list[float] = field(default_factory=list)
    last_run: str | None = None
    gaps: EWStats = field(default_factory=EWStats)
    declared: bool = False  # whether the latest occurrence came from the AIOps action, not the audit log

    def as_json(self) -> list[Any]:
        return [self.actor, self.action, self.times, self.last_run, self.gaps.to_list(), self.declared]

    @classmethod
    def from_json(cls, data: list[Any]) -> Series:
        return cls(data[0], data[1], data[2], data[3], EWStats.from_list(data[4]), data[5])


@dataclass
class LoopState:
    """Everything known about one target."""

    series: dict[str, Series] = field(default_factory=dict)
    last_op: list[Any] | None = None  # [pair index, sign, actor, time]
    flips: list[float] = field(default_factory=list)
    replicas: int | None = None
    # fingerprint -> [success time, armed, refire times, who fixed it: {workflow, principal, action}]
    fixed: dict[str, list[Any]] = field(default_factory=dict)
    episode: Episode | None = None
    last_seen: float | None = None
    recent: RecentEvents = field(default_factory=RecentEvents)  # redeliveries count once


@dataclass(frozen=True)
class Occurrence:
    """An automated action on a target, whichever source reported it."""

    event_id: str
    at: float
    actor: str
    action: str
    run_id: str | None
    fingerprint: str | None
    succeeded: bool
    facts: dict[str, Any]
    same_run: bool = False


class FanOut:
    """Global, window-bounded count of distinct targets per (actor, action): a fleet-wide wave is no loop.

    `encode` keeps what can still count (targets within a window of the newest) and `decode` takes it back, so a
    worker replacing another knows the waves in progress; `merge` adds another worker's, so workers that each
    hold some of the targets count a wave across all of them.

    >>> fan = FanOut(window=3600.0, cap=16, max_series=100)
    >>> for i in range(12):
    ...     fan.add("patcher", "patch", f"host-{i}", float(i))
    >>> fan.targets("patcher", "patch", 20.0), fan.targets("patcher", "patch", 9000.0)
    (12, 0)
    """

    def __init__(self, window: float, cap: int, max_series: int) -> None:
        self.window = window
        self.cap = cap
        self.max_series = max_series
        self.recent: dict[str, deque[tuple[float, str]]] = {}

    def add(self, actor: str, action: str, target: str, at: float) -> None:
        name = f"{actor}\x1f{action}"
        if name not in self.recent and len(self.recent) >= self.max_series:
            self._forget(at)
        seen = self.recent.setdefault(name, deque(maxlen=self.cap))
        for entry in seen:
            if entry[1] == target:
                seen.remove(entry)
                break
        seen.append((at, target))

    def _forget(self, at: float) -> None:
        """Drop series idle for a window, and the oldest ones until a tenth is free (so the scan is rare)."""
        stale = {name for name, seen in self.recent.items() if at - seen[-1][0] > self.window}
        names = iter(list(self.recent))
        while len(stale) < max(1, self.max_series // 10):
            stale.add(next(names))
        for name in stale:
            del self.recent[name]

    def targets(self, actor: str, action: str, at: float) -> int:
        seen = self.recent.get(f"{actor}\x1f{action}", ())
        return sum(1 for when, _ in seen if at - when <= self.window)

    def encode(self, latest: int | None = None) -> bytes:
        """Each series' targets seen within a window of the newest time seen, its `latest` most recent at most
        (the fan-out threshold: whether a wave reaches it depends on those alone)."""
        newest = max((seen[-1][0] for seen in self.recent.values() if seen), default=0.0)
        kept = {}
        for name, seen in self.recent.items():
            recent = [entry for entry in seen if newest - entry[0] <= self.window]
            if recent:
                kept[name] = recent[-latest:] if latest else recent
        return orjson.dumps({"window": self.window, "series": kept})

    def decode(self, data: bytes) -> None:
        """Replace the series with `encode`'s output; one that does not fit raises `SnapshotError`, changing nothing."""
        self.recent = {name: deque(entries, self.cap) for name, entries in self._parse(data)}

    def merge(self, data: bytes) -> None:
        """Fold in another worker's `encode` output: each target's latest time wins, so merging is idempotent and
        its order does not matter, and every worker that merges every other's ends up counting the whole fleet's
        targets. One that does not fit raises `SnapshotError`, changing nothing."""
        for name, entries in self._parse(data):
            seen = self.recent.get(name)
            if seen is None:
                if len(self.recent) >= self.max_series:
                    self._forget(entries[-1][0])
                self.recent[name] = deque(entries, self.cap)
                continue
            latest = {target: at for at, target in seen}
            for at, target in entries:
                if at > latest.get(target, -math.inf):
                    latest[target] = at
            self.recent[name] = deque(sorted((at, target) for target, at in latest.items()), self.cap)

    def _parse(self, data: bytes) -> list[tuple[str, list[tuple[float, str]]]]:
        snapshot = expect(loads(data), dict, "snapshot")
        if snapshot.get("window") != self.window:
            raise SnapshotError("the fan-out was counted over another window")
        parsed = []
        for name, seen in list(expect(snapshot.get("series"), dict, "series").items())[-self.max_series :]:
            entries = (expect(entry, list, name, length=2) for entry in expect(seen, list, name))
            kept = [(expect(at, float, "time"), expect(target, str, "target")) for at, target in entries]
            if kept:
                parsed.append((name, kept))
        return parsed


class RemediationLoopDetector(Detector[LoopState]):
    """Repetition, flip-flop and ineffective-fix loops per target, against each series' own baseline."""

    name = FINDING
    key_kind = KeyKind.TARGET

    def __init__(self, config: OpswardenConfig) -> None:
        super().__init__(config)
        self.settings = cfg = config.loops
        self.eviction = EvictionPolicy(max_keys=cfg.max_targets, idle_after=cfg.idle_after)
        #: Principals whose changes may be remediations: automation, and whoever cannot be told from it.
        self._keyed_kinds = frozenset((*cfg.automation_kinds, PrincipalKind.UNKNOWN))
        self.window = cfg.window.total_seconds()
        self.echo = cfg.echo_window.total_seconds()
        self.fanout = FanOut(self.window, cap=4 * cfg.fanout_targets, max_series=cfg.max_fanout_series)
        self._polarity = BoundedMemo(self._polarity_of_name)
        self._remediates = BoundedMemo(lambda action: any_match(cfg.audit_actions, action, ignore_case=True))

    # -- keys -------------------------------------------------------------------------------------

    def keys(self, item: Parsed) -> Iterable[str]:
        if isinstance(item, ChangeEvent):  # first: nearly every item is one
            keyed = item.principal.kind in self._keyed_kinds
            if keyed and is_production_change(item) and self._remediates(item.action):
                return tuple(r for r in item.resources[:MAX_TARGETS_PER_CHANGE] if self._judged(item.action, r))
            return ()
        if isinstance(item, ActionEvent):
            if item.phase is ActionPhase.RECOMMENDED or not self._judged(item.action, item.target):
                return ()
            return (item.target,)
        if isinstance(item, AlertEvent):
            return (item.target,) if item.status is AlertStatus.FIRING and item.target else ()
        return ()

    def _judged(self, action: str, target: str) -> bool:
        cfg = self.settings
        return not (any_match(cfg.ignore_actions, action, ignore_case=True) or any_match(cfg.ignore_targets, target))

    # -- state ------------------------------------------------------------------------------------

    def new_state(self) -> LoopState:
        return LoopState()

    def last_seen(self, state: LoopState) -> datetime | None:
        return None if state.last_seen is None else moment(state.last_seen)

    def deadline(self, state: LoopState) -> datetime | None:
        if state.episode is None:
            return None
        return moment(state.episode.last_time + self.quiet(state.episode))

    def snapshot_models(self) -> dict[str, bytes]:
        return {"fanout": self.fanout.encode(latest=self.settings.fanout_targets)}

    def restore_model(self, name: str, data: bytes) -> None:
        if name != "fanout":
            super().restore_model(name, data)
        self.fanout.decode(data)

    def merge_model(self, name: str, data: bytes) -> bool:
        if name != "fanout":
            return super().merge_model(name, data)
        self.fanout.merge(data)
        return True

    def encode_state(self, state: LoopState) -> bytes:
        return orjson.dumps(
            [
                [s.as_json() for s in state.series.values()],
                state.last_op,
                state.flips,
                state.replicas,
                state.fixed,
                None if state.episode is None else state.episode.as_json(),
                state.last_seen,
                state.recent.to_list(),
            ]
        )

    def decode_state(self, data: bytes) -> LoopState:
        series, last_op, flips, replicas, fixed, episode, last_seen, recent = orjson.loads(data)
        restored = [Series.from_json(s) for s in series]
        return LoopState(
            {f"{s.actor}\x1f{s.action}": s for s in restored},
            last_op,
            flips,
            replicas,
            fixed,
            Episode.from_json(episode),
            last_seen,
            RecentEvents(recent),
        )

    # -- events -----------------------------------------------------------------------------------

    def on_item(self, key: str, state: LoopState, item: Parsed, ctx: DetectionContext) -> Outputs:
        """An event past the open episode's quiet deadline closes it first (the watermark may lag behind)."""
        moment_of = item_time(item)
        if moment_of is None:
            return Outputs()
        at = epoch(moment_of)
        state.last_seen = at if state.last_seen is None else max(state.last_seen, at)  # even if ignored: evictable
        out = self.on_watermark(key, state, moment_of, ctx)
        out.extend(self._step(key, state, item, ctx))
        return out

    def _step(self, key: str, state: LoopState, item: Parsed, ctx: DetectionContext) -> Outputs:
        if self._redelivered(state, item):
            return Outputs()
        if isinstance(item, AlertEvent):
            at = epoch(item.time)
            signal = self._refire(state, item.fingerprint, at)
            fixer = state.fixed[item.fingerprint][3] if item.fingerprint in state.fixed else {}
            facts = {**fixer, "resources": [key], "environment": item.environment, "trigger": item.fingerprint}
            return self._judge(key, state, item.id, at, signal, facts, None)
        occurrence = self._occurrence(key, state, item, ctx)
        if occurrence is None:
            return Outputs()
        at = occurrence.at
        if occurrence.succeeded and occurrence.fingerprint:
            fixed = state.fixed.setdefault(occurrence.fingerprint, [at, True, [], {}])
            fixed[0], fixed[1] = at, True
            fixed[3] = {k: occurrence.facts[k] for k in ("workflow", "principal", "action")}
            _cap(state.fixed, self.settings.max_series)
        if occurrence.same_run:
            return Outputs()  # a later phase of a run already counted
        series = self._series(state, occurrence)
        declared = occurrence.run_id is not None
        if series.times and series.declared != declared and abs(at - series.times[-1]) <= self.echo:
            return Outputs()  # the audit record of a declared action (or the declaration of an audited one)
        series.last_run, series.declared = occurrence.run_id, declared
        signals: list[str] = []
        refire = self._refire(state, occurrence.fingerprint, at) if occurrence.fingerprint else None
        signals += [refire] if refire else []
        if self._flip(state, occurrence):
            signals.append("flip_flop")
        if self._repeat(key, state, series, occurrence):
            signals.append("repetition")
        signal = min(signals, key=_PRECEDENCE.index) if signals else None
        return self._judge(key, state, occurrence.event_id, at, signal, occurrence.facts, series)

    def _redelivered(self, state: LoopState, item: Parsed) -> bool:
        """An event seen again (at-least-once delivery after a crash, a file replayed twice) is not another
        repetition: counting it would turn two restarts into a loop."""
        event_id = item.event_id if isinstance(item, ChangeEvent) else getattr(item, "id", None)
        return event_id is not None and state.recent.seen_before(event_id, self.settings.remembered_events)

    def on_watermark(self, key: str, state: LoopState, watermark: datetime, ctx: DetectionContext) -> Outputs:
        episode = state.episode
        if episode is None or watermark < moment(episode.last_time + self.quiet(episode)):
            return Outputs()
        episode.close()
        state.episode = None
        return self._emit(key, episode, Activity.CLOSE)

    def quiet(self, episode: Episode) -> float:
        """Seconds without activity that end an episode: `quiet_period`, or two loop periods for a slow loop."""
        return max(self.settings.quiet_period.total_seconds(), 2 * (episode.facts.get("period_seconds") or 0.0))

    # -- signals ----------------------------------------------------------------------------------

    def _occurrence(self, key: str, state: LoopState, item: Parsed, ctx: DetectionContext) -> Occurrence | None:
        if isinstance(item, ActionEvent):
            facts = {
                "principal": item.principal,
                "action": item.action,
                "resources": [key],
                "environment": item.environment,
                "source": "aiops",
                "workflow": item.workflow,
                "trigger": item.trigger.fingerprint if item.trigger else None,
            }
            return Occurrence(
                event_id=item.id,
                at=epoch(item.time),
                actor=item.workflow,
                action=item.action,
                run_id=item.run_id,
                fingerprint=item.trigger.fingerprint if item.trigger else None,
                succeeded=item.phase is ActionPhase.SUCCEEDED,
                facts=facts,
                same_run=item.run_id == self._last_run(state, item.workflow, item.action),
            )
        if not isinstance(item, ChangeEvent):
            return None
        workflow = ctx.registry.workflow_for(item.principal.identities())
        if workflow is None and item.principal.kind not in self.settings.automation_kinds:
            return None
        action = _signature(item.action, item.resources, key)
        replicas = item.details.get("replicas")
        if isinstance(replicas, int) and not isinstance(replicas, bool):
            previous, state.replicas = state.replicas, replicas
            direction = "up" if previous is None or replicas > previous else "down" if replicas < previous else "same"
            action = f"{action}#{direction}:{replicas}"
        actor = workflow.name if workflow else principal_key(item.principal)
        facts = {
            "principal": item.principal.uid,
            "action": item.action,
            "resources": [key],
            "environment": item.environment,
            "source": item.source.value,
            "account": item.scope.account,
            "region": item.scope.region,
            "workflow": workflow.name if workflow else None,
            "trigger": None,
        }
        return Occurrence(item.event_id, epoch(item.event_time), actor, action, None, None, True, facts)

    @staticmethod
    def _last_run(state: LoopState, actor: str, action: str) -> str | None:
        series = state.series.get(f"{actor}\x1f{action}")
        return series.last_run if series else None

    def _series(self, state: LoopState, occurrence: Occurrence) -> Series:
        name = f"{occurrence.actor}\x1f{occurrence.action}"
        series = state.series.get(name)
        if series is None:
            if len(state.series) >= self.settings.max_series:  # the least recently active series goes
                oldest = min(state.series, key=lambda k: state.series[k].times[-1] if state.series[k].times else 0)
                del state.series[oldest]
            series = state.series[name] = Series(occurrence.actor, occurrence.action)
        return series

    def _repeat(self, key: str, state: LoopState, series: Series, occurrence: Occurrence) -> bool:
        """Count the occurrence; True when the floor is met and the learned baseline agrees."""
        cfg, at = self.settings, occurrence.at
        gap = at - series.times[-1] if series.times else 0.0
        series.times = _recent(series.times, at, self.window, 2 * cfg.min_repetitions)
        self.fanout.add(series.actor, series.action, key, at)
        warm = series.gaps.n >= cfg.warmup_gaps
        unusual = warm and len(series.times) > 1 and self._gap_score(series) <= -cfg.z_threshold
        # A loop's gaps are not learned (while an episode is open, or when a warm baseline finds them short),
        # so a loop cannot teach itself normal.
        if (
            gap > 0
            and state.episode is None
            and not (warm and series.gaps.z(log_gap(gap), cfg.min_log_std) <= -cfg.z_threshold)
        ):
            series.gaps.update(log_gap(gap), cfg.fading_factor)
        if len(series.times) < cfg.min_repetitions:
            return False
        if self.fanout.targets(series.actor, series.action, at) >= cfg.fanout_targets:
            return False
        return not warm or unusual

    def _gap_score(self, series: Series) -> float:
        recent = [log_gap(b - a) for a, b in zip(series.times, series.times[1:], strict=False)]
        return series.gaps.z(median(recent), self.settings.min_log_std)

    def _flip(self, state: LoopState, occurrence: Occurrence) -> bool:
        polarity = self._polarity_of(occurrence.action)
        if polarity is None:
            return False
        at, (pair, sign) = occurrence.at, polarity
        last = state.last_op
        flipped = last is not None and last[0] == pair and last[1] == -sign and last[2] != occurrence.actor
        recent = _recent(state.flips, at, self.window, 2 * self.settings.min_flips)
        state.flips = recent if flipped and last is not None and at - last[3] <= self.window else recent[:-1]
        state.last_op = [pair, sign, occurrence.actor, at]
        return len(state.flips) >= self.settings.min_flips

    def _polarity_of(self, action: str) -> tuple[int, int] | None:
        """(pair index, +1 or -1) for an action named in `inverse_pairs`; scale directions count as up/down.

        Memoised on the bare action name (without the resources and replicas a signature carries).
        """
        name = action.split("@", 1)[0]
        if "#" in action:
            direction = action.rsplit("#", 1)[1].split(":", 1)[0]
            name = f"scale:{direction}"
        return self._polarity(name)

    def _polarity_of_name(self, name: str) -> tuple[int, int] | None:
        verb = name.rsplit(":", 1)[-1].rsplit("/", 1)[-1].lower()
        found: tuple[int, int] | None = None
        for index, (forward, inverse) in enumerate(self.settings.inverse_pairs):
            for sign, pattern in ((1, forward), (-1, inverse)):
                bare = pattern.isalpha()
                if verb.startswith(pattern.lower()) if bare else glob_match(pattern, name, ignore_case=True):
                    found = (index, sign)
                    break
            if found:
                break
        return found

    def _refire(self, state: LoopState, fingerprint: str, at: float) -> str | None:
        """A trigger firing again after a reported fix counts once per fix."""
        fixed = state.fixed.get(fingerprint)
        if fixed is None or not fixed[1] or at <= fixed[0]:
            return None
        fixed[1] = False
        window = self.settings.ineffective_window.total_seconds()
        fixed[2] = _recent(fixed[2], at, window, 2 * self.settings.min_refires)
        return "ineffective" if len(fixed[2]) >= self.settings.min_refires else None

    # -- findings ---------------------------------------------------------------------------------

    def _judge(
        self,
        key: str,
        state: LoopState,
        event_id: str,
        at: float,
        signal: str | None,
        facts: dict[str, Any],
        series: Series | None,
    ) -> Outputs:
        episode = state.episode
        if episode is not None:
            remember(episode.facts["related"], event_id)
            if episode.grow(at, episode.count + 1):
                return self._emit(key, episode, Activity.UPDATE)
            return Outputs()
        if signal is None:
            return Outputs()
        trigger = facts.get("trigger")
        count = self._count(state, signal, series, trigger)
        state.episode = episode = Episode.open(key, event_id, at, count=count)
        episode.facts = {
            **facts,
            "loop_kind": signal,
            "related": [event_id],
            **self._explain(state, signal, series, trigger),
        }
        episode.facts["trigger"] = episode.facts.get("trigger") or _latest_trigger(state)
        return self._emit(key, episode, Activity.CREATE)

    def _count(self, state: LoopState, signal: str, series: Series | None, trigger: str | None) -> int:
        if signal == "flip_flop":
            return len(state.flips) + 1
        if signal == "ineffective":
            return len(state.fixed[trigger][2]) if trigger in state.fixed else self.settings.min_refires
        return len(series.times) if series else self.settings.min_repetitions

    def _explain(self, state: LoopState, signal: str, series: Series | None, trigger: str | None) -> dict[str, Any]:
        cfg = self.settings
        out: dict[str, Any] = {}
        if series is not None:
            out["actor"] = series.actor
            out["series_action"] = series.action
        times = {
            "repetition": series.times if series else [],
            "flip_flop": state.flips,
            "ineffective": state.fixed[trigger][2] if trigger in state.fixed else [],
        }[signal]
        if len(times) > 1:
            out["period_seconds"] = round(median(b - a for a, b in pairwise(times)), 3)
        if series is not None and series.gaps.n:
            out["baseline"] = {
                "period_seconds": round(math.exp(series.gaps.mean), 3),
                "log_gap_std": round(series.gaps.std(cfg.min_log_std), 4),
                "gaps_seen": series.gaps.n,
                "warm": series.gaps.n >= cfg.warmup_gaps,
            }
            if len(series.times) > 1:
                out["model_score"] = round(self._gap_score(series), 4)
        floors = {
            "repetition": {"min_repetitions": cfg.min_repetitions, "window_seconds": self.window},
            "flip_flop": {"min_flips": cfg.min_flips, "window_seconds": self.window},
            "ineffective": {"min_refires": cfg.min_refires, "window_seconds": cfg.ineffective_window.total_seconds()},
        }
        out["threshold"] = {**floors[signal], "z_threshold": -cfg.z_threshold, "warmup_gaps": cfg.warmup_gaps}
        return out

    def _emit(self, key: str, episode: Episode, activity: Activity) -> Outputs:
        facts = episode.facts
        kind = facts["loop_kind"]
        who = facts.get("workflow") or facts.get("actor") or facts.get("principal") or "automation"
        period = facts.get("period_seconds")
        cadence = f" every {period:.0f}s" if period else ""
        message = f"{_title(kind)}: {who} {facts.get('action')} on {key} x{episode.count}{cadence}"
        at = None
        if activity is Activity.CLOSE:
            message = f"{_title(kind)} on {key} stopped after {episode.count} occurrences"
            at = episode.last_time + self.quiet(episode)
        baseline = facts.get("baseline") or {}
        spec = episode.spec(
            FINDING,
            FINDING,
            activity,
            SEVERITY[kind],
            message,
            at=at,
            evidence={
                "signal": kind,
                "observed": {"count": episode.count, "period_seconds": period},
                "baseline": baseline,
                "threshold": facts["threshold"],
                "model_score": facts.get("model_score"),
            },
            anomaly_analyses=(
                analysis(
                    key,
                    "target",
                    "inter_arrival_seconds" if kind == "repetition" else kind,
                    {"count": episode.count, "period_seconds": period or 0.0, "z": facts.get("model_score", 0.0)},
                    baseline or {"gaps_seen": 0},
                ),
            ),
        )
        spec.unmapped = _unmapped(episode)
        return Outputs(findings=[spec.build()])


_PRECEDENCE = ["ineffective", "flip_flop", "repetition"]


def _unmapped(episode: Episode) -> dict[str, Any]:
    facts = episode.facts
    return {
        "loop_kind": facts["loop_kind"],
        "workflow": facts.get("workflow"),
        "principal": facts.get("principal"),
        "target": episode.subject,
        "action": facts.get("action"),
        "count": episode.count,
        "period_seconds": facts.get("period_seconds"),
        "trigger": facts.get("trigger"),
    }


def _latest_trigger(state: LoopState) -> str | None:
    return max(state.fixed, key=lambda fp: state.fixed[fp][0]) if state.fixed else None


def _signature(action: str, resources: tuple[str, ...], target: str) -> str:
    """An audited action with the other resources it named: attaching three policies to one role is three
    actions, attaching the same one three times is a repetition."""
    others = sorted(r for r in resources if r != target)
    return f"{action}@{','.join(others)}" if others else action


def _recent(times: list[float], at: float, span: float, keep: int) -> list[float]:
    """`times` still within `span` of `at` (at most `keep` of them), then `at`."""
    return [*[t for t in times if at - t <= span][-keep:], at]


def _cap(table: dict[str, Any], size: int) -> None:
    while len(table) > size:
        del table[next(iter(table))]


def _title(kind: str) -> str:
    return {"repetition": "Repeated remediation", "flip_flop": "Flip-flop", "ineffective": "Ineffective fix"}[kind]

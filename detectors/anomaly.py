"""activity_anomaly: a principal suddenly changing (or being denied) far more than it usually does.

Counts are taken per `bucket` of event time, separately for production changes and for denied calls (a
burst of AccessDenied is probing). Each principal learns, online, the EW mean and variance of its counts
over the buckets in which it was active (`detectors.rate`): "when this principal works, how much does it
do". A bucket is anomalous when its count reaches the floor (`min_changes` / `min_denied`) and stands
`z_threshold` standard deviations (at least `min_relative_std` of the mean each) above the principal's
baseline; nothing is raised before
`warmup_buckets` active buckets are known. Anomalous buckets are not learned, so a long burst does not
teach itself normal. The finding opens on the event that crosses the threshold, grows while buckets stay
anomalous, and closes after one normal bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from detectors.base import Detector, EvictionPolicy, KeyKind, Outputs
from detectors.context import DetectionContext, principal_key
from detectors.episode import Episode, analysis, epoch, moment, remember
from detectors.rate import EWStats
from detectors.redelivery import RecentEvents
from models.classify import is_production_change
from models.config import OpswardenConfig
from models.events import DENIED, ChangeEvent
from models.finding import Activity, Severity
from models.parsers.base import Parsed
from models.patterns import any_match

FINDING = "activity_anomaly"
SIGNAL_SEVERITY = {"change_burst": Severity.MEDIUM, "denied_burst": Severity.HIGH}


@dataclass
class ActivityState:
    """The current bucket's counts, the learned baselines over active buckets, and the open episode."""

    bucket: int | None = None
    changes: int = 0
    denied: int = 0
    anomalous: bool = False
    active: int = 0
    change_rate: EWStats = field(default_factory=EWStats)
    denied_rate: EWStats = field(default_factory=EWStats)
    episode: Episode | None = None
    last_seen: float | None = None
    previous: tuple[int, int] = (0, 0)  # the bucket just before: (changes, denied)
    recent: RecentEvents = field(default_factory=RecentEvents)  # to count each event once


class ActivityAnomalyDetector(Detector[ActivityState]):
    """Per-principal change and denial bursts against the principal's own learned rate."""

    name = FINDING
    key_kind = KeyKind.PRINCIPAL

    def __init__(self, config: OpswardenConfig) -> None:
        super().__init__(config)
        self.settings = cfg = config.anomaly
        self.eviction = EvictionPolicy(max_keys=cfg.max_principals, idle_after=cfg.idle_after)
        self.width = cfg.bucket.total_seconds()

    def keys(self, item: Parsed) -> Iterable[str]:
        if not isinstance(item, ChangeEvent) or not (is_production_change(item) or item.outcome is DENIED):
            return ()
        key = principal_key(item.principal)
        return () if any_match(self.settings.ignore_principals, key) else (key,)

    def new_state(self) -> ActivityState:
        return ActivityState()

    def last_seen(self, state: ActivityState) -> datetime | None:
        return None if state.last_seen is None else moment(state.last_seen)

    def warmup_counts(self, store: Mapping[str, ActivityState]) -> tuple[int, int]:
        """(warming, warm) principals: no finding is possible before `warmup_buckets` active buckets."""
        warm = sum(1 for state in store.values() if state.active >= self.settings.warmup_buckets)
        return len(store) - warm, warm

    def deadline(self, state: ActivityState) -> datetime | None:
        """One full bucket after the last anomalous one: the episode is over unless it was extended."""
        if state.episode is None:
            return None
        return moment((state.episode.last_time // self.width + 2) * self.width)

    def encode_state(self, state: ActivityState) -> bytes:
        return orjson.dumps(
            [
                state.bucket,
                state.changes,
                state.denied,
                state.anomalous,
                state.active,
                state.change_rate.to_list(),
                state.denied_rate.to_list(),
                None if state.episode is None else state.episode.as_json(),
                state.last_seen,
                state.previous,
                state.recent.to_list(),
            ]
        )

    def decode_state(self, data: bytes) -> ActivityState:
        values = orjson.loads(data)
        values[5], values[6] = EWStats.from_list(values[5]), EWStats.from_list(values[6])
        values[7] = Episode.from_json(values[7])
        values[9] = tuple(values[9])
        values[10] = RecentEvents(values[10])
        return ActivityState(*values)

    def on_item(self, key: str, state: ActivityState, item: Parsed, ctx: DetectionContext) -> Outputs:
        """An event past the open episode's deadline closes it first (the watermark may lag behind)."""
        assert isinstance(item, ChangeEvent)
        out = self.on_watermark(key, state, item.event_time, ctx)
        out.extend(self._step(key, state, item))
        return out

    def _step(self, key: str, state: ActivityState, item: ChangeEvent) -> Outputs:
        """Count the event in its bucket; an event seen again (at-least-once delivery, a redelivered source
        file) is not counted twice, or a replay after a crash would look like a burst. Events arrive in
        event-time order (replay sorts them, the runtime's reorder buffer does), so one for a bucket
        already closed is either counted already (read again after a restore, beyond the remembered ids)
        or later than the reorder window: it is not counted."""
        at = epoch(item.event_time)
        index = int(at // self.width)
        if state.bucket is not None and index < state.bucket:
            return Outputs()
        if state.recent.seen_before(item.event_id, self.settings.remembered_events):
            return Outputs()
        state.last_seen = at if state.last_seen is None else max(state.last_seen, at)
        if state.bucket is None or index > state.bucket:
            self._fold(state, index)
            state.bucket = index
        if item.outcome is DENIED:
            state.denied += 1
        else:
            state.changes += 1
        signal = self._signal(state, at)
        episode = state.episode
        if signal is None:
            return Outputs()
        state.anomalous = True
        if episode is not None:
            remember(episode.facts["related"], item.event_id)
            fresh = signal not in episode.facts["signals"]
            if fresh:
                episode.facts["signals"].append(signal)
            if episode.grow(at, episode.count + 1, force=fresh):
                return self._emit(state, episode, Activity.UPDATE)
            return Outputs()
        changes, denied = self._trailing(state, at)
        count = round(denied if signal == "denied_burst" else changes)
        state.episode = episode = Episode.open(key, item.event_id, at, count=count)
        episode.facts = {
            "principal": item.principal.uid,
            "action": item.action,
            "resources": list(item.resources[:5]),
            "environment": item.environment,
            "source": item.source.value,
            "account": item.scope.account,
            "region": item.scope.region,
            "related": [item.event_id],
            "signals": [signal],
        }
        return self._emit(state, episode, Activity.CREATE)

    def on_watermark(self, key: str, state: ActivityState, watermark: datetime, ctx: DetectionContext) -> Outputs:
        due = self.deadline(state)
        episode = state.episode
        if episode is None or due is None or watermark < due:
            return Outputs()
        episode.close()
        state.episode = None
        return self._emit(state, episode, Activity.CLOSE, at=epoch(due))

    def _fold(self, state: ActivityState, index: int) -> None:
        """Learn the finished bucket unless it was anomalous; a surprising one (above the z threshold, under
        the floor) only at `surprising_weight` of the pace, so half a burst does not teach the other half
        normal while a lasting shift is still learned."""
        cfg = self.settings
        if state.bucket is not None and not state.anomalous and (state.changes or state.denied):
            warm = state.active >= cfg.warmup_buckets
            surprising = warm and (
                self._z(state.change_rate, state.changes) >= cfg.z_threshold
                or self._z(state.denied_rate, state.denied) >= cfg.z_threshold
            )
            weight = cfg.fading_factor * (cfg.surprising_weight if surprising else 1.0)
            state.change_rate.update(state.changes, weight)
            state.denied_rate.update(state.denied, weight)
            state.active += 1
        adjacent = state.bucket is not None and index == state.bucket + 1
        state.previous = (state.changes, state.denied) if adjacent else (0, 0)
        state.changes = state.denied = 0
        state.anomalous = False

    def _trailing(self, state: ActivityState, at: float) -> tuple[float, float]:
        """Counts over the last bucket-length of time: this bucket plus the unexpired share of the previous
        one (the sliding-window estimate rate limiters use), so a burst split by a boundary is seen whole."""
        left = min(max(1.0 - (at / self.width - (state.bucket or 0)), 0.0), 1.0)
        return state.changes + left * state.previous[0], state.denied + left * state.previous[1]

    def _signal(self, state: ActivityState, at: float) -> str | None:
        cfg = self.settings
        if state.active < cfg.warmup_buckets:
            return None
        changes, denied = self._trailing(state, at)
        if denied >= cfg.min_denied and self._z(state.denied_rate, denied) >= cfg.z_threshold:
            return "denied_burst"
        if changes >= cfg.min_changes and self._z(state.change_rate, changes) >= cfg.z_threshold:
            return "change_burst"
        return None

    def _floor(self, rate: EWStats) -> float:
        """Count noise grows with the rate: a busy principal's std is at least a fraction of its mean."""
        return max(self.settings.min_std, self.settings.min_relative_std * rate.mean)

    def _z(self, rate: EWStats, count: float) -> float:
        return rate.z(count, self._floor(rate))

    def _emit(self, state: ActivityState, episode: Episode, activity: Activity, at: float | None = None) -> Outputs:
        cfg = self.settings
        signals: list[str] = episode.facts["signals"]
        changes, denied = self._trailing(state, episode.last_time if at is None else at)
        observed = {"changes_in_last_bucket": round(changes, 2), "denied_in_last_bucket": round(denied, 2)}
        baseline: dict[str, Any] = {
            "changes_per_active_bucket": round(state.change_rate.mean, 4),
            "changes_std": round(state.change_rate.std(self._floor(state.change_rate)), 4),
            "denied_per_active_bucket": round(state.denied_rate.mean, 4),
            "denied_std": round(state.denied_rate.std(self._floor(state.denied_rate)), 4),
            "active_buckets": state.active,
        }
        scores = {
            "change_z": round(self._z(state.change_rate, changes), 4),
            "denied_z": round(self._z(state.denied_rate, denied), 4),
        }
        severity = max(SIGNAL_SEVERITY[s] for s in signals)
        what = " and ".join(s.replace("_", " ") for s in signals)
        message = f"Activity anomaly for {episode.subject}: {what}, {episode.count} in {cfg.bucket}"
        if activity is Activity.CLOSE:
            message = f"Activity of {episode.subject} back within its baseline"
        spec = episode.spec(
            FINDING,
            FINDING,
            activity,
            severity,
            message,
            at=at,
            evidence={
                "signal": signals,
                "observed": observed,
                "baseline": baseline,
                "threshold": {
                    "min_changes": cfg.min_changes,
                    "min_denied": cfg.min_denied,
                    "bucket_seconds": self.width,
                    "z_threshold": cfg.z_threshold,
                    "warmup_buckets": cfg.warmup_buckets,
                },
                "model_score": scores,
            },
            anomaly_analyses=(
                analysis(episode.subject, "principal", "calls_per_bucket", {**observed, **scores}, baseline),
            ),
        )
        spec.unmapped = {"signals": signals, "count": episode.count}
        return Outputs(findings=[spec.build()])

"""permission_creep: a principal's power growing beyond its own history and its peers', as the grants happen.

The subject is the grantee (`ChangeEvent.grants[].grantee`), not the granter; the acting principal is
also keyed, for "used privilege". Exact per-principal sets (hashed, capped) say what is new. Learned
models of new privileges per `window` say whether growth is unusual: an EW baseline of the principal's
own (`detectors.rate`), its peer group's quantile (a registry workflow, else the grantee kind;
`PeerBaselines`), a Page-Hinkley drift test on the principal's series (`detectors.growth.GrowthDrift`),
and an anomaly score of its growth profile against its peer group's (`detectors.growth.GrowthScorer`).
Signals:

- admin_grant: a new privilege named in `admin_privileges` (`*:*`, AdministratorAccess, cluster-admin...).
- takeover_grant: credentials or trust given to the principal by someone else (`takeover_privileges`).
- grant_run: `min_grants` new privileges within `window`, above the own baseline once warm and above
  the peers' once they are warm.
- steady_growth: `min_growth` new privileges within `growth_window`, above what peers gain in as long
  (not the own baseline: a slow creep would teach it that creeping is normal).
- growth_drift: the drift test alarms on the principal's new privileges per window (the open window
  counted as if it closed now), with at least `drift_min_growth` new privileges within `growth_window`,
  above what peers gain in as long.
- privileged_first_use: first uses of sensitive APIs (weighted by `sensitive_apis`) by an established
  principal, summing to `sensitive_threshold` within `window`.

The growth score never opens a finding on its own: at or above `score_threshold` it rates a Medium
finding High, unless an authorization record covers every grant in it. A finding closes after `window`
without news, or `growth_window` when slow growth (steady_growth, growth_drift) is among its signals.

Grants made under an authorization record in force still count (each step approved, the sum is the
risk), lower the severity by one, and are listed in the evidence. Grants within `bootstrap` of a
principal's first grant are its provisioning: only admin or takeover grants among them raise a finding.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from river import stats

from detectors.base import Detector, EvictionPolicy, KeyKind, Outputs
from detectors.context import DetectionContext, principal_key
from detectors.episode import Episode, analysis, epoch, moment, remember
from detectors.growth import DriftState, GrowthDrift, GrowthScorer, profile
from detectors.memo import BoundedMemo
from detectors.rate import EWStats
from detectors.redelivery import RecentEvents
from detectors.snapshot import SnapshotError, expect, loads
from models.authorization import AuthorizationRecord, AuthStatus, FixedWindow
from models.config import OpswardenConfig
from models.events import SUCCESS, ChangeEvent, Grant
from models.finding import Activity, Severity
from models.parsers.base import Parsed
from models.patterns import any_match

FINDING = "permission_creep"
#: River's P² quantile (a Rust extension) pickles as this: the quantile, four arrays of its five markers (heights,
#: positions, desired positions, their increments), how many markers are filled, and whether it has started.
P2_MARKERS = 5
P2_STATE = struct.Struct("<21dBB")
P2_VALUES = len(P2_STATE.unpack(bytes(P2_STATE.size)))
SIGNAL_SEVERITY = {
    "admin_grant": Severity.HIGH,
    "takeover_grant": Severity.HIGH,
    "grant_run": Severity.MEDIUM,
    "steady_growth": Severity.MEDIUM,
    "growth_drift": Severity.MEDIUM,
    "privileged_first_use": Severity.MEDIUM,
}
SLOW_SIGNALS = frozenset({"steady_growth", "growth_drift"})
MAX_WINDOWS_FOLDED = 30


def digest(text: str) -> str:
    """A short stable name for a privilege or API, so a principal's sets stay small whatever the ARNs."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


@dataclass
class CreepState:
    """One principal: what it holds and uses, its recent new grants and first uses, its growth baseline and drift."""

    first_seen: float | None = None
    last_seen: float | None = None
    first_grant: float | None = None
    privileges: list[str] = field(default_factory=list)
    apis: list[str] = field(default_factory=list)
    grants: list[list[Any]] = field(default_factory=list)  # [time, privilege, event id, authorization id, granter]
    uses: list[list[Any]] = field(default_factory=list)  # [time, api, weight, event id]
    window_index: int | None = None
    window_count: int = 0
    baseline: EWStats = field(default_factory=EWStats)
    episode: Episode | None = None
    peer_group: str | None = None
    drift: DriftState = field(default_factory=DriftState)
    recent: RecentEvents = field(default_factory=RecentEvents)  # to count each event once


class PeerBaselines:
    """Global: per peer group (a registry workflow, else a kind), what its principals usually gain, as an
    online quantile (river's P² `stats.Quantile`) of new privileges per window and per growth window,
    sampled as each principal's windows end.

    A principal is judged against its peers as well as itself, so a sandbox role that gets three policies a
    day like every other sandbox role is not creep. A quantile, not a mean: a few creeping peers must not
    make creep look normal. `encode` and `decode` carry the estimators' state as JSON numbers, so a worker
    replacing another starts from its peers' quantiles.

    >>> peers = PeerBaselines(quantile=0.9)
    >>> for count in [3, 4, 3, 4, 3, 4, 3, 4, 3, 30]:
    ...     peers.learn("workflow:sandbox/window", count)
    >>> peers.usual("workflow:sandbox/window", warmup=10) < 10, peers.usual("kind:human/window", warmup=10)
    (True, None)
    """

    def __init__(self, quantile: float) -> None:
        self.quantile = quantile
        self.groups: dict[str, stats.Quantile] = {}
        self.counts: dict[str, int] = {}

    def learn(self, group: str, count: float) -> None:
        if group not in self.groups:
            self.groups[group] = stats.Quantile(self.quantile)
        self.groups[group].update(count)
        self.counts[group] = self.counts.get(group, 0) + 1

    def usual(self, group: str, warmup: int) -> float | None:
        """The group's `quantile` of gains, once it has `warmup` samples; None before."""
        if self.counts.get(group, 0) < warmup:
            return None
        return self.groups[group].get()

    def encode(self) -> bytes:
        """Per group: samples and the P² estimator's state (`P2_STATE`'s numbers)."""
        groups = {
            name: [self.counts.get(name, 0), list(P2_STATE.unpack(quantile._quantile.__getstate__()))]
            for name, quantile in self.groups.items()
        }
        return orjson.dumps({"quantile": self.quantile, "groups": groups})

    def decode(self, data: bytes) -> None:
        """Replace the groups with `encode`'s output; one that does not fit raises `SnapshotError`, changing nothing."""
        snapshot = expect(loads(data), dict, "snapshot")
        if snapshot.get("quantile") != self.quantile:
            raise SnapshotError("the peer baselines estimate another quantile")
        groups: dict[str, stats.Quantile] = {}
        counts: dict[str, int] = {}
        for name, value in expect(snapshot.get("groups"), dict, "groups").items():
            count, state = expect(value, list, name, length=2)
            counts[name] = expect(count, int, "samples")
            groups[name] = self._restored(expect(state, list, "state", length=P2_VALUES))
        self.groups, self.counts = groups, counts

    def _restored(self, state: list[Any]) -> stats.Quantile:
        """A river quantile loaded with `state`, checked to be what river writes, so its Rust side cannot refuse it."""
        *numbers, filled, initialised = state
        values = [expect(v, float, "state") for v in numbers]
        if values[0] != self.quantile or expect(filled, int, "state") not in range(P2_MARKERS + 1):
            raise SnapshotError("not a P² state for this quantile")
        if expect(initialised, int, "state") not in (0, 1):
            raise SnapshotError("not a P² state")
        quantile = stats.Quantile(self.quantile)
        quantile._quantile.__setstate__(P2_STATE.pack(*values, filled, initialised))
        quantile._is_updated = filled > 0
        return quantile


class PermissionCreepDetector(Detector[CreepState]):
    """Growth of a principal's granted and used privilege against its own and its peers' learned baselines."""

    name = FINDING
    key_kind = KeyKind.PRINCIPAL

    def __init__(self, config: OpswardenConfig) -> None:
        super().__init__(config)
        self.settings = cfg = config.creep
        self.eviction = EvictionPolicy(max_keys=cfg.max_principals, idle_after=cfg.idle_after)
        self.window = cfg.window.total_seconds()
        self.growth_window = cfg.growth_window.total_seconds()
        self._weight = BoundedMemo(self._sensitivity)
        self.peers = PeerBaselines(cfg.peer_quantile)
        self.drift = GrowthDrift(cfg.drift_min_windows, cfg.drift_delta, cfg.drift_threshold)
        self.scorer = GrowthScorer(cfg.score_window, cfg.max_score_groups)

    # -- keys and state ---------------------------------------------------------------------------

    def keys(self, item: Parsed) -> Iterable[str]:
        if not isinstance(item, ChangeEvent) or item.outcome is not SUCCESS:
            return ()
        actor = principal_key(item.principal)
        keys = list(dict.fromkeys([*(g.grantee for g in item.grants), actor])) if item.grants else [actor]
        return [k for k in keys if not any_match(self.settings.ignore_principals, k)]

    def new_state(self) -> CreepState:
        return CreepState()

    def last_seen(self, state: CreepState) -> datetime | None:
        return None if state.last_seen is None else moment(state.last_seen)

    def deadline(self, state: CreepState) -> datetime | None:
        return None if state.episode is None else moment(state.episode.last_time + self._quiet(state.episode))

    def _quiet(self, episode: Episode) -> float:
        """How long an episode stays open without news: a slow creep's steps are further apart than a run's."""
        slow = not SLOW_SIGNALS.isdisjoint(episode.facts["signals"])
        return self.growth_window if slow else self.window

    def snapshot_models(self) -> dict[str, bytes]:
        return {"peers": self.peers.encode(), "scorer": self.scorer.encode()}

    def restore_model(self, name: str, data: bytes) -> None:
        models: dict[str, PeerBaselines | GrowthScorer] = {"peers": self.peers, "scorer": self.scorer}
        if name not in models:
            super().restore_model(name, data)
        models[name].decode(data)

    def encode_state(self, state: CreepState) -> bytes:
        return orjson.dumps(
            [
                state.first_seen,
                state.last_seen,
                state.first_grant,
                state.privileges,
                state.apis,
                state.grants,
                state.uses,
                state.window_index,
                state.window_count,
                state.baseline.to_list(),
                None if state.episode is None else state.episode.as_json(),
                state.peer_group,
                state.drift.to_list(),
                state.recent.to_list(),
            ]
        )

    def decode_state(self, data: bytes) -> CreepState:
        values = orjson.loads(data)
        values[9] = EWStats.from_list(values[9])
        values[10] = Episode.from_json(values[10])
        values[12] = DriftState.from_list(values[12])
        values[13] = RecentEvents(values[13])
        return CreepState(*values)

    # -- events -----------------------------------------------------------------------------------

    def on_item(self, key: str, state: CreepState, item: Parsed, ctx: DetectionContext) -> Outputs:
        """An event past the open episode's quiet deadline closes it first (the watermark may lag behind)."""
        assert isinstance(item, ChangeEvent)
        out = self.on_watermark(key, state, item.event_time, ctx)
        out.extend(self._step(key, state, item, ctx))
        return out

    def _step(self, key: str, state: CreepState, item: ChangeEvent, ctx: DetectionContext) -> Outputs:
        if state.recent.seen_before(item.event_id, self.settings.remembered_events):
            return Outputs()  # delivered again: its grants and uses are already counted
        at = epoch(item.event_time)
        state.first_seen = at if state.first_seen is None else min(state.first_seen, at)
        state.last_seen = at if state.last_seen is None else max(state.last_seen, at)
        signals: list[str] = []
        grants = [g for g in item.grants if g.grantee == key]
        if state.peer_group is None:
            state.peer_group = peer_group(key, item, grants, ctx)
        self._roll(state, at)
        if grants:
            signals += self._granted(state, grants, item, at, ctx)
        if principal_key(item.principal) == key and self._used(state, item, at):
            signals.append("privileged_first_use")
        return self._judge(key, state, item, at, signals)

    def on_watermark(self, key: str, state: CreepState, watermark: datetime, ctx: DetectionContext) -> Outputs:
        episode = state.episode
        if episode is None or watermark < moment(episode.last_time + self._quiet(episode)):
            return Outputs()
        episode.close()
        state.episode = None
        return self._emit(state, episode, Activity.CLOSE, at=episode.last_time + self._quiet(episode))

    # -- signals ----------------------------------------------------------------------------------

    def _granted(
        self, state: CreepState, grants: list[Grant], event: ChangeEvent, at: float, ctx: DetectionContext
    ) -> list[str]:
        cfg = self.settings
        if state.first_grant is None:
            state.first_grant = at
        provisioning = at - state.first_grant <= cfg.bootstrap.total_seconds()
        authorization = covering_record(event, ctx)
        signals: list[str] = []
        for grant in grants:
            name = digest(grant.privilege)
            if name in state.privileges:
                continue
            state.privileges = [*state.privileges, name][-cfg.max_privileges :]
            if grant.privilege in cfg.admin_privileges:
                signals.append("admin_grant")
            elif grant.privilege in cfg.takeover_privileges:
                signals.append("takeover_grant")
            elif provisioning:
                continue
            record = [at, grant.privilege, event.event_id, authorization, event.principal.uid]
            kept = max(cfg.min_grants, cfg.min_growth) - 1
            state.grants = [g for g in state.grants if at - g[0] <= self.growth_window][-kept:]
            state.grants.append(record)
            state.window_count += 1
        if any(g[0] == at and g[2] == event.event_id for g in state.grants):
            signals += self._growth(state, at)
        return signals

    def _roll(self, state: CreepState, at: float) -> None:
        """On any activity of the principal, fold its finished windows (empty ones as zeros) into its own
        baseline and drift test and its peers' baselines, and its growth profile into its peers' score model,
        so peers learn from every active principal, not only from those gaining power. Flagged windows are
        learned too: the finding has told, and a role whose normal is frequent grants (a CI role) should stop
        alerting once its baseline knows it."""
        cfg = self.settings
        index = int(at // self.window)
        if state.window_index is not None and index > state.window_index:
            empty = min(index - state.window_index - 1, MAX_WINDOWS_FOLDED)
            counts = [state.window_count, *[0] * empty]
            for count in counts:
                state.baseline.update(count, cfg.fading_factor)
                self.peers.learn(f"{state.peer_group}/window", count)
            self.drift.update(state.drift, *counts)
            grown = sum(1 for g in state.grants if at - g[0] <= self.growth_window)
            self.peers.learn(f"{state.peer_group}/growth", grown)
            self.scorer.learn(str(state.peer_group), self._profile(state, at))
            state.window_count = 0
        if state.window_index is None or index > state.window_index:
            state.window_index = index

    def _growth(self, state: CreepState, at: float) -> list[str]:
        cfg = self.settings
        in_window = sum(1 for g in state.grants if at - g[0] <= self.window)
        in_growth = len(state.grants)
        own = state.baseline
        beyond_self = own.n < cfg.warmup_windows or own.z(in_window, cfg.min_std) >= cfg.z_threshold
        signals = []
        if in_window >= cfg.min_grants and beyond_self and self._beyond_peers(state, "window", in_window):
            signals.append("grant_run")
        # A slow creep would teach its own baseline that it is normal: growth is judged by the floor and peers.
        if in_growth >= cfg.min_growth and self._beyond_peers(state, "growth", in_growth):
            signals.append("steady_growth")
        drifted = in_growth >= cfg.drift_min_growth and self.drift.probe(state.drift, state.window_count)[0]
        if drifted and self._beyond_peers(state, "growth", in_growth):
            signals.append("growth_drift")
        return signals

    def _beyond_peers(self, state: CreepState, horizon: str, count: int) -> bool:
        """Whether `count` new privileges exceed what the principal's peers usually gain over the same horizon."""
        usual = self.peers.usual(f"{state.peer_group}/{horizon}", self.settings.peer_warmup)
        return usual is None or count > usual

    def _used(self, state: CreepState, event: ChangeEvent, at: float) -> bool:
        cfg = self.settings
        weight = self._weight(event.action)
        if weight == 0.0:
            return False
        name = digest(event.action)
        if name in state.apis:
            return False
        state.apis = [*state.apis, name][-cfg.max_privileges :]
        assert state.first_seen is not None
        if at - state.first_seen < cfg.min_history.total_seconds():
            return False  # still learning what this principal normally calls
        state.uses = [
            *[u for u in state.uses if at - u[0] <= self.window][-8:],
            [at, event.action, weight, event.event_id],
        ]
        return sum(float(u[2]) for u in state.uses) >= cfg.sensitive_threshold

    def _profile(self, state: CreepState, at: float) -> dict[str, float]:
        """The growth profile the score model judges, as of `at`."""
        grown = [g[0] for g in state.grants if at - g[0] <= self.growth_window]
        before = [g[0] for g in state.grants if g[0] < at]
        quiet = min(at - max(before), self.growth_window) if before else self.growth_window
        return profile(
            new_in_window=sum(1 for t in grown if at - t <= self.window),
            new_in_growth_window=len(grown),
            growth_ratio=len(grown) / max(len(state.privileges), 1),
            sensitive_weight=sum(float(u[2]) for u in state.uses if at - u[0] <= self.window),
            quiet_hours=quiet / 3600,
        )

    def _sensitivity(self, action: str) -> float:
        """The highest weight any `sensitive_apis` glob gives the action; 0 when none names it."""
        table = self.settings.sensitive_apis
        return max((w for pattern, w in table.items() if any_match((pattern,), action, ignore_case=True)), default=0.0)

    # -- findings ---------------------------------------------------------------------------------

    def _judge(self, key: str, state: CreepState, event: ChangeEvent, at: float, signals: list[str]) -> Outputs:
        """Open or grow the episode; each event in it is scored, and the episode keeps its highest score."""
        episode = state.episode
        contributes = any(g[2] == event.event_id for g in state.grants) or any(
            u[3] == event.event_id for u in state.uses
        )
        if (episode is None and not signals) or (episode is not None and not contributes):
            return Outputs()
        score = self.scorer.score(str(state.peer_group), self._profile(state, at))
        if episode is not None:
            remember(episode.facts["related"], event.event_id)
            known = set(episode.facts["signals"])
            fresh = [s for s in dict.fromkeys(signals) if s not in known]
            episode.facts["signals"] = [*episode.facts["signals"], *fresh]
            kept = episode.facts.get("score")  # episodes opened before the score existed have none
            highest = highest_score(kept, score)
            raised = self._unusual(highest) and not self._unusual(kept)
            episode.facts["score"] = highest
            if episode.grow(at, episode.count + 1, force=bool(fresh) or raised):
                return self._emit(state, episode, Activity.UPDATE)
            return Outputs()
        count = max(1, sum(1 for g in state.grants if at - g[0] <= self.window))
        state.episode = episode = Episode.open(key, event.event_id, at, count=count)
        episode.facts = {
            "principal": key,
            "action": event.action,
            "resources": [key],
            "environment": event.environment,
            "source": event.source.value,
            "account": event.scope.account,
            "region": event.scope.region,
            "related": [event.event_id],
            "signals": list(dict.fromkeys(signals)),
            "score": highest_score(None, score),
        }
        return self._emit(state, episode, Activity.CREATE)

    def _unusual(self, score: float | None) -> bool:
        return score is not None and score >= self.settings.score_threshold

    def _emit(self, state: CreepState, episode: Episode, activity: Activity, at: float | None = None) -> Outputs:
        cfg = self.settings
        signals = episode.facts["signals"]
        when = episode.last_time if at is None else at
        since = episode.first_seen - self._quiet(episode)
        grants = [g for g in state.grants if g[0] >= since]
        uses = [u for u in state.uses if u[0] >= since]
        authorized = sorted({g[3] for g in grants if g[3]})
        approved = bool(grants) and all(g[3] for g in grants)
        score = episode.facts.get("score")
        severity = max(SIGNAL_SEVERITY[s] for s in signals)
        if sum(u[2] for u in uses) >= 2 * cfg.sensitive_threshold or (self._unusual(score) and not approved):
            severity = max(severity, Severity.HIGH)
        if approved:
            severity = Severity(max(int(severity) - 1, int(Severity.LOW)))
        in_window = sum(1 for g in grants if when - g[0] <= self.window)
        peers = self.peers.usual(f"{state.peer_group}/window", cfg.peer_warmup)
        peers_growth = self.peers.usual(f"{state.peer_group}/growth", cfg.peer_warmup)
        baseline = {
            "new_grants_per_window": round(state.baseline.mean, 4),
            "std": round(state.baseline.std(cfg.min_std), 4),
            "windows_seen": state.baseline.n,
            "warm": state.baseline.n >= cfg.warmup_windows,
            "privileges_held": len(state.privileges),
            "peer_group": state.peer_group,
            "peer_quantile": cfg.peer_quantile,
            "peer_new_grants_per_window": None if peers is None else round(peers, 4),
            "peer_new_grants_per_growth_window": None if peers_growth is None else round(peers_growth, 4),
        }
        z = round(state.baseline.z(in_window, cfg.min_std), 4)
        own = {"new_grants": in_window, "z": z}
        alarm, statistic = self.drift.probe(state.drift, state.window_count)
        drift_observed = {
            "new_grants_in_open_window": state.window_count,
            "statistic": round(statistic, 4),
            "drift": alarm,
        }
        drift_baseline = {
            "new_grants_per_window": round(state.drift.mean, 4),
            "windows_seen": state.drift.n,
            "threshold": cfg.drift_threshold,
            "delta": cfg.drift_delta,
            "min_windows": cfg.drift_min_windows,
            "min_growth": cfg.drift_min_growth,
        }
        now = self._profile(state, when)
        growth: dict[str, Any] = {name: round(value, 4) for name, value in now.items()}
        growth["score"] = highest_score(None, self.scorer.score(str(state.peer_group), now))
        growth["highest_score"] = score
        score_baseline = {**self.scorer.baseline(str(state.peer_group)), "threshold": cfg.score_threshold}
        subject = episode.subject
        message = f"Permission creep on {subject}: {', '.join(signals)} ({len(grants)} new privileges"
        message += f", {len(uses)} first uses)" if uses else ")"
        if self._unusual(score):
            message += f", unusual for its peers (score {score:.2f})"
        if activity is Activity.CLOSE:
            message = f"Permission creep on {subject} quiet for {timedelta(seconds=self._quiet(episode))}"
        spec = episode.spec(
            FINDING,
            FINDING,
            activity,
            severity,
            message,
            at=at,
            evidence={
                "signal": signals,
                "observed": {"new_grants_in_window": in_window, "new_grants_in_growth_window": len(grants)},
                "baseline": baseline,
                "drift": {"observed": drift_observed, "baseline": drift_baseline},
                "growth_profile": {"observed": growth, "baseline": score_baseline},
                "threshold": {
                    "min_grants": cfg.min_grants,
                    "window_seconds": self.window,
                    "min_growth": cfg.min_growth,
                    "growth_window_seconds": self.growth_window,
                    "z_threshold": cfg.z_threshold,
                    "sensitive_threshold": cfg.sensitive_threshold,
                    "drift_threshold": cfg.drift_threshold,
                    "drift_min_growth": cfg.drift_min_growth,
                    "score_threshold": cfg.score_threshold,
                },
                "model_score": {"z": z, "drift_statistic": round(statistic, 4), "growth_score": growth["score"]},
                "grants": [
                    {
                        "time": moment(g[0]).isoformat(),
                        "privilege": g[1],
                        "event_id": g[2],
                        "authorization": g[3],
                        "granted_by": g[4],
                    }
                    for g in grants
                ],
                "first_uses": [{"time": moment(u[0]).isoformat(), "api": u[1], "weight": u[2]} for u in uses],
                "authorized_by": authorized,
            },
            anomaly_analyses=(
                analysis(subject, "principal", "new_privileges_per_window", own, baseline),
                analysis(subject, "principal", "growth_drift", drift_observed, drift_baseline),
                analysis(subject, "principal", "growth_profile", growth, score_baseline),
            ),
        )
        spec.unmapped = {"signals": signals, "grantee": subject, "authorized_by": authorized, "count": episode.count}
        return Outputs(findings=[spec.build()])


def highest_score(kept: float | None, score: float | None) -> float | None:
    """The higher of an episode's kept score and a new one, rounded as kept; None while the model is warming.

    >>> highest_score(None, 0.91234567), highest_score(0.9, 0.5), highest_score(None, None)
    (0.9123, 0.9, None)
    """
    scores = [s for s in (kept, score) if s is not None]
    return round(max(scores), 4) if scores else None


def peer_group(key: str, event: ChangeEvent, grants: list[Grant], ctx: DetectionContext) -> str:
    """A principal's peers: the registry workflow it runs as, else its kind (as first seen: grantee or actor)."""
    if grants:
        workflow, kind = ctx.registry.workflow_for((key,)), grants[0].grantee_kind
    else:
        workflow, kind = ctx.registry.workflow_for(event.principal.identities()), event.principal.kind
    return f"workflow:{workflow.name}" if workflow else f"kind:{kind.value}"


def covering_record(event: ChangeEvent, ctx: DetectionContext) -> str | None:
    """The first authorization record in force that covers the granting change: principal, action,
    resources, environment and a fixed window (recurring windows are left to the authorization judge)."""
    at = event.event_time
    for row in ctx.authorizations.open_rows(event.principal.identities(), at.timestamp(), 0.0):
        if row.record.status_at(at) is AuthStatus.APPROVED and _covers(row.record, event, at):
            return row.id
    return None


def _covers(record: AuthorizationRecord, event: ChangeEvent, at: datetime) -> bool:
    targets = (*event.resources, *(g.grantee for g in event.grants))
    window = record.window
    return (
        any_match(record.actions, event.action, ignore_case=True)
        and any(any_match(record.resources, t) for t in targets or ("",))
        and any_match(record.environments, event.environment)
        and (window is None or (isinstance(window, FixedWindow) and window.start <= at <= window.end))
    )

"""Learned models of privilege growth for permission_creep: drift per principal, an anomaly score per peer group.

`GrowthDrift` runs river's Page-Hinkley test (`drift.PageHinkley`, mode "up") over one principal's series of
new privileges per window: it alarms when the series' cumulative rise above its running mean passes a
threshold, i.e. when a principal starts gaining privileges faster than it used to. river's detector pickles to
about 400 bytes and ADWIN (which also checks only every 32 values) to about 900, while the test's state is four
numbers; so each principal keeps a `DriftState` and one shared detector is loaded with it for every update.

>>> model = GrowthDrift(min_windows=3, delta=0.1, threshold=1.5)
>>> stable, growing = DriftState(), DriftState()
>>> [model.update(stable, count) for count in [1, 1, 1, 1, 1, 1]]
[False, False, False, False, False, False]
>>> [model.update(growing, count) for count in [0, 0, 0, 1, 1, 1]]
[False, False, False, False, False, True]

`GrowthScorer` scores a principal's growth profile (`FEATURES`) against its peer group's: river's
`StandardScaler` then `HalfSpaceTrees`, one pipeline per group, learned from every principal-window of the
group. A few global models, bounded by `max_groups`; they round-trip through `encode` and `decode` as JSON (a
worker reads them back from a topic others can write, so never a pickle).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import orjson
from river import anomaly, compose, drift, preprocessing

from detectors.snapshot import SnapshotError, expect, loads

FEATURES = ("new_in_window", "new_in_growth_window", "growth_ratio", "sensitive_weight", "quiet_hours")
SCALED_LIMIT = 3.0  # standardised features beyond this many std share the trees' outermost cells
SHARED_GROUP = "*"


@dataclass
class DriftState:
    """river `PageHinkley`'s state in four numbers: windows seen, their mean, the cumulative rise and its minimum."""

    n: int = 0
    mean: float = 0.0
    rise: float = 0.0
    low: float = 0.0

    def to_list(self) -> list[float]:
        return [self.n, self.mean, self.rise, self.low]

    @classmethod
    def from_list(cls, data: list[float]) -> DriftState:
        return cls(int(data[0]), float(data[1]), float(data[2]), float(data[3]))


class GrowthDrift:
    """Page-Hinkley drift (river's, mode "up") on per-key series whose state lives in `DriftState`s.

    `update` learns a finished window and, as river does after an alarm, restarts the test from the next one;
    `probe` asks whether the window still open would alarm if it closed now. The test only rises with the
    value, so a probe that alarms is an alarm the window's close cannot take back.

    >>> model, state = GrowthDrift(min_windows=3, delta=0.1, threshold=1.5), DriftState()
    >>> model.update(state, 0, 0, 0, 1)
    False
    >>> model.probe(state, 0)[0], model.probe(state, 2)[0]
    (False, True)
    """

    def __init__(self, min_windows: int, delta: float, threshold: float) -> None:
        self.detector: Any = drift.PageHinkley(min_instances=min_windows, delta=delta, threshold=threshold, mode="up")

    def _load(self, state: DriftState) -> Any:
        detector = self.detector
        detector._reset()
        if state.n:
            detector._x_mean.n, detector._x_mean._mean = state.n, state.mean
            detector._sum_increase, detector._min_increase = state.rise, state.low
        return detector

    def update(self, state: DriftState, *counts: float) -> bool:
        """Learn finished windows' counts in order; True when the test alarmed on one (it then restarts)."""
        detector = self._load(state)
        alarmed = False
        for count in counts:
            detector.update(count)
            alarmed = alarmed or detector.drift_detected
        if detector.drift_detected:
            state.n, state.mean, state.rise, state.low = 0, 0.0, 0.0, 0.0
        else:
            state.n, state.mean = int(detector._x_mean.n), detector._x_mean.get()
            state.rise, state.low = detector._sum_increase, detector._min_increase
        return alarmed

    def probe(self, state: DriftState, count: float) -> tuple[bool, float]:
        """Whether the open window's `count` so far would alarm, and the test's statistic; `state` is unchanged."""
        detector = self._load(state)
        detector.update(count)
        return detector.drift_detected, detector._sum_increase - detector._min_increase


class GrowthScorer:
    """Global: per peer group, how unusual a growth profile is, in [0, 1] (high is unusual).

    Each group has river's `StandardScaler | HalfSpaceTrees`: the scaler centres every feature on the group's
    mean in units of its std, and the trees (limits of +-`SCALED_LIMIT` std) score how little of the group's
    latest `window_size` principal-windows lies near the profile. No score before a group's first window is
    full. Groups beyond `max_groups` share one model.

    >>> scorer = GrowthScorer(window_size=40, max_groups=4, seed=1)
    >>> for k in range(80):
    ...     scorer.learn("kind:machine", profile(k % 2, k % 3, 0.1 * (k % 2), 0.0, 100.0 + k))
    >>> usual = scorer.score("kind:machine", profile(1, 1, 0.1, 0.0, 150.0))
    >>> unusual = scorer.score("kind:machine", profile(6, 9, 1.0, 2.0, 1.0))
    >>> unusual > usual, scorer.score("kind:human", profile(6, 9, 1.0, 2.0, 1.0))
    (True, None)
    """

    def __init__(self, window_size: int, max_groups: int, seed: int = 42) -> None:
        self.window_size = window_size
        self.max_groups = max_groups
        self.seed = seed
        self.models: dict[str, compose.Pipeline] = {}
        self.counts: dict[str, int] = {}

    def _new_model(self) -> compose.Pipeline:
        trees = anomaly.HalfSpaceTrees(
            n_trees=10,
            height=6,
            window_size=self.window_size,
            limits=dict.fromkeys(FEATURES, (-SCALED_LIMIT, SCALED_LIMIT)),
            seed=self.seed,
        )
        return preprocessing.StandardScaler() | trees

    def _name(self, group: str) -> str:
        return group if group in self.models or len(self.models) < self.max_groups else SHARED_GROUP

    def learn(self, group: str, x: dict[str, float]) -> None:
        name = self._name(group)
        if name not in self.models:
            self.models[name] = self._new_model()
        self.models[name].learn_one(x)
        self.counts[name] = self.counts.get(name, 0) + 1

    def score(self, group: str, x: dict[str, float]) -> float | None:
        """The profile's anomaly score against its group, once the group has `window_size` samples."""
        name = self._name(group)
        if self.counts.get(name, 0) < self.window_size:
            return None
        return float(self.models[name].score_one(x))

    def baseline(self, group: str) -> dict[str, Any]:
        """What the group's scaler learned: samples, and each feature's mean and std."""
        name = self._name(group)
        summary: dict[str, Any] = {"score_group": name, "samples": self.counts.get(name, 0)}
        if name in self.models:
            scaler = self.models[name].steps["StandardScaler"]
            for feature in FEATURES:
                summary[f"{feature}_mean"] = round(scaler.means[feature], 4)
                summary[f"{feature}_std"] = round(math.sqrt(scaler.vars[feature]), 4)
        return summary

    def encode(self) -> bytes:
        """Per group: samples, the scaler's count, mean and variance per feature, and the trees' masses. The trees'
        shape is not written: the seed rebuilds it, and a digest of it says whether it did."""
        groups = {}
        for name, model in self.models.items():
            scaler, trees = model.steps["StandardScaler"], model.steps["HalfSpaceTrees"]
            groups[name] = {
                "samples": self.counts.get(name, 0),
                "scaler": {f: [scaler.counts[f], scaler.means[f], scaler.vars[f]] for f in FEATURES},
                "counter": trees.counter,
                "first_window": trees._first_window,
                "shape": _shape(trees),
                "masses": [[[node.l_mass, node.r_mass] for node in nodes] for nodes in trees._tree_nodes],
            }
        return orjson.dumps({"window_size": self.window_size, "seed": self.seed, "groups": groups})

    def decode(self, data: bytes) -> None:
        """Replace the models with `encode`'s output; a snapshot that does not fit these settings raises
        `SnapshotError` and changes nothing."""
        snapshot = expect(loads(data), dict, "snapshot")
        if (snapshot.get("window_size"), snapshot.get("seed")) != (self.window_size, self.seed):
            raise SnapshotError("the score models were learned with another window size or seed")
        models: dict[str, compose.Pipeline] = {}
        counts: dict[str, int] = {}
        for name, group in expect(snapshot.get("groups"), dict, "groups").items():
            if len(models) == self.max_groups + 1:
                raise SnapshotError("more score groups than max_score_groups")
            models[name] = self._restored_model(expect(group, dict, name))
            counts[name] = expect(group.get("samples"), int, "samples")
        self.models, self.counts = models, counts

    def _restored_model(self, group: dict[str, Any]) -> compose.Pipeline:
        model = self._new_model()
        scaler, trees = model.steps["StandardScaler"], model.steps["HalfSpaceTrees"]
        scaled = expect(group.get("scaler"), dict, "scaler")
        for feature in FEATURES:
            count, mean, var = expect(scaled.get(feature), list, feature, length=3)
            scaler.counts[feature] = expect(count, int, feature)
            scaler.means[feature] = expect(mean, float, feature)
            scaler.vars[feature] = expect(var, float, feature)
        trees.learn_one(dict.fromkeys(FEATURES, 0.0))  # builds the trees from the seed; every mass is set below
        if group.get("shape") != _shape(trees):
            raise SnapshotError("the score trees' shape differs from the one this seed builds")
        masses = expect(group.get("masses"), list, "masses", length=len(trees._tree_nodes))
        for nodes, saved in zip(trees._tree_nodes, masses, strict=True):
            for node, pair in zip(nodes, expect(saved, list, "masses", length=len(nodes)), strict=True):
                node.l_mass, node.r_mass = (expect(m, int, "mass") for m in expect(pair, list, "masses", length=2))
        trees.counter = expect(group.get("counter"), int, "counter")
        trees._first_window = expect(group.get("first_window"), bool, "first_window")
        return model


def _shape(trees: anomaly.HalfSpaceTrees) -> str:
    """A digest of the trees' splits (feature and threshold of every branch, in depth-first order)."""
    nodes = [node for tree in trees._tree_nodes for node in tree]
    splits = [[getattr(node, "feature", None), getattr(node, "threshold", None)] for node in nodes]
    return hashlib.sha256(orjson.dumps(splits)).hexdigest()[:32]


def profile(
    new_in_window: float, new_in_growth_window: float, growth_ratio: float, sensitive_weight: float, quiet_hours: float
) -> dict[str, float]:
    """A growth profile: new privileges in the window and the growth window, their share of what is held, the
    weight of first uses of sensitive APIs in the window, and the hours without a new privilege before it."""
    values = (new_in_window, new_in_growth_window, growth_ratio, sensitive_weight, quiet_hours)
    return {name: float(value) for name, value in zip(FEATURES, values, strict=True)}

"""A detector restored from bytes gives the same next outputs as one that never stopped."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.creep import PermissionCreepDetector
from detectors.engine import Engine
from detectors.evaluation import detectors_for
from detectors.loops import RemediationLoopDetector
from detectors.scenario import evaluation_scenario
from models.authorization import AuthorizationRecord
from models.config import OpswardenConfig
from models.parsers.base import Parsed


@pytest.fixture(scope="module")
def scenario() -> list[Parsed]:
    return evaluation_scenario(seed=5, size=1)[0]


def wire(outputs: list[Any]) -> list[dict[str, Any]]:
    return [finding.model_dump_ocsf() for finding in outputs]


def restored(engine: Engine, config: OpswardenConfig) -> Engine:
    """A new engine with new detectors whose every state (per key, and the global models) went through bytes,
    as a worker restart would."""
    detectors = detectors_for(config)
    stores: dict[str, Any] = {}
    for old, new in zip(engine.detectors, detectors, strict=True):
        stores[new.name] = {
            key: new.decode_state(old.encode_state(state)) for key, state in engine.stores[old.name].items()
        }
        if isinstance(old, RemediationLoopDetector) and isinstance(new, RemediationLoopDetector):
            new.fanout.decode(old.fanout.encode())
        if isinstance(old, PermissionCreepDetector) and isinstance(new, PermissionCreepDetector):
            new.peers.decode(old.peers.encode())
            new.scorer.decode(old.scorer.encode())
    clone = Engine(config, detectors, stores=stores)
    for record in engine.context.authorizations:
        clone.context.authorizations.upsert(record)
    clone.context.watermark = engine.context.watermark
    clone.max_event_time = engine.max_event_time
    clone._next_sweep = dict(engine._next_sweep)  # the runtime keeps its sweep clock beside the tables
    return clone


@pytest.mark.parametrize("split", [0.3, 0.55, 0.8])
def test_restored_detectors_continue_exactly_like_uninterrupted_ones(scenario: list[Parsed], split: float) -> None:
    config = OpswardenConfig()
    cut = int(len(scenario) * split)
    steady = Engine(config, detectors_for(config))
    stopped = Engine(config, detectors_for(config))
    for item in scenario[:cut]:
        steady.process(item)
        stopped.process(item)
    creep = next(d for d in stopped.detectors if isinstance(d, PermissionCreepDetector))
    assert any(state.drift.n for state in stopped.stores[creep.name].values()), "drift tests learned before the stop"
    assert sum(creep.scorer.counts.values()) > 0, "the growth score models learned before the stop"
    resumed = restored(stopped, config)
    expected, got = [], []
    for item in scenario[cut:]:
        expected += steady.process(item).findings
        got += resumed.process(item).findings
    expected += steady.flush().findings
    got += resumed.flush().findings
    assert expected, "the tail of the scenario must produce findings for this test to mean anything"
    scored = [f for f in expected if f.finding_type == "permission_creep" and growth_score(f) is not None]
    assert scored, "the tail must carry growth scores for the restored score models to be compared"
    assert wire(got) == wire(expected)


def growth_score(finding: Any) -> float | None:
    return (finding.evidences[0].data or {})["model_score"]["growth_score"]


def test_every_state_survives_bytes_unchanged(scenario: list[Parsed]) -> None:
    config = OpswardenConfig()
    engine = Engine(config, detectors_for(config))
    for item in scenario:
        engine.process(item)
    for detector in engine.detectors:
        states = engine.stores[detector.name]
        assert states
        for state in states.values():
            data = detector.encode_state(state)
            assert detector.decode_state(data) == state
            assert detector.encode_state(detector.decode_state(data)) == data


def test_bytes_per_tracked_principal_stay_under_two_kib(scenario: list[Parsed]) -> None:
    config = OpswardenConfig()
    engine = Engine(config, detectors_for(config))
    for item in scenario:
        if not isinstance(item, AuthorizationRecord):
            engine.process(item)
    per_principal: dict[str, int] = {}
    for detector in engine.detectors:
        if detector.key_kind.value != "principal":
            continue
        for key, state in engine.stores[detector.name].items():
            per_principal[key] = per_principal.get(key, 0) + len(detector.encode_state(state))
    mean = sum(per_principal.values()) / len(per_principal)
    assert mean < 2048
    assert max(per_principal.values()) < 4096

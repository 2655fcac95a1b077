"""A detector restored from bytes gives the same next outputs as one that never stopped."""

from __future__ import annotations

from typing import Any

import pytest

from detectors.creep import PermissionCreepDetector
from detectors.engine import Engine
from detectors.evaluation import detectors_for
from detectors.scenario import evaluation_scenario
from models.authorization import AuthorizationRecord
from models.config import OpswardenConfig
from models.parsers.base import Parsed
from tests.detectors.builders import restarted


@pytest.fixture(scope="module")
def scenario() -> list[Parsed]:
    return evaluation_scenario(seed=5, size=1)[0]


def wire(outputs: list[Any]) -> list[dict[str, Any]]:
    return [finding.model_dump_ocsf() for finding in outputs]


def resumed_at(scenario: list[Parsed], split: float, *, models: bool = True) -> tuple[list[Any], list[Any]]:
    """The findings after `split` of the scenario from an engine that never stopped, and from one restored there."""
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
    resumed = restarted(stopped, config, detectors_for, models=models)
    expected, got = [], []
    for item in scenario[cut:]:
        expected += steady.process(item).findings
        got += resumed.process(item).findings
    expected += steady.flush().findings
    got += resumed.flush().findings
    assert expected, "the tail of the scenario must produce findings for this test to mean anything"
    return expected, got


@pytest.mark.parametrize("split", [0.3, 0.55, 0.8])
def test_restored_detectors_continue_exactly_like_uninterrupted_ones(scenario: list[Parsed], split: float) -> None:
    expected, got = resumed_at(scenario, split)
    scored = [f for f in expected if f.finding_type == "permission_creep" and growth_score(f) is not None]
    assert scored, "the tail must carry growth scores for the restored score models to be compared"
    assert wire(got) == wire(expected)


def test_without_their_global_models_restored_detectors_judge_differently(scenario: list[Parsed]) -> None:
    """What `snapshot_models` carries matters: the same restart, models left out, changes creep's findings (the
    fan-out's part is shown in `test_loops`)."""
    expected, got = resumed_at(scenario, 0.55, models=False)

    def by_type(findings: list[Any], kind: str) -> list[dict[str, Any]]:
        return wire([f for f in findings if f.finding_type == kind])

    assert by_type(got, "permission_creep") != by_type(expected, "permission_creep")
    assert by_type(got, "activity_anomaly") == by_type(expected, "activity_anomaly")  # it has no global model


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

"""Global models' snapshots: JSON that restores a model exactly, and anything else refused with the model unchanged.

A worker reads snapshots back from a Kafka topic that others can write to, so they are untrusted input: a
snapshot that is not what this version and configuration of the model writes raises `SnapshotError`.
"""

from __future__ import annotations

import doctest
import pickle
import random
from collections.abc import Callable

import orjson
import pytest

from detectors import snapshot
from detectors.catalog import build_detectors
from detectors.creep import PeerBaselines, PermissionCreepDetector
from detectors.growth import GrowthScorer, profile
from detectors.loops import FanOut, RemediationLoopDetector
from detectors.snapshot import SnapshotError
from models.config import OpswardenConfig


def test_docstring_examples() -> None:
    assert doctest.testmod(snapshot).failed == 0


def learned_peers(seed: int = 1) -> PeerBaselines:
    rng = random.Random(seed)
    peers = PeerBaselines(quantile=0.9)
    for k in range(400):
        peers.learn(f"kind:{k % 3}/window", rng.choice([0, 0, 1, 1, 2, 3, 9]))
    peers.learn("kind:rare/window", 4)  # a group with fewer samples than P² has markers
    return peers


def learned_scorer(seed: int = 1) -> GrowthScorer:
    rng = random.Random(seed)
    scorer = GrowthScorer(window_size=25, max_groups=2)
    for k in range(130):  # past a window swap in every group, the third group shared
        scorer.learn(f"workflow:wf-{k % 3}", profile(rng.randint(0, 2), rng.randint(0, 3), rng.random(), 0.0, 50.0))
    return scorer


def learned_fanout(seed: int = 0) -> FanOut:
    fan = FanOut(window=3600.0, cap=40, max_series=100)
    for i in range(30):
        fan.add("patcher", "patch", f"host-{i}", 5000.0 + 10 * i + seed)
    fan.add("patcher", "reboot", "host-1", 10.0)  # an hour before the newest: nothing left to count
    return fan


def test_peer_quantiles_continue_exactly_after_a_round_trip() -> None:
    peers = learned_peers()
    restored = PeerBaselines(quantile=0.9)
    restored.decode(peers.encode())
    assert restored.encode() == peers.encode()
    rng = random.Random(2)
    for _ in range(200):
        count = rng.randint(0, 12)
        for model in (peers, restored):
            model.learn("kind:1/window", count)
            model.learn("kind:rare/window", count)
    for group in ("kind:0/window", "kind:1/window", "kind:rare/window", "kind:none/window"):
        assert restored.usual(group, warmup=1) == peers.usual(group, warmup=1)


def test_score_models_continue_exactly_after_a_round_trip() -> None:
    scorer = learned_scorer()
    restored = GrowthScorer(window_size=25, max_groups=2)
    restored.decode(scorer.encode())
    assert restored.encode() == scorer.encode()
    rng = random.Random(3)
    probes = [profile(rng.randint(0, 5), rng.randint(0, 6), rng.random(), 0.5, rng.uniform(1, 168)) for _ in range(40)]
    for x in probes[:30]:  # across the next window swap
        for model in (scorer, restored):
            model.learn("workflow:wf-1", x)
            model.learn("workflow:wf-7", x)
    for group in ("workflow:wf-0", "workflow:wf-1", "workflow:wf-7"):
        assert [restored.score(group, x) for x in probes] == [scorer.score(group, x) for x in probes]
        assert restored.baseline(group) == scorer.baseline(group)


def test_the_fan_out_keeps_what_can_still_count() -> None:
    fan = learned_fanout()
    data = fan.encode(latest=10)
    assert set(orjson.loads(data)["series"]) == {"patcher\x1fpatch"}  # the reboot is a window old
    restored = FanOut(window=3600.0, cap=40, max_series=100)
    restored.decode(data)
    for at in (5300.0, 8800.0, 8810.0, 9000.0):  # ten targets within the window until 8800
        assert (restored.targets("patcher", "patch", at) >= 10) is (fan.targets("patcher", "patch", at) >= 10)
    for model in (fan, restored):
        model.add("patcher", "patch", "host-29", 8000.0)
        model.add("patcher", "patch", "host-99", 8100.0)
    for at in (8805.0, 8815.0, 11_610.0):
        assert (restored.targets("patcher", "patch", at) >= 10) is (fan.targets("patcher", "patch", at) >= 10)


def wave_part(targets: range, at: float) -> FanOut:
    fan = FanOut(window=3600.0, cap=40, max_series=100)
    for i in targets:
        fan.add("patcher", "patch", f"host-{i}", at + i)
    return fan


def test_merging_fan_outs_is_a_union_where_each_targets_latest_time_wins_in_any_order() -> None:
    first, second = wave_part(range(6), 1000.0), wave_part(range(4, 12), 2000.0)  # hosts 4 and 5 in both
    first_snapshot, second_snapshot = first.encode(), second.encode()
    first.merge(second_snapshot)
    second.merge(first_snapshot)
    assert first.encode() == second.encode()
    assert first.targets("patcher", "patch", 2100.0) == 12
    assert first.targets("patcher", "patch", 1005.0 + 3600.0) == 8  # hosts 0-3 left the window; 4 and 5 at 2000 s
    again = first.encode()
    first.merge(second_snapshot)
    first.merge(again)
    assert first.encode() == again


def test_a_merged_fan_out_stays_within_its_bounds_and_refuses_what_does_not_fit() -> None:
    fan = FanOut(window=3600.0, cap=8, max_series=3)
    other = FanOut(window=3600.0, cap=40, max_series=100)
    for k in range(5):
        for i in range(20):
            other.add(f"bot-{k}", "patch", f"host-{i}", 100.0 * k + i)
    fan.merge(other.encode())
    assert len(fan.recent) <= 3
    assert all(len(seen) == 8 for seen in fan.recent.values())
    before = fan.encode()
    with pytest.raises(SnapshotError):
        fan.merge(edited(other.encode(), lambda v: v.update(window=60.0)))
    assert fan.encode() == before


def test_detectors_snapshot_their_global_models_by_name() -> None:
    config = OpswardenConfig()
    names = {d.name: set(d.snapshot_models()) for d in build_detectors(config)}
    assert names == {
        "authorization": set(),
        "remediation_loop": {"fanout"},
        "permission_creep": {"peers", "scorer"},
        "activity_anomaly": set(),
    }
    with pytest.raises(SnapshotError, match="no model"):
        PermissionCreepDetector(config).restore_model("fanout", learned_fanout().encode())
    with pytest.raises(SnapshotError, match="no model"):
        RemediationLoopDetector(config).restore_model("peers", learned_peers().encode())


class Exploit:
    """What a pickle could do when loaded: run anything."""

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
        return (print, ("pickle ran",))


def edited(data: bytes, change: Callable[[dict], None]) -> bytes:
    value = orjson.loads(data)
    change(value)
    return orjson.dumps(value)


def first_group(value: dict) -> dict | list:
    return next(iter(value["groups"].values()))


BAD_PEERS = {
    "pickle": lambda data: pickle.dumps(Exploit()),
    "not json": lambda data: data[:-5],
    "another quantile": lambda data: edited(data, lambda v: v.update(quantile=0.5)),
    "state too short": lambda data: edited(data, lambda v: first_group(v)[1].pop()),
    "markers filled beyond five": lambda data: edited(data, lambda v: first_group(v)[1].__setitem__(21, 9)),
    "started flag not a bool": lambda data: edited(data, lambda v: first_group(v)[1].__setitem__(22, 7)),
    "a marker not a number": lambda data: edited(data, lambda v: first_group(v)[1].__setitem__(3, "x")),
    "an infinite marker": lambda data: data.replace(b"[", b"[1e999,", 1),
    "samples not a count": lambda data: edited(data, lambda v: first_group(v).__setitem__(0, True)),
}


def tree_masses(value: dict) -> list:
    return first_group(value)["masses"]  # type: ignore[index]


BAD_SCORES = {
    "pickle": lambda data: pickle.dumps(Exploit()),
    "another window size": lambda data: edited(data, lambda v: v.update(window_size=26)),
    "another seed": lambda data: edited(data, lambda v: v.update(seed=7)),
    "trees of another shape": lambda data: edited(data, lambda v: first_group(v).update(shape="0" * 32)),
    "a tree missing": lambda data: edited(data, lambda v: tree_masses(v).pop()),
    "a node missing": lambda data: edited(data, lambda v: tree_masses(v)[0].pop()),
    "a mass not a count": lambda data: edited(data, lambda v: tree_masses(v)[0][0].__setitem__(0, 1.5)),
    "a feature's statistics missing": lambda data: edited(data, lambda v: first_group(v)["scaler"].pop("quiet_hours")),
    "more groups than allowed": lambda data: edited(
        data, lambda v: v["groups"].update({f"extra-{k}": first_group(v) for k in range(3)})
    ),
}


BAD_FANOUTS = {
    "pickle": lambda data: pickle.dumps(Exploit()),
    "another window": lambda data: edited(data, lambda v: v.update(window=60.0)),
    "a target not a name": lambda data: edited(data, lambda v: v["series"]["patcher\x1fpatch"][0].__setitem__(1, 5)),
    "an entry not a pair": lambda data: edited(data, lambda v: v["series"]["patcher\x1fpatch"][0].pop()),
    "series not a map": lambda data: edited(data, lambda v: v.update(series=[])),
}


LEARNED: dict[str, Callable[[int], PeerBaselines | GrowthScorer | FanOut]] = {
    "peers": learned_peers,
    "scorer": learned_scorer,
    "fanout": learned_fanout,
}
BAD_SNAPSHOTS = {
    **{("peers", case): edit for case, edit in BAD_PEERS.items()},
    **{("scorer", case): edit for case, edit in BAD_SCORES.items()},
    **{("fanout", case): edit for case, edit in BAD_FANOUTS.items()},
}


@pytest.mark.parametrize(("model", "case"), sorted(BAD_SNAPSHOTS))
def test_bad_snapshots_are_refused_unchanged(model: str, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    receiver = LEARNED[model](5)
    before = receiver.encode()
    with pytest.raises(SnapshotError):
        receiver.decode(BAD_SNAPSHOTS[model, case](LEARNED[model](1).encode()))
    assert receiver.encode() == before
    assert "pickle ran" not in capsys.readouterr().out


def test_a_fan_out_snapshot_with_more_series_than_allowed_keeps_the_latest() -> None:
    big = FanOut(window=3600.0, cap=4, max_series=50)
    for k in range(50):
        big.add(f"bot-{k}", "patch", "host", float(k))
    small = FanOut(window=3600.0, cap=4, max_series=10)
    small.decode(big.encode())
    assert len(small.recent) == 10
    assert small.targets("bot-49", "patch", 60.0) == 1
    assert small.targets("bot-0", "patch", 60.0) == 0

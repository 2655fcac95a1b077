"""The global models' topic: what a worker writes, and what its replacement restores before judging anything."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError

from detectors.base import Detector
from detectors.catalog import build_detectors
from detectors.creep import PermissionCreepDetector
from detectors.loops import RemediationLoopDetector
from models.config import OpswardenConfig
from streams import metrics, model_snapshots
from streams.model_snapshots import ModelSnapshots

TOPIC = "opswarden.models"


@dataclass
class Message:
    key: bytes | None
    value: bytes | None
    topic: str = TOPIC
    partition: int = 0
    offset: int = 0


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, str]] = []

    def produce(self, topic: str, value: bytes, key: str, **_: Any) -> None:
        self.sent.append((topic, value, key))


def detectors() -> list[Detector[Any]]:
    return build_detectors(OpswardenConfig())


def learned() -> list[Detector[Any]]:
    """Detectors whose global models learned something: a fan-out wave and peer samples."""
    found = detectors()
    for detector in found:
        if isinstance(detector, RemediationLoopDetector):
            for i in range(12):
                detector.fanout.add("patcher", "patch", f"host-{i}", 100.0 + i)
        if isinstance(detector, PermissionCreepDetector):
            for count in (1, 2, 3, 2, 1):
                detector.peers.learn("kind:machine/window", count)
    return found


def written(snapshots: ModelSnapshots, producer: RecordingProducer) -> dict[str, bytes]:
    producer.sent.clear()
    snapshots.write()
    return {key: value for _topic, value, key in producer.sent}


def first_worker_snapshots() -> dict[str, bytes]:
    """What a first worker (nothing on the topic to restore) writes once its models have learned."""
    producer = RecordingProducer()
    first = ModelSnapshots(learned(), TOPIC, producer)  # type: ignore[arg-type]
    first.restore()
    return written(first, producer)


def count(model: str, outcome: str) -> float:
    return (
        metrics.REGISTRY.get_sample_value("opswarden_model_snapshots_total", {"model": model, "outcome": outcome})
        or 0.0
    )


def test_a_replacement_restores_the_latest_snapshot_of_each_model() -> None:
    first = first_worker_snapshots()
    assert set(first) == {"remediation_loop/fanout", "permission_creep/peers", "permission_creep/scorer"}
    replacement_detectors = detectors()
    replacement = ModelSnapshots(replacement_detectors, TOPIC, RecordingProducer())  # type: ignore[arg-type]
    stale = orjson.dumps({"window": 3600.0, "series": {}})
    replacement.offer(Message(b"remediation_loop/fanout", stale))  # an older snapshot, then the latest
    for key, value in first.items():
        replacement.offer(Message(key.encode(), value))
    before = count("permission_creep/peers", "restored")
    replacement.restore()
    assert count("permission_creep/peers", "restored") == before + 1
    assert {key: data for d in replacement_detectors for key, data in prefixed(d)} == first
    replacement.offer(Message(b"permission_creep/peers", b"{}"))  # read after the restore: its own writes
    assert {key: data for d in replacement_detectors for key, data in prefixed(d)} == first


def prefixed(detector: Detector[Any]) -> list[tuple[str, bytes]]:
    return [(f"{detector.name}/{name}", data) for name, data in detector.snapshot_models().items()]


def test_a_tombstone_or_a_bad_snapshot_leaves_the_model_empty_and_is_counted() -> None:
    first = first_worker_snapshots()
    fresh = {key: data for d in detectors() for key, data in prefixed(d)}
    replacement_detectors = detectors()
    replacement = ModelSnapshots(replacement_detectors, TOPIC, RecordingProducer())  # type: ignore[arg-type]
    for key, value in first.items():
        replacement.offer(Message(key.encode(), value))
    replacement.offer(Message(b"permission_creep/peers", None))  # deleted by an operator
    replacement.offer(Message(b"remediation_loop/fanout", b"\x80\x04not json"))
    replacement.offer(Message(b"retired_detector/model", b"{}"))
    refused = count("remediation_loop/fanout", "refused"), count("retired_detector/model", "refused")
    replacement.restore()
    assert (count("remediation_loop/fanout", "refused"), count("retired_detector/model", "refused")) == (
        refused[0] + 1,
        refused[1] + 1,
    )
    models = {key: data for d in replacement_detectors for key, data in prefixed(d)}
    assert models["permission_creep/peers"] == fresh["permission_creep/peers"]
    assert models["remediation_loop/fanout"] == fresh["remediation_loop/fanout"]
    assert models["permission_creep/scorer"] == first["permission_creep/scorer"]


def test_nothing_is_written_before_the_restore_and_a_model_only_when_it_changed() -> None:
    found = learned()
    producer = RecordingProducer()
    snapshots = ModelSnapshots(found, TOPIC, producer)  # type: ignore[arg-type]
    assert written(snapshots, producer) == {}  # would overwrite the predecessor's with what is not restored yet
    snapshots.restore()
    assert len(written(snapshots, producer)) == 3
    assert written(snapshots, producer) == {}
    creep = next(d for d in found if isinstance(d, PermissionCreepDetector))
    creep.peers.learn("kind:machine/window", 4)
    assert set(written(snapshots, producer)) == {"permission_creep/peers"}


def test_a_restored_model_is_not_written_back_unchanged() -> None:
    first = first_worker_snapshots()
    replacement_producer = RecordingProducer()
    replacement = ModelSnapshots(detectors(), TOPIC, replacement_producer)  # type: ignore[arg-type]
    for key, value in first.items():
        replacement.offer(Message(key.encode(), value))
    replacement.restore()
    assert written(replacement, replacement_producer) == {}


def test_a_snapshot_too_large_for_the_topic_is_not_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_snapshots, "MAX_SNAPSHOT_BYTES", 200)
    producer = RecordingProducer()
    snapshots = ModelSnapshots(learned(), TOPIC, producer)  # type: ignore[arg-type]
    snapshots.restore()
    before = count("remediation_loop/fanout", "too_large")
    sent = written(snapshots, producer)
    assert all(len(value) <= 200 for value in sent.values())
    assert set(sent) == {"permission_creep/peers", "permission_creep/scorer"}
    assert count("remediation_loop/fanout", "too_large") == before + 1


def test_a_running_worker_merges_other_workers_fan_outs_and_leaves_the_other_models() -> None:
    theirs = first_worker_snapshots()
    found = detectors()
    running = ModelSnapshots(found, TOPIC, RecordingProducer())  # type: ignore[arg-type]
    running.restore()
    empty = {key: data for d in found for key, data in prefixed(d)}
    merged = count("remediation_loop/fanout", "merged")
    for key, value in theirs.items():
        running.offer(Message(key.encode(), value))
    assert count("remediation_loop/fanout", "merged") == merged + 1
    now = {key: data for d in found for key, data in prefixed(d)}
    assert now["remediation_loop/fanout"] == theirs["remediation_loop/fanout"]
    assert now["permission_creep/peers"] == empty["permission_creep/peers"]  # not mergeable: for a replacement
    refused = count("remediation_loop/fanout", "refused")
    running.offer(Message(b"remediation_loop/fanout", b"[]"))
    assert count("remediation_loop/fanout", "refused") == refused + 1
    assert {key: data for d in found for key, data in prefixed(d)} == now


def test_a_worker_does_not_merge_its_own_snapshots_read_back_even_out_of_order() -> None:
    """Its older snapshot, read after a newer write, must not bring back series the fan-out has since dropped."""
    found = learned()
    producer = RecordingProducer()
    snapshots = ModelSnapshots(found, TOPIC, producer)  # type: ignore[arg-type]
    snapshots.restore()
    older = written(snapshots, producer)
    loops = next(d for d in found if isinstance(d, RemediationLoopDetector))
    loops.fanout.recent.clear()  # as if the wave's series went idle and were forgotten
    loops.fanout.add("scaler", "scale", "web", 9000.0)
    newer = written(snapshots, producer)
    assert set(newer) == {"remediation_loop/fanout"}
    merged = count("remediation_loop/fanout", "merged")
    for key, value in [*newer.items(), *older.items()]:
        snapshots.offer(Message(key.encode(), value))
    assert count("remediation_loop/fanout", "merged") == merged
    assert set(loops.fanout.recent) == {"scaler\x1fscale"}


class RefusingProducer(RecordingProducer):
    """A broker that refuses every message (a topic missing, a size limit)."""

    def produce(self, topic: str, value: bytes, key: str, **kwargs: Any) -> None:
        super().produce(topic, value, key)
        kwargs["on_refused"](KafkaError(KafkaError._MSG_TIMED_OUT))


def test_a_snapshot_the_broker_refused_is_sent_again_at_the_next_write() -> None:
    producer = RefusingProducer()
    snapshots = ModelSnapshots(learned(), TOPIC, producer)  # type: ignore[arg-type]
    snapshots.restore()
    undelivered = count("permission_creep/peers", "undelivered")
    first = written(snapshots, producer)
    assert count("permission_creep/peers", "undelivered") == undelivered + 1
    assert written(snapshots, producer) == first  # unchanged models, sent again

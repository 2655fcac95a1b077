"""The detectors' global models on a compacted topic, so a worker replacing another starts from what it had learned.

Per-key state lives in Faust tables and follows its partition; the global models (the loops' fan-out, creep's
peer quantiles and growth score models) are learned by each worker from all the keys it holds, and belong to
no partition. Every `model_snapshot_every_s` a worker writes each model that changed to `opswarden.models`
(key `<detector>/<model>`, JSON from `Detector.snapshot_models`); a starting worker reads the topic with the
other global topics and, before its engines judge anything, restores the latest snapshot of each model
(`Detector.restore_model`). A running worker goes on reading the topic and merges the other workers' fan-outs
into its own (`Detector.merge_model`): each holds the targets of its own partitions only, and a fleet-wide wave
spread over several workers would otherwise look smaller than it is to each of them. Snapshots are untrusted
input, checked before a model takes them: one refused is logged and counted, and a model refused at start
starts empty, as every model did before snapshots existed.

What a replacement restores is the model as of the last snapshot: up to one interval of learning is lost, and
input read again after the crash may be learned twice (the fan-out counts a target once; a quantile or score
model takes a few samples twice). The quantile and score models do not merge exactly: with several workers each
learns from its own principals' samples, and a replacement restores the one written last.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Sequence
from functools import partial
from typing import Any

from confluent_kafka import KafkaError

from detectors.base import Detector
from detectors.snapshot import SnapshotError
from streams import metrics
from streams.outputs import OutputProducer
from streams.processing import SourceMessage

log = logging.getLogger(__name__)

#: This worker's own latest snapshots, recognised when they are read back.
OWN_REMEMBERED = 16
#: A snapshot larger than this is not written (the topic is created to take it; the broker's default is 1 MB).
MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024


class ModelSnapshots:
    """Reads the snapshots at start (`offer`, then `restore` once) and writes them now and then (`write`)."""

    def __init__(self, detectors: Sequence[Detector[Any]], topic: str, producer: OutputProducer) -> None:
        self._detectors = {detector.name: detector for detector in detectors}
        self._topic = topic
        self._producer = producer
        self._read: dict[str, bytes] = {}  # the latest snapshot per key, until restored
        self._written: dict[str, bytes] = {}  # digest of the last snapshot written (or restored) per key
        self._own: deque[bytes] = deque(maxlen=OWN_REMEMBERED)  # digests of this worker's latest writes
        self.restored = False
        for detector in detectors:
            for model in detector.snapshot_models():
                for outcome in metrics.SNAPSHOT_OUTCOMES:
                    metrics.record_model_snapshot(f"{detector.name}/{model}", outcome, 0)

    def offer(self, message: SourceMessage) -> None:
        """A message of the snapshot topic. Read before the engines start, the latest of each key is kept for
        `restore`; read after, another worker's snapshot of a model that merges exactly (the fan-out) is folded
        into this worker's, and the others are left for a replacement."""
        if message.key is None:
            return
        key = message.key.decode(errors="replace")
        if not self.restored:
            if message.value is None:
                self._read.pop(key, None)
            else:
                self._read[key] = message.value
            return
        if message.value is None or _digest(message.value) in self._own:
            return  # a tombstone, or this worker's own snapshot read back (an older one, too, may come after a newer)
        detector, model = self._model(key)
        try:
            merged = detector is not None and detector.merge_model(model, message.value)
        except SnapshotError as exc:
            log.warning("model snapshot %s not merged: %s", key, exc)
            metrics.record_model_snapshot(key, "refused")
        else:
            if merged:
                metrics.record_model_snapshot(key, "merged")

    def restore(self) -> None:
        """Load every model's latest snapshot into its detector; before the first item is judged, once."""
        if self.restored:
            return
        self.restored = True
        for key, data in sorted(self._read.items()):
            detector, model = self._model(key)
            try:
                if detector is None:
                    raise SnapshotError(f"no detector {key.partition('/')[0]!r} runs here")
                detector.restore_model(model, data)
            except SnapshotError as exc:
                log.warning("model snapshot %s refused, the model starts empty: %s", key, exc)
                metrics.record_model_snapshot(key, "refused")
            else:
                self._written[key] = _digest(data)
                metrics.record_model_snapshot(key, "restored")
        self._read.clear()

    def _model(self, key: str) -> tuple[Detector[Any] | None, str]:
        """The detector (None if it does not run here) and model name a snapshot key (`<detector>/<model>`) names."""
        detector_name, _, model = key.partition("/")
        return self._detectors.get(detector_name), model

    def write(self) -> None:
        """Produce each model that changed since the last write; not before `restore`, which would overwrite a
        predecessor's snapshot with empty models."""
        if not self.restored:
            return
        for detector in self._detectors.values():
            for model, data in detector.snapshot_models().items():
                key = f"{detector.name}/{model}"
                digest = _digest(data)
                if self._written.get(key) == digest:
                    continue
                if len(data) > MAX_SNAPSHOT_BYTES:
                    log.warning("model snapshot %s not written: %d bytes", key, len(data))
                    metrics.record_model_snapshot(key, "too_large")
                    continue
                self._written[key] = digest
                self._own.append(digest)
                self._producer.produce(self._topic, data, key, on_refused=partial(self._refused, key))
                metrics.record_model_snapshot(key, "written")

    def _refused(self, key: str, error: KafkaError) -> None:
        """A snapshot the broker refused is no reason to stop judging: the next write sends the model again."""
        log.warning("model snapshot %s refused by the broker: %s", key, error)
        metrics.record_model_snapshot(key, "undelivered")
        self._written.pop(key, None)


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()

"""Checks for the global models' snapshots: JSON a worker reads back from a Kafka topic, so untrusted input.

A detector's global models (learned from every key it sees, not kept per key) are written now and then by a
worker and read by the one that replaces it (`Detector.snapshot_models`, `Detector.restore_model`). They are
JSON, never a pickle, and each value is checked for its type before a model takes it: a bad snapshot raises
`SnapshotError`, and the model it was meant for stays as it was.

>>> expect([1, 2.5], list, "pair", length=2)
[1, 2.5]
>>> expect(True, int, "count")
Traceback (most recent call last):
...
detectors.snapshot.SnapshotError: count: expected int, got bool
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import orjson

T = TypeVar("T")


class SnapshotError(ValueError):
    """A snapshot that this version and configuration of the model cannot take."""


def loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"not JSON: {exc}") from None


def expect(value: Any, kind: type[T], what: str, *, length: int | None = None) -> T:
    """`value` if it is a `kind` (a float may be written as an int; floats must be finite), else `SnapshotError`."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SnapshotError(f"{what}: expected {kind.__name__}, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SnapshotError(f"{what}: not a finite number")
    if length is not None and len(value) != length:  # type: ignore[arg-type]
        raise SnapshotError(f"{what}: expected {length} values, got {len(value)}")  # type: ignore[arg-type]
    return value

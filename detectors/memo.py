"""A bounded memo for per-action decisions (glob tables), so a hostile action vocabulary cannot grow memory.

>>> calls = []
>>> memo = BoundedMemo(lambda action: calls.append(action) or action.startswith("iam:"), limit=2)
>>> memo("iam:PassRole"), memo("iam:PassRole"), len(calls)
(True, True, 1)
>>> _ = memo("s3:PutObject"), memo("ec2:RunInstances")
>>> len(memo.table) <= 2
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedMemo(Generic[V]):
    """Remembers `compute(key)`; forgets everything once `limit` keys are held (cheap, and rare in practice)."""

    def __init__(self, compute: Callable[[str], V], limit: int = 4096) -> None:
        self.compute = compute
        self.limit = limit
        self.table: dict[str, V] = {}

    def __call__(self, key: str) -> V:
        try:
            return self.table[key]
        except KeyError:
            if len(self.table) >= self.limit:
                self.table.clear()
            value = self.table[key] = self.compute(key)
            return value

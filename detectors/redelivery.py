"""Counting each event once per key, whatever the delivery: Kafka is at-least-once, and after a crash the
uncommitted input is read again, some of whose effects the restored state may already hold.

A key remembers the crc32 of its latest event ids, in its own state, so the guard is written with the
effect it guards (a table write is atomic per key, not across keys or tables).

>>> recent: list[int] = []
>>> [seen_before(recent, event_id, keep=2) for event_id in ("a", "b", "a", "c", "a")]
[False, False, True, False, False]
"""

from __future__ import annotations

import zlib


def seen_before(recent: list[int], event_id: str, keep: int) -> bool:
    """Whether `event_id` is among the `keep` latest remembered in `recent`; if not, remember it."""
    digest = zlib.crc32(event_id.encode())
    if digest in recent:
        return True
    recent.append(digest)
    del recent[:-keep]
    return False

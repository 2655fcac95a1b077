"""The per-key guard that counts a redelivered event once."""

from __future__ import annotations

import doctest
import struct
import zlib

from detectors import redelivery
from detectors.redelivery import RecentEvents


def digest(event_id: str) -> int:
    return zlib.crc32(event_id.encode())


def test_module_examples() -> None:
    assert doctest.testmod(redelivery).failed == 0


def test_an_event_is_seen_once_within_the_latest_kept() -> None:
    recent = RecentEvents()
    assert [recent.seen_before(f"e{i}", keep=3) for i in range(5)] == [False] * 5
    assert recent.seen_before("e4", keep=3)
    assert recent.seen_before("e2", keep=3)
    assert not recent.seen_before("e1", keep=3)  # pushed out by e2..e4, so counted again
    assert recent.to_list() == [digest("e3"), digest("e4"), digest("e1")]


def test_four_bytes_across_two_remembered_digests_are_not_a_match() -> None:
    d = digest("e1")
    first = ((d & 0xFFFF) << 16) | 0x1234  # its last two bytes are the first two of d's
    second = 0xABCD0000 | (d >> 16)  # its first two bytes are the last two of d's
    assert struct.pack("<I", d) in struct.pack("<II", first, second)[1:]  # d's bytes, at offset 2
    recent = RecentEvents([first, second])
    assert not recent.seen_before("e1", keep=10)
    assert recent.seen_before("e1", keep=10)


def test_a_state_round_trips_through_its_list() -> None:
    recent = RecentEvents()
    for i in range(300):
        recent.seen_before(f"e{i}", keep=256)
    restored = RecentEvents(recent.to_list())
    assert restored == recent
    assert len(restored.to_list()) == 256
    assert restored.seen_before("e299", keep=256)
    assert not restored.seen_before("e0", keep=256)

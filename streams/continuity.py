"""Offset continuity on the repartition topics: a message read twice is skipped, a hole is reported.

Our producer writes the repartition topics without transactions, so their offsets have no holes: after an
assignment a partition's first message is at its committed offset, and each next one follows the last.
faust-streaming breaks that after a rebalance. Its recovery resumes the partitions, then seeks them to
their committed offsets, then clears the stream buffers. Messages fetched during the seek land in a
buffer that is then cleared, while the consumer's position has already moved past them. In the two-worker
rebalance test that lost 14 messages on each partition that changed hands.

A hole can still open if some other path drops messages: it is reported (an error in the log and
`opswarden_repartition_gap_messages_total`) and processing goes on, since nothing in Faust's consumer can be
made to read the skipped offsets again (its fetch loop drops offsets below the last one it handed over).

>>> continuity = OffsetContinuity()
>>> continuity.check("by-principal/0", 9, committed=9)
(<Step.PROCESS: 'process'>, 9)
>>> continuity.check("by-principal/0", 9, committed=9)  # read again after a seek
(<Step.SKIP: 'skip'>, 10)
>>> continuity.check("by-principal/0", 12, committed=9)  # 10 and 11 never came
(<Step.GAP: 'gap'>, 10)
>>> continuity.check("by-principal/0", 13, committed=9)
(<Step.PROCESS: 'process'>, 13)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from enum import Enum
from typing import Any

import faust
from mode.utils.queues import ThrowableQueue


class Step(Enum):
    PROCESS = "process"  # the next message
    SKIP = "skip"  # processed already (read again after a seek): leave it, and do not ack it
    GAP = "gap"  # past a hole: report the hole, then process it


class OffsetContinuity:
    """The next offset expected on each partition since it was assigned; says what to do with each message."""

    def __init__(self) -> None:
        self._next: dict[Hashable, int] = {}

    def check(self, partition: Hashable, offset: int, committed: int | None) -> tuple[Step, int]:
        """`committed` is the partition's committed offset, read when it has no expected offset yet (None: any
        first offset is accepted). Returns the step and the offset that was expected."""
        expected = self._next.get(partition, committed)
        if expected is None:
            expected = offset
        if offset < expected:
            return Step.SKIP, expected
        self._next[partition] = offset + 1
        return (Step.PROCESS if offset == expected else Step.GAP), expected

    def forget(self, partitions: Iterable[Hashable]) -> None:
        """Revoked partitions: when assigned again, they start from their committed offsets."""
        for partition in partitions:
            self._next.pop(partition, None)


class KeptTopic(faust.Topic):
    """A topic whose stream buffer Faust's flow control never clears (see the module docstring)."""

    @property
    def queue(self) -> ThrowableQueue[Any]:
        if self._queue is None:
            maxsize = self.maxsize if self.maxsize is not None else self.app.conf.stream_buffer_maxsize
            self._queue = self.app.FlowControlQueue(maxsize=maxsize, clear_on_resume=False)
        return self._queue

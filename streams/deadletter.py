"""Dead letters: the original bytes, unchanged, with headers that say why and where they came from."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from models.rejection import Rejection, RejectReason

MAX_DETAIL = 1000


@dataclass(frozen=True)
class DeadLetter:
    """One message that failed, whole: `reason` is the first failure's, `count` how many records failed."""

    key: bytes | None
    value: bytes | None
    reason: RejectReason
    detail: str
    topic: str
    partition: int
    offset: int
    count: int = 1

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("reason", self.reason.value.encode()),
            ("detail", self.detail[:MAX_DETAIL].encode()),
            ("source-topic", self.topic.encode()),
            ("source-partition", str(self.partition).encode()),
            ("source-offset", str(self.offset).encode()),
            ("rejected-records", str(self.count).encode()),
        ]


def from_rejections(
    rejections: Sequence[Rejection], key: bytes | None, value: bytes | None, topic: str, partition: int, offset: int
) -> DeadLetter:
    """One dead letter for a message whose records were (partly) rejected; the detail lists every reason."""
    first = rejections[0]
    reasons = Counter(r.reason.value for r in rejections)
    where = f" (record {first.index})" if first.index is not None else ""
    summary = "" if len(rejections) == 1 else f" [{', '.join(f'{r}: {n}' for r, n in sorted(reasons.items()))}]"
    return DeadLetter(
        key, value, first.reason, f"{first.detail}{where}{summary}", topic, partition, offset, len(rejections)
    )


def from_exception(
    exc: BaseException, key: bytes | None, value: bytes | None, topic: str, partition: int, offset: int
) -> DeadLetter:
    detail = f"{type(exc).__name__}: {exc}"
    return DeadLetter(key, value, RejectReason.PROCESSING_ERROR, detail, topic, partition, offset)

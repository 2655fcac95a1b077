"""Dead letters: the original bytes, with headers that say why and where they came from.

The bytes are unchanged unless they hold secrets (session tokens, keys, passwords, private keys, Kubernetes
Secret payloads): those are replaced as the parsers replace them (`models.redact.redact_raw`) before the letter
leaves the process, and the header `redacted` says so. A dead-letter topic is read by operators and kept for
days; it must not become the one place the secrets the parsers drop are kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from models.redact import redact, redact_raw
from models.rejection import Rejection, RejectReason

MAX_DETAIL = 1000
#: How far a gzip letter is opened to look for secrets (the default `limits.max_document_bytes`); one that
#: expands further was never read, and is kept as it came.
OPENED_AT_MOST = 16 * 1024 * 1024


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

    def outgoing(self) -> tuple[bytes | None, list[tuple[str, bytes]]]:
        """The value and headers to publish, secrets replaced in both (an exception's text may quote input)."""
        value = redact_raw(self.value, OPENED_AT_MOST) if self.value else self.value
        headers = [
            ("reason", self.reason.value.encode()),
            ("detail", str(redact(self.detail[:MAX_DETAIL])).encode()),
            ("source-topic", self.topic.encode()),
            ("source-partition", str(self.partition).encode()),
            ("source-offset", str(self.offset).encode()),
            ("rejected-records", str(self.count).encode()),
            ("redacted", b"true" if value is not self.value else b"false"),
        ]
        return value, headers


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

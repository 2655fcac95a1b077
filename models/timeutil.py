"""Timestamp parsing shared by every parser: tolerant of the shapes sources really emit."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidatorFunctionWrapHandler

#: `YYYY-MM-DDTHH:MM:SSZ`, with 3 or 6 fraction digits: what most records carry, and what `fromisoformat` reads
#: as it is, at a third of the cost of the general path (a regex, then a rebuilt string).
_UTC_FORM_LENGTHS = frozenset({20, 24, 27})
_SPACE_FORM = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$")


def _utc_text(value: str) -> datetime | None:
    """The `YYYY-MM-DDTHH:MM:SS[.fff[fff]]Z` form read as it is, in `datetime.UTC`; None for any other text (or
    malformed text of that shape), which the caller's slower path reads or explains."""
    if len(value) in _UTC_FORM_LENGTHS and value[10] == "T" and value[-1] == "Z":
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def to_utc(value: datetime | None) -> datetime | None:
    """Normalise an aware datetime to UTC (validators reject naive ones before this runs). What the parsers
    built is UTC already, and kept as it is: no copy for every timestamp of every event."""
    if value is None or value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def utc_time(value: Any, handler: ValidatorFunctionWrapHandler) -> datetime | None:
    """A model's time, validated and in UTC (a wrap validator). The `...Z` text of the workers' own messages is
    read by `fromisoformat`, which gives `datetime.UTC` at once: pydantic's parser gives its own UTC tzinfo, and
    converting that (so that comparisons with other times stay the fast same-tzinfo kind) cost more than the
    parse, twice an event."""
    if isinstance(value, str) and (moment := _utc_text(value)) is not None:
        return moment
    return to_utc(handler(value))  # pydantic's own parse, which says why text is wrong


def parse_time(value: object) -> datetime:
    """Parse ISO 8601 (Z or offset, any fraction length), `YYYY-MM-DD HH:MM:SS[.f…]` (UTC), or epoch s/ms.

    Raises ValueError with a short reason on anything else; naive times are taken as UTC,
    which is what every audit source means by them.
    """
    if isinstance(value, bool):
        raise ValueError("time is a boolean")
    if isinstance(value, int | float):
        seconds = value / 1000.0 if value > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"epoch out of range: {value!r}") from exc
    if not isinstance(value, str):
        raise ValueError(f"time is {type(value).__name__}, not a string")
    if (moment := _utc_text(value)) is not None:
        return moment
    match = _SPACE_FORM.match(value.strip())
    if match is None:
        raise ValueError(f"unparseable time {value[:40]!r}")
    day, clock, fraction, zone = match.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    text = f"{day}T{clock}.{micros}"
    if zone and zone != "Z":
        text += zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"unparseable time {value[:40]!r}") from exc

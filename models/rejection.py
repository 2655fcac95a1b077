"""Why an input was refused: a machine-readable reason class plus a human detail."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class RejectReason(StrEnum):
    NOT_JSON = "not_json"
    WRONG_SHAPE = "wrong_shape"
    MISSING_FIELD = "missing_field"
    BAD_TIME = "bad_time"
    INVALID_VALUE = "invalid_value"
    TOO_LARGE = "too_large"
    TOO_DEEP = "too_deep"
    FUTURE_TIME = "future_time"
    UNKNOWN_SOURCE = "unknown_source"
    PROCESSING_ERROR = "processing_error"


class Rejection(BaseModel):
    """One input (a record, or a whole document) that produced no event, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: RejectReason
    detail: str
    source: str | None = None
    origin: str | None = None
    index: int | None = None
    native_id: str | None = None


class ParseError(Exception):
    """Raised inside parsers and turned into a Rejection at the parser boundary; never escapes it."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

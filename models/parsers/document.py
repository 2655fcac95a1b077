"""A document's bytes in, canonical objects out: decoding, envelope unwrapping and shape detection, then
the per-source parser that recognises each record.

`parse_document` never raises on input data: every record becomes objects or a Rejection with a reason.
A module of its own rather than the package's `__init__`, so that it is compiled with the parsers
(`compiled.MODULES`): it runs once per message.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from models.config import LimitsConfig
from models.gzipped import TooLarge, gunzip, is_gzip
from models.parsers import (
    aiops,
    alertmanager,
    authorization,
    azure,
    cloudtrail,
    gcp,
    k8s,
    pagerduty,
    rundeck,
    servicenow,
    stackstorm,
)
from models.parsers.base import ParseContext, Parsed, Record, SourceParser, depth_exceeds, item_time
from models.rejection import ParseError, Rejection, RejectReason

#: Recognition order: native kinds first, then webhooks, then audit logs (GKE's k8s entries before GCP).
PARSERS: tuple[SourceParser, ...] = (
    aiops,
    authorization,
    servicenow,
    alertmanager,
    pagerduty,
    rundeck,
    stackstorm,
    cloudtrail,
    k8s,
    gcp,
    azure,
)
BY_NAME: dict[str, SourceParser] = {parser.NAME: parser for parser in PARSERS}


class ParseResult:
    """A document's items and rejections. One is made per message: the constructor is written out, and so
    compiled, where a dataclass's runs as Python with a default factory call for each list."""

    items: list[Parsed]
    rejections: list[Rejection]

    def __init__(self, items: list[Parsed] | None = None, rejections: list[Rejection] | None = None) -> None:
        self.items = [] if items is None else items
        self.rejections = [] if rejections is None else rejections

    def extend(self, other: ParseResult) -> None:
        self.items.extend(other.items)
        self.rejections.extend(other.rejections)


def decode_documents(data: bytes, limits: LimitsConfig, *, as_yaml: bool = False) -> list[Any]:
    """One JSON document, or JSON lines; gzip transparently; YAML only when asked (fixture files). A document
    nested deeper than `limits.max_depth` comes back as its rejection, like a line that is not JSON."""
    if len(data) > limits.max_document_bytes:
        raise ParseError(RejectReason.TOO_LARGE, f"{len(data)} bytes exceeds {limits.max_document_bytes}")
    if is_gzip(data):
        try:
            data = gunzip(data, limits.max_document_bytes)
        except TooLarge as exc:
            raise ParseError(RejectReason.TOO_LARGE, str(exc)) from exc
        except zlib.error as exc:
            raise ParseError(RejectReason.NOT_JSON, f"corrupt gzip: {exc}") from exc
    if as_yaml:
        try:
            return _shallow([yaml.safe_load(data)], None, limits.max_depth)
        except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:  # PyYAML raises all of these
            raise ParseError(RejectReason.NOT_JSON, f"not YAML: {str(exc)[:200]}") from exc
    try:
        return _shallow([orjson.loads(data)], data, limits.max_depth)
    except orjson.JSONDecodeError as whole_error:
        lines = [line for line in data.splitlines() if line.strip()]
        if len(lines) < 2:
            raise ParseError(RejectReason.NOT_JSON, f"not JSON: {whole_error}") from whole_error
        docs: list[Any] = []
        for number, line in enumerate(lines, 1):
            try:
                docs.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                docs.append(ParseError(RejectReason.NOT_JSON, f"line {number} is not JSON: {exc}"))
        return _shallow(docs, data, limits.max_depth)


def _shallow(documents: list[Any], json_text: bytes | None, limit: int) -> list[Any]:
    """`documents` with any that nests deeper than `limit` replaced by its rejection. JSON cannot nest deeper
    than it has brackets: counting them in `json_text` (in C) spares most messages the walk."""
    if json_text is not None and json_text.count(b"{") + json_text.count(b"[") <= limit:
        return documents
    too_deep = ParseError(RejectReason.TOO_DEEP, f"nesting deeper than {limit}")
    return [too_deep if depth_exceeds(document, limit) else document for document in documents]


def _panther_logs(tests: list[Any]) -> list[Any]:
    """The test events of a Panther rule file, without Panther's `p_*` enrichment fields."""
    logs = [test.get("Log") for test in tests if isinstance(test, dict)]
    return [
        {k: v for k, v in log.items() if not str(k).startswith("p_")} if isinstance(log, dict) else log
        for log in logs
        if log is not None
    ]


def unwrap(document: Any) -> list[Any]:
    """Records from an envelope or the record itself.

    Envelopes: CloudTrail `{"Records": [...]}`, Azure `{"records": [...]}`, k8s EventList, EventBridge,
    JSON arrays, and Panther rule files (their `Tests[].Log`), which detection engineers keep test events in.
    A list, not a generator: a generator's frame and resumption cost more than the one record most messages
    hold, and an envelope's own list is returned as it is.
    """
    if isinstance(document, list):
        return [record for element in document for record in unwrap(element)]
    if not isinstance(document, dict):
        return [document]
    if "AnalysisType" in document and isinstance(document.get("Tests"), list):
        return _panther_logs(document["Tests"])
    if document.get("detail-type") == "AWS API Call via CloudTrail":
        return [document.get("detail")]  # EventBridge wraps one CloudTrail record
    records = document.get("Records")
    if isinstance(records, list):
        return records
    records = document.get("records")
    if isinstance(records, list) and "receiver" not in document:
        return records
    items = document.get("items")
    if document.get("kind") == "EventList" and isinstance(items, list):
        return items
    return [document]


def detect(record: Record, candidates: tuple[SourceParser, ...] = PARSERS) -> SourceParser | None:
    return next((parser for parser in candidates if parser.matches(record)), None)


@cache  # a topic's parser list is looked up for every message
def parsers_named(names: tuple[str, ...] | None) -> tuple[SourceParser, ...]:
    """The parsers a topic accepts, in recognition order; unknown names are a programming error."""
    if not names:
        return PARSERS
    unknown = set(names) - BY_NAME.keys()
    if unknown:
        raise KeyError(f"no parser named {sorted(unknown)}")
    return tuple(parser for parser in PARSERS if parser.NAME in names)


def parse_record(record: Any, ctx: ParseContext, candidates: tuple[SourceParser, ...] = PARSERS) -> list[Parsed]:
    """Parse one record with the first candidate that recognises it; raises ParseError only."""
    if not isinstance(record, dict):
        raise ParseError(RejectReason.WRONG_SHAPE, f"record is a {type(record).__name__}, not an object")
    parser = detect(record, candidates)
    if parser is None:
        names = "/".join(p.NAME for p in candidates) if candidates != PARSERS else "known source"
        raise ParseError(
            RejectReason.WRONG_SHAPE if candidates != PARSERS else RejectReason.UNKNOWN_SOURCE,
            f"shape matches no {names} record",
        )
    try:
        return parser.parse(record, ctx)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ParseError(RejectReason.INVALID_VALUE, f"{where}: {first['msg']}") from exc


class FutureCheck:
    """Rejects a record whose events are dated more than `limit` after `received` (`limits.max_time_ahead`):
    a clock that reads from the future, or a forged time, must not move the watermark. No check without a
    receipt time or a limit."""

    def __init__(self, received: datetime | None, limit: timedelta | None) -> None:
        self.bounds = (received, received + limit) if received is not None and limit is not None else None

    def check(self, items: list[Parsed]) -> None:
        if self.bounds is None:
            return
        received, latest = self.bounds
        for item in items:
            moment = item_time(item)
            if moment is not None and moment > latest:
                raise ParseError(
                    RejectReason.FUTURE_TIME,
                    f"event time {moment.isoformat()} is {moment - received} after the record was read "
                    f"({received.isoformat()}), beyond limits.max_time_ahead",
                )


def _native_id(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    for key in ("eventID", "auditID", "insertId", "eventDataId", "id", "sys_id"):
        value = record.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


def parse_document(
    data: bytes,
    ctx: ParseContext,
    limits: LimitsConfig | None = None,
    sources: tuple[str, ...] | None = None,
    *,
    as_yaml: bool = False,
) -> ParseResult:
    """Every record in `data` parsed or rejected; `sources` limits the parsers (a topic's sources). `limits` and
    `sources` may be passed by position: the workers call this once per message, and a compiled call with
    keywords packs them into a dict."""
    limits = limits or LimitsConfig()
    candidates = parsers_named(sources)
    result = ParseResult()

    def reject(reason: RejectReason, detail: str, index: int | None = None, record: Any = None) -> None:
        result.rejections.append(
            Rejection(
                reason=reason,
                detail=detail,
                source="/".join(sources) if sources else None,
                origin=ctx.origin,
                index=index,
                native_id=_native_id(record),
            )
        )

    try:
        documents = decode_documents(data, limits, as_yaml=as_yaml)
    except ParseError as exc:
        reject(exc.reason, exc.detail)
        return result
    ahead = FutureCheck(ctx.received_time, limits.max_time_ahead)
    index = 0
    for document in documents:
        if isinstance(document, ParseError):
            reject(document.reason, document.detail, index)
            index += 1
            continue
        for record in unwrap(document):
            if index >= limits.max_records_per_document:
                reject(RejectReason.TOO_LARGE, f"more than {limits.max_records_per_document} records", index)
                return result
            try:
                items = parse_record(record, ctx.at(index), candidates)
                ahead.check(items)
                result.items.extend(items)
            except ParseError as exc:
                reject(exc.reason, exc.detail, index, record)
            except Exception as exc:  # a parser bug must not lose the other records
                reject(RejectReason.PROCESSING_ERROR, f"{type(exc).__name__}: {str(exc)[:200]}", index, record)
            index += 1
    return result

"""Secrets never leave the process: scrub them from any raw sub-document a parser keeps, and from raw input
that leaves as a dead letter."""

from __future__ import annotations

import gzip
import re
import zlib
from functools import lru_cache
from typing import Any

import orjson

from models.gzipped import TooLarge, gunzip, is_gzip

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|session_?token|private_?key|credentials?|api_?key|"
    r"authorization|cookie|x-amz-security-token|sharedkey|connection_?string|sas)$",
    re.IGNORECASE,
)
#: An AWS secret access key, a JWT, a bearer token or a PEM block anywhere in a string.
_SECRET_VALUE = re.compile(
    r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/-]{16,}=*"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"
)
#: The shortest string `_SECRET_VALUE` can match (a bearer token): shorter ones skip the regex.
_MIN_SECRET_LENGTH = 23
#: Keys whose values are ids, not secrets, although their names match the pattern above.
_ID_KEYS = frozenset({"accesskeyid", "sessiontokenid", "tokenid", "secretarn", "secretid", "secretname"})


@lru_cache(maxsize=4096)
def _secret_name(name: str) -> bool:
    """Field names repeat across events: the regex runs once per name."""
    return bool(_SECRET_KEY.search(name)) and name.lower() not in _ID_KEYS


def _is_k8s_secret(doc: dict[str, Any]) -> bool:
    return doc.get("kind") == "Secret" and ("data" in doc or "stringData" in doc)


def redact(value: Any) -> Any:
    """A copy of `value` with secret-named fields, secret-looking strings and Secret payloads replaced."""
    if isinstance(value, dict):
        secret_object = _is_k8s_secret(value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if secret_object and name in ("data", "stringData"):
                out[key] = REDACTED
            elif _secret_name(name) and item not in (None, "", [], {}):
                out[key] = REDACTED if not isinstance(item, dict | list) else redact_all(item)
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH:
        return _SECRET_VALUE.sub(REDACTED, value)
    return value


def redact_all(value: Any) -> Any:
    """Every leaf string replaced: for containers found under a secret-named key."""
    if isinstance(value, dict):
        return {key: redact_all(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_all(item) for item in value]
    return REDACTED if isinstance(value, str) else value


#: A JSON string field, `"name": "value"`, found in text that does not parse as a whole; a value cut off by the
#: end of the text (a truncated message) counts too.
_STRING_FIELD = re.compile(rb'"((?:[^"\\]|\\.){1,128})"(\s*:\s*)"(?:[^"\\]|\\.)*("|\Z)')


def redact_raw(data: bytes, max_bytes: int) -> bytes:
    """Raw input with its secrets replaced, for a copy of it that leaves the process (a dead letter); `data`
    itself when it holds none. JSON, a document or each of its lines, is redacted as the parsers redact what
    they keep (`redact`); text that is not JSON, binary included, loses the values of secret-named string fields
    and secret-looking strings where they stand. Gzip is opened (up to `max_bytes`), redacted and compressed
    again; one that cannot be opened is kept as it came, unread."""
    if is_gzip(data):
        try:
            plain = gunzip(data, max_bytes)
        except (TooLarge, zlib.error):
            return data
        opened = redact_raw(plain, max_bytes)
        return data if opened is plain else gzip.compress(opened)
    whole = _redact_json(data)
    if whole is not None:
        return whole
    lines = b"\n".join(_redact_json(line) or line for line in data.split(b"\n"))
    clean = _redact_text(lines)  # over the whole text: a PEM block spans lines
    return data if clean == data else clean


def _redact_json(data: bytes) -> bytes | None:
    """`data` redacted as JSON (itself when nothing changed), or None when it is not JSON."""
    try:
        document = orjson.loads(data)
        clean = redact(document)
    except (orjson.JSONDecodeError, RecursionError):
        return None
    return data if clean == document else orjson.dumps(clean)


def _redact_text(data: bytes) -> bytes:
    def field(match: re.Match[bytes]) -> bytes:
        name, separator = match.group(1), match.group(2)
        if not _secret_name(name.decode("latin-1")):
            return match.group(0)
        return b'"' + name + b'"' + separator + b'"' + REDACTED.encode() + match.group(3)

    named = _STRING_FIELD.sub(field, data)
    text = named.decode("latin-1")  # every byte a character, so the bytes around a match come back unchanged
    scrubbed = _SECRET_VALUE.sub(REDACTED, text)
    return data if named == data and scrubbed == text else scrubbed.encode("latin-1")

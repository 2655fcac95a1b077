"""Secrets never leave the process: scrub them from any raw sub-document a parser keeps."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

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

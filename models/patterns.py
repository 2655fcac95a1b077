"""Glob matching over canonical uids and actions, case-sensitive for uids and case-insensitive for actions."""

from __future__ import annotations

import re
from fnmatch import translate
from functools import lru_cache


@lru_cache(maxsize=65536)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(translate(pattern), re.IGNORECASE if ignore_case else 0)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """fnmatch-style `*`, `?` and `[...]`; `*` crosses `/` and `:` so `arn:aws:iam::*` means what it says."""
    if pattern == "*":
        return True
    if not any(ch in pattern for ch in "*?["):
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return _compiled(pattern, ignore_case).match(value) is not None


def any_match(patterns: tuple[str, ...] | list[str], value: str, *, ignore_case: bool = False) -> bool:
    return any(glob_match(p, value, ignore_case=ignore_case) for p in patterns)


def is_literal(pattern: str) -> bool:
    return not any(ch in pattern for ch in "*?[")


def literal_prefix(pattern: str) -> str:
    """The part of a glob before its first wildcard, for indexing patterns by prefix."""
    for i, ch in enumerate(pattern):
        if ch in "*?[":
            return pattern[:i]
    return pattern

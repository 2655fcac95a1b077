"""Glob matching over canonical uids and actions, case-sensitive for uids and case-insensitive for actions."""

from __future__ import annotations

import re
from collections.abc import Callable
from fnmatch import translate
from functools import lru_cache

_WILDCARDS = re.compile(r"[*?\[]")


@lru_cache(maxsize=131072)
def matcher(pattern: str, ignore_case: bool = False) -> Callable[[str], bool]:
    """A compiled test for one glob: `*` alone, a literal, or a regex; cached, as patterns repeat."""
    if pattern == "*":
        return lambda value: True
    if _WILDCARDS.search(pattern) is None:
        if ignore_case:
            folded = pattern.casefold()
            return lambda value: value.casefold() == folded
        return pattern.__eq__
    regex = re.compile(translate(pattern), re.IGNORECASE if ignore_case else 0)
    return lambda value: regex.match(value) is not None


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """fnmatch-style `*`, `?` and `[...]`; `*` crosses `/` and `:` so `arn:aws:iam::*` means what it says."""
    return matcher(pattern, ignore_case)(value)


def any_match(patterns: tuple[str, ...] | list[str], value: str, *, ignore_case: bool = False) -> bool:
    if not patterns:  # most ignore lists are empty: no hashing of the value for the memo
        return False
    if type(patterns) is tuple:  # records' and config's patterns: hashable, and asked about the same values
        return _any_match_remembered(patterns, value, ignore_case)
    return any(matcher(pattern, ignore_case)(value) for pattern in patterns)


@lru_cache(maxsize=65536)
def _any_match_remembered(patterns: tuple[str, ...], value: str, ignore_case: bool) -> bool:
    """A quarter of the cost of matching again: the judge asks each change's action, resources and environment."""
    return any(matcher(pattern, ignore_case)(value) for pattern in patterns)


def is_literal(pattern: str) -> bool:
    return _WILDCARDS.search(pattern) is None


def literal_prefix(pattern: str) -> str:
    """The part of a glob before its first wildcard, for indexing patterns by prefix."""
    for i, ch in enumerate(pattern):
        if ch in "*?[":
            return pattern[:i]
    return pattern

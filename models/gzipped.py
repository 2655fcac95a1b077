"""Gzip input, opened with a bound: a small message must not expand into all of a worker's memory."""

from __future__ import annotations

import zlib

MAGIC = b"\x1f\x8b"


class TooLarge(ValueError):
    """The data expands beyond the bound it was opened with."""


def is_gzip(data: bytes) -> bool:
    return data[:2] == MAGIC


def gunzip(data: bytes, limit: int) -> bytes:
    """The decompressed data, at most `limit` bytes; `TooLarge` beyond, `zlib.error` when it is corrupt."""
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = decompressor.decompress(data, limit + 1)
    if len(out) > limit or decompressor.unconsumed_tail:
        raise TooLarge(f"gzip expands beyond {limit} bytes")
    return out

"""Bytes in, canonical objects out: one parser module per source, and `parse_document` (`document.py`),
which decodes a document, unwraps its envelopes and hands each record to the parser that recognises it."""

from models.parsers.document import BY_NAME, PARSERS, ParseResult, detect, parse_document, parse_record

__all__ = ["BY_NAME", "PARSERS", "ParseResult", "detect", "parse_document", "parse_record"]

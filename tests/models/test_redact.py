"""The redaction shared by every parser and the dead letters: secret-named fields, secret-looking strings,
Kubernetes Secret payloads."""

from __future__ import annotations

import gzip

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.redact import _MIN_SECRET_LENGTH, _SECRET_VALUE, REDACTED, redact, redact_raw

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example, 40 characters
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


def test_secret_named_fields_and_secret_looking_strings_are_replaced() -> None:
    document = {
        "password": "hunter2",
        "accessKeyId": "AKIAIOSFODNN7EXAMPLE",  # an id, not a secret
        "note": f"key {AWS_SECRET} leaked",
        "headers": {"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz"},
        "token": {"nested": "x", "list": ["y"]},
        "short": "sg-0000",
        "jwt": [JWT],
    }
    clean = redact(document)
    assert clean["password"] == REDACTED
    assert clean["accessKeyId"] == "AKIAIOSFODNN7EXAMPLE"
    assert clean["note"] == f"key {REDACTED} leaked"
    assert clean["headers"]["Authorization"] == REDACTED
    assert clean["token"] == {"nested": REDACTED, "list": [REDACTED]}
    assert clean["short"] == "sg-0000"
    assert clean["jwt"] == [REDACTED]


def test_kubernetes_secret_payloads_are_replaced_whatever_their_keys() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "db"}, "data": {"user": "YWRtaW4="}, "stringData": {"a": "b"}}
    clean = redact(secret)
    assert clean["data"] == REDACTED
    assert clean["stringData"] == REDACTED
    assert clean["metadata"] == {"name": "db"}


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=_MIN_SECRET_LENGTH - 1))
def test_strings_shorter_than_the_shortest_secret_never_match(text: str) -> None:
    """Why `redact` may skip the value regex for short strings: no secret pattern fits in them."""
    assert _SECRET_VALUE.search(text) is None
    assert _SECRET_VALUE.search("Bearer " + "a" * 16) is not None  # the shortest match is exactly that long
    assert len("Bearer " + "a" * 16) == _MIN_SECRET_LENGTH


SESSION_TOKEN = "IQoJb3JpZ2luX2VjEHYaCXVzLWVhc3QtMSJHMEUCIQD6example"
MAX_BYTES = 1 << 20


def test_raw_json_without_secrets_is_kept_as_the_same_bytes() -> None:
    data = orjson.dumps({"eventName": "RebootInstances", "requestParameters": {"instanceId": "i-1"}})
    assert redact_raw(data, MAX_BYTES) is data


@pytest.mark.parametrize(
    "data",
    [
        # a whole document: CloudTrail's AssumeRole response, whose parser never keeps it
        orjson.dumps({"eventName": "AssumeRole", "responseElements": {"credentials": {"sessionToken": SESSION_TOKEN}}}),
        # JSON lines, one line broken, the secret in the broken one
        b'{"ok": 1}\n{"password": "hunter2", "eventTime": \n',
        # text that is not JSON at all, with a secret-named field and a secret-looking value
        b'{"eventName": "GetSecretValue", "secretAccessKey": "' + AWS_SECRET.encode() + b'", broken',
        # a message cut off inside a secret
        b'{"eventName": "GetSecretValue", "password": "hunter2',
        # binary junk around a private key
        b"\x00\xff-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\xfe",
        # a Kubernetes Secret in an audit event's request object
        orjson.dumps({"kind": "Event", "requestObject": {"kind": "Secret", "data": {"db.pass": "aHVudGVyMg=="}}}),
    ],
    ids=["document", "json-lines", "text", "truncated", "binary", "k8s-secret"],
)
def test_raw_input_loses_its_secrets_and_keeps_everything_else(data: bytes) -> None:
    for raw in (data, gzip.compress(data)):
        clean = redact_raw(raw, MAX_BYTES)
        opened = gzip.decompress(clean) if raw is not data else clean
        assert REDACTED.encode() in opened
        for secret in (SESSION_TOKEN, "hunter2", AWS_SECRET, "MIIEow", "aHVudGVyMg=="):
            assert secret.encode() not in opened
    kept = redact_raw(data, MAX_BYTES)
    for fact in (b"AssumeRole", b'{"ok": 1}', b"GetSecretValue", b"\x00\xff", b"Event"):
        if fact in data:
            assert fact in kept


def test_gzip_that_cannot_be_opened_within_the_bound_is_kept_unread() -> None:
    bomb = gzip.compress(b'{"password": "hunter2"}' + b" " * 4096)
    assert redact_raw(bomb, max_bytes=1024) is bomb
    corrupt = b"\x1f\x8b\x08\x00garbage"
    assert redact_raw(corrupt, MAX_BYTES) is corrupt

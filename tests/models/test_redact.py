"""The redaction shared by every parser: secret-named fields, secret-looking strings, Kubernetes Secret payloads."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from models.redact import _MIN_SECRET_LENGTH, _SECRET_VALUE, REDACTED, redact

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

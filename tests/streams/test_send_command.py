"""`opswarden send` against the real broker: what the broker refuses is reported in a line, not a traceback."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from streams.cli import main

pytestmark = pytest.mark.kafka


def test_records_the_broker_refuses_end_send_with_why(
    kafka_bootstrap: str, kafka_topic: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = kafka_topic(config={"max.message.bytes": "2048"})
    records = tmp_path / "records.jsonl"
    # random, so that lz4 cannot shrink it; alone, as a batch is refused whole
    records.write_bytes(orjson.dumps({"id": "large", "padding": secrets.token_hex(8192)}) + b"\n")
    monkeypatch.setenv("OPSWARDEN_BOOTSTRAP_SERVERS", kafka_bootstrap)
    result = CliRunner().invoke(main, ["send", topic, str(records)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [result.output.strip()]
    assert result.output.startswith("opswarden send: 1 messages refused, 0 undelivered, first: ")
    assert "MSG_SIZE_TOO_LARGE" in result.output


def test_records_the_broker_takes_are_counted(
    kafka_bootstrap: str, kafka_topic: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = kafka_topic()
    records = tmp_path / "records.jsonl"
    records.write_bytes(b'{"id": "a"}\n{"id": "b"}\n')
    monkeypatch.setenv("OPSWARDEN_BOOTSTRAP_SERVERS", kafka_bootstrap)
    result = CliRunner().invoke(main, ["send", topic, str(records)])
    assert result.exit_code == 0, result.output
    assert result.output == f"sent 2 messages to {topic}\n"

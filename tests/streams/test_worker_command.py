"""`opswarden worker`'s own command line, before any worker runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from streams import worker_command
from streams.cli import main
from streams.embedded_broker import free_port
from streams.settings import Settings
from streams.topics import unreachable


def test_worker_help_gives_fausts_options_without_building_the_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the runtime connects to the cluster: with none reachable, help waited on it and printed
    librdkafka's connection errors instead."""

    def refuse(settings: Settings) -> None:
        raise AssertionError("help built the runtime")

    monkeypatch.setattr(worker_command, "prepare_worker", refuse)
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # Faust's command line reads it; put back after
    monkeypatch.setenv("OPSWARDEN_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    result = CliRunner().invoke(main, ["worker", "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "OPSWARDEN_* environment variables" in result.output
    for option in ("--loglevel", "--web-port", "--with-web / --without-web"):
        assert option in result.output
    assert "Usage: opswarden worker [OPTIONS]" in result.output


def test_a_worker_whose_cluster_does_not_answer_says_so_in_a_line_and_exits_unavailable(tmp_path: Path) -> None:
    """Each client a worker starts logged every failed connection to stderr, ~20 lines a second for half a
    minute, before Faust gave up with a traceback. Run as a process: librdkafka writes to the descriptor."""
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    env = os.environ | {
        "OPSWARDEN_BOOTSTRAP_SERVERS": address,
        "OPSWARDEN_CONNECT_TIMEOUT_S": "2",
        "OPSWARDEN_DATA_DIR": str(tmp_path),
        "OPSWARDEN_METRICS_PORT": "0",
    }
    worker = subprocess.run(
        [sys.executable, "-c", "from streams.cli import main; main()", "worker"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert worker.returncode == worker_command.EXIT_UNAVAILABLE == 69
    lines = worker.stderr.splitlines()
    assert len(lines) == 1, worker.stderr
    assert f"no answer from the Kafka cluster at {address}" in lines[0]
    assert "OPSWARDEN_CONNECT_TIMEOUT_S" in lines[0]


@pytest.mark.kafka
def test_a_cluster_that_answers_is_reachable(kafka_bootstrap: str) -> None:
    assert unreachable(Settings(bootstrap_servers=kafka_bootstrap), timeout_s=10.0) is None

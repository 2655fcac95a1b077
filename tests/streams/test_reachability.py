"""Commands that need the cluster say in one line that it does not answer, and exit EX_UNAVAILABLE."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.embedded_broker import free_port
from streams.reachability import EXIT_UNAVAILABLE, unreachable
from streams.settings import EXIT_CONFIG, Settings
from tests.streams.worker_process import run_command


@pytest.mark.parametrize(
    ("command", "name"),
    [(["worker"], "worker"), (["topics", "create"], "topics create"), (["send", "audit.k8s", "{file}"], "send")],
)
def test_a_command_whose_cluster_does_not_answer_says_so_in_one_line_and_exits_unavailable(
    tmp_path: Path, command: list[str], name: str
) -> None:
    """Each client a command started logged every failed connection to stderr, ~650 lines in half a minute
    for a worker, before it failed with a traceback. Run as a process: librdkafka writes to the descriptor."""
    records = tmp_path / "records.jsonl"
    records.write_text('{"kind": "Event"}\n')
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    env = {
        "OPSWARDEN_BOOTSTRAP_SERVERS": address,
        "OPSWARDEN_CONNECT_TIMEOUT_S": "2",
        "OPSWARDEN_DATA_DIR": str(tmp_path),
        "OPSWARDEN_METRICS_PORT": "0",
    }
    arguments = [argument.format(file=records) for argument in command]
    finished = run_command(*arguments, env=env)
    assert finished.returncode == EXIT_UNAVAILABLE == 69
    lines = finished.stderr.splitlines()
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith(f"opswarden {name}: no answer from the Kafka cluster at {address}")
    assert "OPSWARDEN_CONNECT_TIMEOUT_S" in lines[0]


def test_settings_librdkafka_refuses_end_a_command_as_configuration(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    env = {
        "OPSWARDEN_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "OPSWARDEN_SECURITY_PROTOCOL": "SSL",
        "OPSWARDEN_SSL_CAFILE": str(missing),
    }
    finished = run_command("topics", "create", env=env)
    assert finished.returncode == EXIT_CONFIG == 78
    lines = finished.stderr.splitlines()
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith("opswarden topics create: the Kafka client refuses the settings: ")
    assert "ssl.ca.location" in lines[0]


@pytest.mark.kafka
def test_a_cluster_that_answers_is_reachable(kafka_bootstrap: str) -> None:
    assert unreachable(Settings(bootstrap_servers=kafka_bootstrap), timeout_s=10.0) is None

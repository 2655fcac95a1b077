"""`opswarden worker`'s own command line, before any worker runs."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from streams import worker_command
from streams.cli import main
from streams.settings import EXIT_CONFIG, Settings
from tests.streams.worker_process import run_command


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
    assert "worker [OPTIONS]" in result.output  # after the program name, which `python -m pytest` changes


@pytest.mark.kafka
def test_a_worker_whose_metrics_port_is_taken_says_so_and_exits_as_misconfigured(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {
            "OPSWARDEN_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "OPSWARDEN_APP_ID": f"metrics-port-{port}",
            "OPSWARDEN_DATA_DIR": str(tmp_path),
            "OPSWARDEN_METRICS_PORT": str(port),
        }
        worker = run_command("worker", env=env)
    assert worker.returncode == EXIT_CONFIG
    assert f"opswarden worker: cannot serve metrics on 127.0.0.1:{port} (OPSWARDEN_METRICS_PORT): " in worker.stderr
    assert "Traceback" not in worker.stderr

"""`opswarden worker`'s own command line, before any worker runs."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from streams import worker_command
from streams.cli import main
from streams.settings import Settings


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

"""The command line's handling of configuration mistakes: what is wrong, one line a key, and EX_CONFIG."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ValidationError

from streams.cli import Commands, main
from streams.settings import EXIT_CONFIG


def test_a_config_file_that_does_not_validate_ends_a_command_with_its_path_and_keys(tmp_path: Path) -> None:
    config = tmp_path / "opswarden.yaml"
    config.write_text("authorization:\n  grace: banana\ncreep:\n  min_grants: -1\n")
    result = CliRunner().invoke(main, ["replay", "--config", str(config), str(config)])
    assert result.exit_code == EXIT_CONFIG == 78
    assert result.output.startswith(f"opswarden replay: {config}: invalid configuration:")
    assert "\n  authorization.grace: " in result.output
    assert "\n  creep.min_grants: " in result.output
    assert "Traceback" not in result.output


def test_settings_that_do_not_validate_are_named_by_their_variables_and_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPSWARDEN_PARTITIONS", "four")
    monkeypatch.setenv("OPSWARDEN_SASL_PASSWORD", "hunter2-do-not-print")
    monkeypatch.setenv("OPSWARDEN_SECURITY_PROTOCOL", "SASL_TLS")
    result = CliRunner().invoke(main, ["topics", "create"])
    assert result.exit_code == EXIT_CONFIG
    assert result.output.startswith("opswarden topics: invalid settings")
    assert "\n  OPSWARDEN_PARTITIONS: " in result.output
    assert "\n  OPSWARDEN_SECURITY_PROTOCOL: " in result.output
    assert "hunter2" not in result.output
    assert "four" not in result.output


class Other(BaseModel):
    count: int


def test_other_validation_errors_are_not_taken_for_settings() -> None:
    """A model other than the settings failing is a bug, and keeps its traceback."""
    group = Commands()

    @group.command("broken")
    def broken() -> None:
        Other.model_validate({"count": "many"})

    result = CliRunner().invoke(group, ["broken"])
    assert isinstance(result.exception, ValidationError)
    assert result.exit_code == 1

"""The interpreter `make` builds the virtualenv with: the distribution's optimized build when it can make one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def venv_command(tmp_path: Path, *assignments: str) -> str:
    """The command `make setup` would run first, for a virtualenv that does not exist yet. Run as a make of its
    own: under `make test` the variables an outer make exports would make it a sub-make, which prints where it is,
    and a `PYTHON` in the environment would stand in for the choice under test."""
    outer = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "PYTHON"}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "setup", f"VENV={tmp_path / 'venv'}", *assignments],
        cwd=ROOT,
        env={name: value for name, value in os.environ.items() if name not in outer},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()[0]


def fake_python(tmp_path: Path, exit_status: int) -> Path:
    """An executable standing in for the distribution's Python, whose capability check exits as told."""
    path = tmp_path / f"python-exits-{exit_status}"
    path.write_text(f"#!/bin/sh\nexit {exit_status}\n")
    path.chmod(0o755)
    return path


def test_distribution_python_is_taken_when_it_can_make_a_virtualenv_with_headers(tmp_path: Path) -> None:
    able = fake_python(tmp_path, 0)
    assert venv_command(tmp_path, f"DISTRO_PYTHON={able}") == f"{able} -m venv {tmp_path / 'venv'}"


def test_python3_is_taken_when_the_distribution_python_lacks_venv_or_headers(tmp_path: Path) -> None:
    unable = fake_python(tmp_path, 1)
    assert venv_command(tmp_path, f"DISTRO_PYTHON={unable}") == f"python3 -m venv {tmp_path / 'venv'}"


def test_python3_is_taken_when_there_is_no_distribution_python(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-python"
    assert venv_command(tmp_path, f"DISTRO_PYTHON={missing}") == f"python3 -m venv {tmp_path / 'venv'}"


def test_an_interpreter_named_on_the_command_line_wins(tmp_path: Path) -> None:
    able = fake_python(tmp_path, 0)
    command = venv_command(tmp_path, f"DISTRO_PYTHON={able}", "PYTHON=/opt/python/bin/python3")
    assert command == f"/opt/python/bin/python3 -m venv {tmp_path / 'venv'}"

"""`opswarden` command line: one click group, each command in its own module."""

from __future__ import annotations

import click

from streams.parse_command import parse_command
from streams.replay_command import replay_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opswarden")
def main() -> None:
    """opswarden: watch what automation changes in production."""


main.add_command(parse_command)
main.add_command(replay_command)

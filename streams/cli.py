"""`opswarden` command line: one click group, each command in its own module."""

from __future__ import annotations

import click

from streams.demo_command import demo_command
from streams.evaluate_command import evaluate_command
from streams.parse_command import parse_command
from streams.replay_command import replay_command
from streams.send_command import send_command
from streams.topics_command import topics_command
from streams.worker_command import worker_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opswarden")
def main() -> None:
    """opswarden: watch what automation changes in production."""


main.add_command(parse_command)
main.add_command(replay_command)
main.add_command(topics_command)
main.add_command(worker_command)
main.add_command(send_command)
main.add_command(evaluate_command)
main.add_command(demo_command)

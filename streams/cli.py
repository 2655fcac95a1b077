"""`opswarden` command line: one click group, each command in its own module."""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError

from models.config import ConfigError
from streams.demo_command import demo_command
from streams.evaluate_command import evaluate_command
from streams.parse_command import parse_command
from streams.replay_command import replay_command
from streams.send_command import send_command
from streams.settings import EXIT_CONFIG, Settings, settings_problem
from streams.topics_command import topics_command
from streams.worker_command import worker_command


class Commands(click.Group):
    """A configuration file or an OPSWARDEN_* setting that does not validate ends a command with what is wrong
    with it, one line a key, and EX_CONFIG: a traceback buried the message, and a detection engineer tuning
    the config meets it often."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            problem = str(exc)
        except ValidationError as exc:
            if exc.title != Settings.__name__:
                raise
            problem = settings_problem(exc)
        click.echo(f"opswarden {ctx.invoked_subcommand}: {problem}", err=True)
        ctx.exit(EXIT_CONFIG)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
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

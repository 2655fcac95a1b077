"""`opswarden worker`: Faust's worker command around opswarden's app, against any Kafka cluster.

Every argument is passed to `faust worker` (`--loglevel`, `--web-port`, ...). Faust starts its web server
even when the app disables it, so `--without-web` is added unless `--with-web` is given. `--help` lists them
without building the runtime, which connects to the cluster.
"""

from __future__ import annotations

import logging
import sys
from importlib.metadata import version
from pathlib import Path

import click
import faust
import yaml
from confluent_kafka import KafkaException

import compiled
from models.config import ConfigError
from models.registry import WorkflowRegistry
from streams import metrics
from streams.agents import register_agents
from streams.app import Runtime, build_runtime
from streams.config_loader import load_config_file
from streams.outputs import OutputProducer
from streams.processes import tune_gc
from streams.processing import workflow_message
from streams.reachability import require_cluster
from streams.settings import Settings
from streams.topics import anchor_engine_offsets

log = logging.getLogger(__name__)

HELP = """\
opswarden worker: its input stage, the engines, and findings and ledger entries to Kafka.

  Settings (bootstrap servers, TLS, SASL, topic names, partitions, the config and registry files, the metrics
  port, 9464 by default) come from OPSWARDEN_* environment variables: see the README's Configuration and
  `streams/settings.py`. The options below are `faust worker`'s; unlike Faust's default, the web server is off
  unless --with-web is given.
"""

#: The exit status of a worker stopped by a failure to deliver outputs or write state (sysexits' EX_SOFTWARE).
EXIT_FAILED = 70


def seed_registry(settings: Settings, path: Path) -> int:
    """Publish the registry YAML to the compacted registry topic, one workflow per message keyed by name."""
    registry = WorkflowRegistry.model_validate(yaml.safe_load(path.read_text()) or {})
    producer = OutputProducer(settings)
    for workflow in registry.workflows:
        producer.produce(settings.topics.name("registry"), workflow_message(workflow), workflow.name)
    producer.close()
    return len(registry.workflows)


def prepare_worker(settings: Settings) -> Runtime:
    """The runtime with its agents, the registry seeded and metrics served: everything but the event loop."""
    config = load_config_file(settings.config_file)
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes the directory itself, not its parents
    runtime = build_runtime(settings, config)
    register_agents(runtime)
    if settings.registry_file is not None:
        seed_registry(settings, settings.registry_file)
    try:
        anchor_engine_offsets(settings)  # topics created by other means than `opswarden topics create`
    except KafkaException as exc:
        log.warning("could not check the engines' starting offsets: %s", exc)
    metrics.install_faust_sensors(runtime.app)
    metrics.set_build_info(version("opswarden"), config, compiled.mode())
    if compiled.mode() != "compiled":
        log.warning("per-event code: %s", compiled.summary())
    if settings.metrics_port:
        host = "127.0.0.1" if _loopback(settings) else "0.0.0.0"
        try:
            metrics.serve_metrics(settings.metrics_port, host, runtime.health)
        except OSError as exc:  # another process holds the port: a setting to change, said in a line
            raise ConfigError(
                f"cannot serve metrics on {host}:{settings.metrics_port} (OPSWARDEN_METRICS_PORT): {exc.strerror}"
            ) from exc
    tune_gc()
    return runtime


def print_help() -> None:
    """Ours, then Faust's worker options, without building the runtime: that connects to the cluster (its
    producer, the engines' offsets), and help must come at once, with or without one."""
    click.echo(HELP)
    sys.argv = ["opswarden", "worker", "--help"]
    try:
        faust.App("opswarden").main()  # a bare app: Faust's command line needs one, and it connects to nothing
    except SystemExit as done:
        if done.code:
            raise


def _loopback(settings: Settings) -> bool:
    return all(host.strip().startswith(("127.", "localhost")) for host in settings.bootstrap_servers.split(","))


@click.command(
    "worker",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("faust_args", nargs=-1, type=click.UNPROCESSED)
def worker_command(faust_args: tuple[str, ...]) -> None:
    """Run a worker (settings from OPSWARDEN_* variables; FAUST_ARGS go to `faust worker`)."""
    if "--help" in faust_args:  # `-h` is Faust's `--web-host`
        print_help()
        return
    settings = Settings()
    require_cluster(settings, "worker")
    runtime = prepare_worker(settings)
    web = "--with-web" in faust_args
    sys.argv = ["opswarden", "worker", *faust_args, *([] if web else ["--without-web"])]
    try:
        runtime.app.main()
    except SystemExit as stopped:
        if runtime.failure is not None:  # stopped by `Runtime.fail`: say so to the process supervisor
            raise SystemExit(EXIT_FAILED) from runtime.failure
        raise stopped

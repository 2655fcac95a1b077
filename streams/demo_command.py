"""`opswarden demo` (what `make run` starts): the whole pipeline on one machine, findings printed live.

An embedded broker on loopback, the topics, one worker with its metrics endpoint, and the built-in
scenario fed in: an authorized maintenance window, an unauthorized firewall change, a change outside its
window, a remediation loop and a creeping identity. Runs until Ctrl-C; everything it started stops then.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from rich.console import Console
from rich.table import Table

from detectors.scenario import demo_scenario, demo_workflows
from streams.embedded_broker import BrokerUnavailable, free_port, start_embedded_broker
from streams.native_records import scenario_messages
from streams.outputs import OutputProducer
from streams.settings import Settings
from streams.topics import create_topics

#: Demo tuning: one partition (Tansu's group join is slow enough), short group timings, and a quiet stream's
#: event time running at 10 minutes a second so the last pending changes are judged within seconds.
DEMO_ENV = {
    "OPSWARDEN_APP_ID": "opswarden-demo",
    "OPSWARDEN_PARTITIONS": "1",
    "OPSWARDEN_IDLE_AFTER_S": "2",
    "OPSWARDEN_IDLE_CLOCK_RATE": "600",
    "OPSWARDEN_TICK_INTERVAL_S": "0.5",
    "OPSWARDEN_SESSION_TIMEOUT_S": "6",
    "OPSWARDEN_HEARTBEAT_INTERVAL_S": "1",
    "OPSWARDEN_REBALANCE_TIMEOUT_S": "3",
}
SEVERITY_STYLE = {"Critical": "bold red", "High": "red", "Medium": "yellow", "Low": "cyan", "Informational": "dim"}


class Stop(Exception):
    """Ctrl-C or SIGTERM: leave the loop and clean up."""


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise Stop


def finding_row(finding: dict[str, Any]) -> tuple[str, ...]:
    info = finding.get("finding_info", {})
    moment = time.strftime("%Y-%m-%d %H:%M", time.gmtime(finding.get("time", 0) / 1000))
    return (
        moment,
        str(finding.get("activity_name", "")),
        str((info.get("types") or ["?"])[0]),
        str(finding.get("severity", "")),
        str(finding.get("message", "")),
    )


def metrics_port_for(preferred: int) -> int:
    """`preferred` when it is free on loopback, else a free port: a second demo, or a worker already running
    here, holds 9464, and the demo's worker stopped at once on it."""
    if preferred == 0:
        return 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def print_header(console: Console, settings: Settings, metrics_port: int) -> None:
    topics = settings.topics
    console.print(f"[bold]opswarden demo[/] broker [green]{settings.bootstrap_servers}[/] (embedded Tansu, memory)")
    console.print(f"metrics  http://127.0.0.1:{metrics_port}/metrics")
    console.print("inputs   " + ", ".join([*topics.sources(), topics.name("authorizations"), topics.name("registry")]))
    console.print("outputs  " + ", ".join(topics.name(n) for n in ("findings", "ledger", "deadletter")))
    console.print(
        f"send your own: opswarden send --bootstrap {settings.bootstrap_servers} {topics.name('cloudtrail')} FILE.json"
    )
    console.print("Ctrl-C to stop.\n")


def follow_findings(console: Console, settings: Settings, worker: subprocess.Popen[bytes]) -> None:
    """Print every finding as it arrives, until Stop or the worker exits."""
    topic = settings.topics.name("findings")
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": "opswarden-demo-console"})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.partitions)])
    table_columns = ("event time", "activity", "finding", "severity", "what happened")
    console.print(Table(*table_columns, box=None, show_edge=False, pad_edge=False))
    try:
        while worker.poll() is None:
            message = consumer.poll(0.25)
            if message is None or message.error() is not None:
                continue
            row = finding_row(orjson.loads(message.value() or b"{}"))
            console.print("  ".join(row[:4]), row[4], style=SEVERITY_STYLE.get(row[3], ""), highlight=False)
    finally:
        consumer.close()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", "from streams.cli import main; main()", "worker", "--loglevel", "warn"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # the demo stops it on Ctrl-C, after the findings consumer
        )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def feed_scenario(settings: Settings, seed: int) -> None:
    """The demo's workflows into the registry topic (every automation in the story has an owner), then the story."""
    producer = OutputProducer(settings)
    for workflow in demo_workflows():
        registry_entry = orjson.dumps(workflow.model_dump(mode="json", by_alias=True, exclude_none=True))
        producer.produce(settings.topics.name("registry"), registry_entry, workflow.name)
    for topic, key, value in scenario_messages(demo_scenario(seed), settings.topics):
        producer.produce(topic, value, key)
    producer.close()


@click.command("demo")
@click.option("--seed", default=7, show_default=True, help="Scenario seed.")
@click.option("--metrics-port", default=9464, show_default=True, help="Worker metrics port (0: none).")
@click.option(
    "--feed-only",
    is_flag=True,
    help="Only send the scenario to the cluster OPSWARDEN_BOOTSTRAP_SERVERS names (its topics must exist).",
)
def demo_command(seed: int, metrics_port: int, feed_only: bool) -> None:
    """Run broker, worker and the built-in scenario locally; print findings as they arrive."""
    if feed_only:
        settings = Settings()
        feed_scenario(settings, seed)
        Console().print(f"scenario (seed {seed}) sent to {settings.bootstrap_servers}")
        return
    console = Console()
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    workdir = Path(tempfile.mkdtemp(prefix="opswarden-demo-"))
    try:
        broker = start_embedded_broker(workdir / "broker.log")
    except BrokerUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    worker: subprocess.Popen[bytes] | None = None
    if (port := metrics_port_for(metrics_port)) != metrics_port:
        console.print(f"[yellow]port {metrics_port} is in use (another demo or worker?): metrics on {port}")
        metrics_port = port
    try:
        env = os.environ | DEMO_ENV
        env |= {
            "OPSWARDEN_BOOTSTRAP_SERVERS": broker.bootstrap,
            "OPSWARDEN_DATA_DIR": str(workdir / "data"),
            "OPSWARDEN_METRICS_PORT": str(metrics_port),
        }
        settings = Settings(
            bootstrap_servers=broker.bootstrap,
            app_id=DEMO_ENV["OPSWARDEN_APP_ID"],
            partitions=int(DEMO_ENV["OPSWARDEN_PARTITIONS"]),
        )
        create_topics(settings)
        worker = start_worker(env, workdir / "worker.log")
        feed_scenario(settings, seed)
        print_header(console, settings, metrics_port)
        follow_findings(console, settings, worker)
        console.print(f"[red]the worker stopped ({worker.returncode}); its log: {workdir / 'worker.log'}")
        sys.exit(1)
    except Stop:
        console.print("\nstopping")
    finally:
        if worker is not None:
            stop_process(worker)
        broker.stop()

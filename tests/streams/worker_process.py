"""`opswarden worker` subprocesses on a real Kafka broker, for the tests that run the streaming runtime.

`WorkerCluster.create` gives a test its own topic prefix and consumer group (so tests cannot see each other's
messages), creates the topics and writes the detection config; `start_worker` runs `opswarden worker` with its
settings in `OPSWARDEN_*` variables; `stop`, which the test's teardown must call, ends every worker it started.
A worker also dies with the test process, so a killed test run cannot leave one behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml

from models.config import OpswardenConfig, load_config
from streams.outputs import OutputProducer
from streams.settings import Settings, TopicNames
from streams.topics import create_topics

OPSWARDEN = Path(sys.executable).parent / "opswarden"
#: Short consumer-group timings and a fast tick: a worker joins within seconds on a one-node broker, and a
#: partition counts as quiet (its idle clock starts) two seconds after its input stops.
QUICK_WORKER = {
    "OPSWARDEN_IDLE_AFTER_S": "2",
    "OPSWARDEN_TICK_INTERVAL_S": "0.5",
    "OPSWARDEN_SESSION_TIMEOUT_S": "6",
    "OPSWARDEN_HEARTBEAT_INTERVAL_S": "1",
    "OPSWARDEN_REBALANCE_TIMEOUT_S": "6",
}
#: Held until the stream goes quiet, then released in event-time order: the whole input is one batch.
WHOLE_INPUT = {"OPSWARDEN_REORDER_WINDOW_S": "1e9", "OPSWARDEN_IDLE_CLOCK_RATE": "1e9"}

Produced = tuple[str, str | None, bytes]


def run_command(*arguments: str, env: dict[str, str], timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    """One `opswarden` command run to its end as a process, `env` added to ours, its stdout and stderr kept as
    text: librdkafka writes to the descriptors, which a command run in-process would not show."""
    return subprocess.run(
        [str(OPSWARDEN), *arguments], env=os.environ | env, capture_output=True, text=True, timeout=timeout_s
    )


def _die_with_parent() -> None:
    """Runs in the forked child: have Linux kill the worker if the test process dies without stopping it."""
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def running(pid: int) -> bool:
    """Whether `pid` is a live process (not gone, not a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@dataclass
class WorkerCluster:
    """One test's topics, worker settings and worker processes."""

    bootstrap: str
    settings: Settings
    env: dict[str, str]
    logs: Path
    config: OpswardenConfig = field(default_factory=OpswardenConfig)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        bootstrap: str,
        workdir: Path,
        config: dict[str, Any],
        partitions: int = 4,
        topics: Callable[[Settings], object] = create_topics,
        **env: str,
    ) -> Self:
        """Fresh topics on `bootstrap` (made by `topics`) and the settings for workers with `config`; `env` adds
        or overrides `OPSWARDEN_*` variables (the metrics endpoint is off unless `OPSWARDEN_METRICS_PORT` is given)."""
        prefix = f"t{uuid.uuid4().hex[:10]}-"
        config_file = workdir / "opswarden.yaml"
        config_file.write_text(yaml.safe_dump(config))
        variables = {
            "OPSWARDEN_BOOTSTRAP_SERVERS": bootstrap,
            "OPSWARDEN_TOPICS__PREFIX": prefix,
            "OPSWARDEN_APP_ID": f"{prefix}opswarden",
            "OPSWARDEN_PARTITIONS": str(partitions),
            "OPSWARDEN_CONFIG_FILE": str(config_file),
            "OPSWARDEN_DATA_DIR": str(workdir / "state" / "data"),  # a parent the worker must make
            "OPSWARDEN_METRICS_PORT": "0",
            **QUICK_WORKER,
            **env,
        }
        settings = Settings(
            bootstrap_servers=bootstrap,
            app_id=f"{prefix}opswarden",
            topics=TopicNames(prefix=prefix),
            partitions=partitions,
        )
        topics(settings)
        return cls(bootstrap, settings, os.environ | variables, workdir, load_config(config))

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"worker-{len(self.workers)}.log").open("wb") as log:
            worker = subprocess.Popen(
                [str(OPSWARDEN), "worker", "--loglevel", "warn"],
                env=self.env | env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self.workers.append(worker)
        return worker

    def worker_log(self, number: int = 0, tail: int = 4000) -> str:
        """The end of a worker's output, for an assertion message."""
        return (self.logs / f"worker-{number}.log").read_text(errors="replace")[-tail:]

    def worker_logs(self, tail: int = 3000) -> str:
        """The end of every worker's output so far, each under its file name."""
        logs = sorted(self.logs.glob("worker-*.log"))
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-tail:]}" for log in logs)

    def produce(self, messages: Sequence[Produced], *, per_second: float | None = None) -> None:
        """In order, into partition 0 of each topic: ties in event time then arrive in input order, as in replay."""
        producer = OutputProducer(self.settings)
        started = time.monotonic()
        for count, (topic, key, value) in enumerate(messages):
            producer.produce(topic, value, key, partition=0)
            if per_second is not None and count % 500 == 0:
                time.sleep(max(0.0, started + count / per_second - time.monotonic()))
        producer.close()

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

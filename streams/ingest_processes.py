"""The input stage in processes of its own, beside the worker's event loop (`OPSWARDEN_INGEST_PROCESSES`).

Parsing and routing input keeps no state and costs about as much CPU as the engines; in the worker's own
event loop the two stages share one core, since Python runs one thread at a time. So the worker starts this
many child processes instead, each a `SourceReader` in the worker's `<app id>-ingest` consumer group: the
input stage then runs on other cores, and Kafka spreads the input partitions over the children (and over
every worker's children) as it does for any consumer group.

Each child dies with its worker (Linux's parent-death signal, so also when the worker is killed), is started
again if it exits on its own, and relays its metrics to the worker's endpoint every second
(`streams.metrics.MergedRegistry`). Children start with `spawn`: forking a process that already runs
threads (Faust's consumer, librdkafka) is unsafe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from detectors.catalog import build_detectors
from models.config import OpswardenConfig
from streams import metrics
from streams.app import build_publisher, build_source_reader
from streams.processes import die_with_parent, tune_gc
from streams.settings import Settings

log = logging.getLogger(__name__)

#: How often a child sends its metrics, and the worker checks its children.
RELAY_EVERY_S = 1.0
#: A child that exits is started again, but no sooner than this after its previous start.
RESTART_AFTER_S = 5.0
#: How long a child may take to leave its consumer group when the worker stops.
STOP_TIMEOUT_S = 10.0


def ingest_main(settings: Settings, config: OpswardenConfig, relay: Connection, parent: int, slot: int) -> None:
    """A child process: one source reader until SIGTERM (from the worker, or Linux when the worker dies)."""
    die_with_parent(signal.SIGTERM, parent)
    tune_gc()
    process = metrics.input_process_label(slot)
    metrics.time_gc_pauses(process)
    asyncio.run(_read_sources(settings, config, relay, metrics.CpuMeter(process)))


async def _read_sources(settings: Settings, config: OpswardenConfig, relay: Connection, cpu: metrics.CpuMeter) -> None:
    publisher = build_publisher(settings)
    reader = build_source_reader(settings, config, publisher, build_detectors(config))
    reading = asyncio.create_task(reader.run())
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, reading.cancel)  # leave the group cleanly
    relaying = asyncio.create_task(_relay_metrics(relay, cpu))
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await reading
    finally:
        relaying.cancel()
        publisher.producer.close()
        cpu.record()
        with contextlib.suppress(OSError):  # the worker may be gone already
            relay.send(metrics.relay_snapshot())


async def _relay_metrics(relay: Connection, cpu: metrics.CpuMeter) -> None:
    while True:
        await asyncio.sleep(RELAY_EVERY_S)
        cpu.record()
        relay.send(metrics.relay_snapshot())


@dataclass
class Child:
    process: BaseProcess
    pid: int
    relay: Connection
    started: float


class IngestProcesses:
    """Runs `count` input-stage children for one worker: started with it, restarted, stopped with it."""

    def __init__(self, settings: Settings, config: OpswardenConfig, count: int) -> None:
        self.settings = settings
        self.config = config
        self.count = count
        self.children: dict[int, Child] = {}
        self._context = multiprocessing.get_context("spawn")

    async def run(self) -> None:
        """A task of the worker's app: ends (and stops the children) when the worker stops."""
        try:
            for slot in range(self.count):
                self._start(slot)
            while True:
                await asyncio.sleep(RELAY_EVERY_S)
                self.check()
        finally:
            self.stop()

    def _start(self, slot: int) -> None:
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=ingest_main,
            args=(self.settings, self.config, sender, os.getpid(), slot),
            name=f"opswarden-ingest-{slot}",
            daemon=True,
        )
        process.start()
        sender.close()  # the child holds the other end: the pipe reports EOF when the child is gone
        assert process.pid is not None  # set by start()
        self.children[slot] = Child(process, process.pid, receiver, time.monotonic())

    def check(self) -> None:
        """Take the children's metrics; start again any child that exited (its counters stay counted)."""
        for slot, child in list(self.children.items()):
            self._drain(child)
            if child.process.is_alive():
                continue
            metrics.SERVED.retire(child.pid)
            if time.monotonic() - child.started < RESTART_AFTER_S:
                continue
            log.error("ingest process %s exited with %s; starting it again", child.process.name, child.process.exitcode)
            metrics.record_ingest_restart()
            child.relay.close()
            self._start(slot)

    @staticmethod
    def _drain(child: Child) -> None:
        with contextlib.suppress(EOFError, OSError):
            while child.relay.poll():
                metrics.SERVED.update(child.pid, child.relay.recv())

    def stop(self) -> None:
        """SIGTERM every child (each leaves its group; a batch not yet committed is read again), then wait;
        kill what lingers."""
        for child in self.children.values():
            if child.process.is_alive():
                child.process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in self.children.values():
            child.process.join(max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                child.process.kill()
                child.process.join()
            self._drain(child)
            metrics.SERVED.retire(child.pid)
            child.relay.close()
        self.children.clear()

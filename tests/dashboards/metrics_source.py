"""Where the end-to-end test's metrics come from: a live worker's endpoint plus a way to play one round of a story.

`live_worker_source` runs `opswarden worker` on the real Kafka broker, with its own topics and its metrics on a
free loopback port, and the demo's workflow registry seeded at start. Each round produces the demo story (an
authorized maintenance window, an unauthorized firewall change, a change outside its window, a remediation loop,
a creeping identity) with fresh ids and moved to end at the moment it is played, plus undecodable CloudTrail
records for the dead-letter topic; the worker judges it as one batch (whole-input settings) and its quiet
clock then runs time on, so every pending change is judged, episodes close and idle keys are evicted.
"""

from __future__ import annotations

import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from detectors.scenario import demo_scenario, demo_workflows
from models.authorization import AuthorizationRecord, FixedWindow
from models.events import ActionEvent, ChangeEvent
from models.parsers.base import Parsed, item_time
from models.registry import WorkflowRegistry
from streams.embedded_broker import free_port
from streams.native_records import scenario_messages
from streams.replay import replay_items
from tests.streams.worker_process import WHOLE_INPUT, WorkerCluster

#: A suppression rule the story matches (its maintenance reboot outside the window), so suppressed findings move.
CONFIG = {
    "suppressions": [
        {"id": "overrun-maintenance", "finding_type": "out_of_window_change", "reason": "known overrun", "owner": "soc"}
    ]
}
#: An undecodable CloudTrail record (dead-lettered as `not_json`).
GARBAGE = b'{"eventName": "RunInstances", "eventTime": '
#: Garbage records per round: more than OpswardenDeadLettersRising's 10 per topic and reason in 10 minutes.
GARBAGE_PER_ROUND = 12
WAIT_S = 60
#: Two worker ticks (OPSWARDEN_TICK_INTERVAL_S): the timer that records the engines' state ran in between.
SETTLE_S = 1.0

#: Sample values summed by sample name and by (name, `type` label); a missing sample counts as zero.
Totals = defaultdict[tuple[str, str], float]


@dataclass
class MetricsSource:
    """A /metrics endpoint on loopback and what the scenario behind it is expected to exercise."""

    target: str
    play_round: Callable[[], None]
    #: Alert rules whose expression the scenario makes true; every other rule must return nothing.
    firing_alerts: frozenset[str]


def scrape(target: str) -> Totals:
    """The endpoint's samples, e.g. `totals["opswarden_findings_issued_total", ""]` is the number of findings issued
    and `totals["opswarden_findings_issued_total", "remediation_loop"]` the loops among them."""
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=10) as response:
        text = response.read().decode()
    totals: Totals = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name, ""] += sample.value
            if "type" in sample.labels:
                totals[sample.name, sample.labels["type"]] += sample.value
    return totals


def story_round(number: int, now: datetime) -> list[Parsed]:
    """The demo story with every id suffixed by the round (so no dedupe makes a later round a no-op), and every
    event time and authorization window moved so that its last event happens at `now`."""
    story = demo_scenario()
    shift = now - max(moment for moment in map(item_time, story) if moment is not None)
    return [_moved(item, f"-r{number}", shift) for item in story]


def _moved(item: Parsed, suffix: str, shift: timedelta) -> Parsed:
    if isinstance(item, ChangeEvent):
        return item.model_copy(update={"event_id": item.event_id + suffix, "event_time": item.event_time + shift})
    if isinstance(item, ActionEvent):
        run_id = item.run_id + suffix
        return item.model_copy(update={"id": item.id + suffix, "run_id": run_id, "time": item.time + shift})
    if isinstance(item, AuthorizationRecord) and isinstance(item.window, FixedWindow) and not item.status_changes:
        window = FixedWindow(start=item.window.start + shift, end=item.window.end + shift)
        return item.model_copy(update={"id": item.id + suffix, "window": window})
    raise AssertionError(f"the demo story has an item a round cannot move: {item!r}")


class LiveWorker:
    """One `opswarden worker` process on its own topics, and how to read its progress off its metrics."""

    def __init__(self, cluster: WorkerCluster, target: str, registry: WorkflowRegistry) -> None:
        self.cluster = cluster
        self.target = target
        self.registry = registry
        self.rounds_played = 0

    def produce_garbage(self, count: int) -> None:
        self.cluster.produce([(self.cluster.settings.topics.name("cloudtrail"), None, GARBAGE)] * count)

    def wait_until(self, done: Callable[[Totals], bool], what: str, poll_s: float = 0.25) -> None:
        """Until `done(scrape)` holds; fails with the worker's log if the worker exits or WAIT_S passes."""
        worker = self.cluster.workers[0]
        deadline = time.monotonic() + WAIT_S
        while True:
            assert worker.poll() is None, f"the worker exited ({worker.returncode}):\n{self.cluster.worker_log()}"
            try:
                if done(scrape(self.target)):
                    return
            except OSError:
                pass  # not serving yet
            assert time.monotonic() < deadline, f"{what} not within {WAIT_S}s; worker log:\n{self.cluster.worker_log()}"
            time.sleep(poll_s)

    def play_round(self) -> None:
        """Produce one round; return once the worker has consumed it, judged every change, counted every type of
        finding replay gives for it, and its timer has recorded the state the round left (evictions included)."""
        story = story_round(self.rounds_played, datetime.now(UTC))
        outputs, _engine = replay_items(story, self.cluster.config, self.registry)
        types = {finding.finding_type for finding in outputs.findings}
        before = scrape(self.target)
        self.produce_garbage(GARBAGE_PER_ROUND)
        self.cluster.produce(scenario_messages(story, self.cluster.settings.topics))

        def played(now: Totals) -> bool:
            def grew(name: str, kind: str = "") -> float:
                return now[name, kind] - before[name, kind]

            return (
                grew("opswarden_events_consumed_total") == len(story) + GARBAGE_PER_ROUND
                and grew("opswarden_dead_letters_total") == GARBAGE_PER_ROUND
                and grew("opswarden_changes_judged_total") == len(outputs.ledger)
                and all(
                    grew("opswarden_findings_issued_total", kind) + grew("opswarden_findings_suppressed_total", kind)
                    for kind in types
                )
            )

        self.wait_until(played, f"round {self.rounds_played} (consumed, dead-lettered, judged, {sorted(types)} issued)")
        last: dict[tuple[str, str], float] = {}

        def settled(now: Totals) -> bool:
            nonlocal last
            previous, last = last, {key: value for key, value in now.items() if _settles(key[0])}
            return last == previous

        self.wait_until(settled, f"the worker's metrics settling after round {self.rounds_played}", poll_s=SETTLE_S)
        self.rounds_played += 1


def _settles(name: str) -> bool:
    """opswarden's own series, which stop moving once a round is done (Faust's, consumer lag, CPU time, garbage
    collections and state writes move with the worker's ticks)."""
    return name.startswith("opswarden_") and not name.startswith(
        (
            "opswarden_faust_",
            "opswarden_consumer_lag",
            "opswarden_cpu_seconds",
            "opswarden_gc_pause",
            "opswarden_state_write",
        )
    )


@contextmanager
def live_worker_source(bootstrap: str, workdir: Path) -> Iterator[MetricsSource]:
    """`opswarden worker` on `bootstrap`, ready (it has dead-lettered a first garbage record), and its rounds.

    The first garbage record also starts the dead-letter series before Prometheus first scrapes it, so that
    `increase()` sees every garbage record of the first round (it cannot see a series' first value as one).
    """
    registry = WorkflowRegistry(workflows=demo_workflows())
    registry_file = workdir / "registry.yaml"
    registry_file.write_text(yaml.safe_dump(registry.model_dump(mode="json", by_alias=True, exclude_none=True)))
    port = free_port()
    cluster = WorkerCluster.create(
        bootstrap,
        workdir,
        CONFIG,
        partitions=1,
        OPSWARDEN_METRICS_PORT=str(port),
        OPSWARDEN_REGISTRY_FILE=str(registry_file),
        **WHOLE_INPUT,
    )
    try:
        cluster.start_worker()
        worker = LiveWorker(cluster, f"127.0.0.1:{port}", registry)
        worker.produce_garbage(1)
        worker.wait_until(lambda now: now["opswarden_dead_letters_total", ""] == 1, "opswarden_dead_letters_total at 1")
        source = MetricsSource(
            target=worker.target,
            play_round=worker.play_round,
            firing_alerts=frozenset(
                {
                    "OpswardenUnauthorizedProductionChange",
                    "OpswardenRemediationLoopActive",
                    "OpswardenPermissionCreep",
                    "OpswardenDeadLettersRising",
                    # a round's story ends at `now` but starts hours earlier, and its findings are published
                    # when it ends: hours after their events, far past the one-hour p99 the rule allows
                    "OpswardenEndToEndLagHigh",
                }
            ),
        )
        yield source
    finally:
        cluster.stop()

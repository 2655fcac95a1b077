"""Every PromQL expression in the dashboards and alert rules, run against a real Prometheus scraping opswarden.

A live `opswarden worker` runs on the Kafka broker with its metrics on a free loopback port (metrics_source.py).
Prometheus (the Debian binary) starts on another free loopback port with the alert rules loaded and scrapes the
worker every second; once it has seen the worker idle (its series at their starting values), the source plays
one round of the demo story, with some garbage for the dead-letter topic. Then each expression must parse,
every dashboard query must return data, and they may use only metric names the endpoint exposes: renaming a
metric in code and not in a dashboard or rule fails here. The alerts the story should raise must fire on its
first events, as after a worker start, and no other.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from streams.embedded_broker import free_port
from tests.dashboards.conftest import RULES_FILE, require_binary
from tests.dashboards.metrics_source import MetricsSource, live_worker_source
from tests.dashboards.promql import Expression, all_expressions, dashboard_expressions, rule_expressions

pytestmark = pytest.mark.prometheus

SCRAPE_SECONDS = 1
JOB = "opswarden"
#: Sample names a metric family of each type exposes, from its family name.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "info": ("_info",),
    "summary": ("", "_sum", "_count", "_created"),
}


class Prometheus:
    """A Prometheus server process and the bits of its HTTP API the test reads."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def query(self, promql: str) -> dict[str, Any]:
        """The API's answer; a parse error comes back as HTTP 400 with status `error`, returned as is."""
        url = f"{self.base_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                answer: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as error:
            answer = json.loads(error.read())
        return answer

    def scrapes(self) -> int:
        result = self.query(f'count_over_time(up{{job="{JOB}"}}[10m])')["data"]["result"]
        return int(float(result[0]["value"][1])) if result else 0

    def wait_for_scrapes(self, count: int, timeout: float = 30) -> None:
        target = self.scrapes() + count
        deadline = time.monotonic() + timeout
        while self.scrapes() < target:
            assert time.monotonic() < deadline, f"Prometheus did not scrape {JOB} {count} more times"
            time.sleep(0.25)


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    return require_binary("prometheus")


@pytest.fixture(scope="module")
def metrics_source(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricsSource]:
    with live_worker_source(kafka_bootstrap, tmp_path_factory.mktemp("worker")) as source:
        yield source


@pytest.fixture(scope="module")
def prometheus(
    prometheus_binary: str, metrics_source: MetricsSource, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """Started after the binary is found (a missing one skips before any broker or worker starts)."""
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
        "rule_files": [str(RULES_FILE)],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [metrics_source.target]}]}],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{free_port()}"
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            prometheus_binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={address}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Prometheus(f"http://{address}")
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (workdir / "prometheus.log").read_text()
            try:
                urllib.request.urlopen(f"{server.base_url}/-/ready", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "Prometheus did not become ready"
                time.sleep(0.2)
        server.wait_for_scrapes(2)
        metrics_source.play_round()
        server.wait_for_scrapes(2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def exposed_metric_names(target: str) -> set[str]:
    """Every sample name the endpoint exposes or declares (a labelled metric with no children yet included)."""
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=10) as response:
        text = response.read().decode()
    names = {"up"}  # Prometheus adds it to every scrape
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def test_every_expression_parses_and_evaluates(prometheus: Prometheus) -> None:
    failures = []
    for expression in all_expressions():
        answer = prometheus.query(expression.for_prometheus())
        if answer["status"] != "success":
            failures.append(f"{expression.where}: {answer.get('error')}")
    assert not failures, "\n".join(failures)


def test_dashboard_queries_return_data(prometheus: Prometheus) -> None:
    empty = []
    for expression in dashboard_expressions():
        if not prometheus.query(expression.for_prometheus())["data"]["result"]:
            empty.append(f"{expression.where}: {expression.promql}")
    assert not empty, "queries with no data:\n" + "\n".join(empty)


def test_alert_expressions_match_the_scenario(prometheus: Prometheus, metrics_source: MetricsSource) -> None:
    def fires(expression: Expression) -> bool:
        return bool(prometheus.query(expression.for_prometheus())["data"]["result"])

    firing = {expression.where.removeprefix("rule ") for expression in rule_expressions() if fires(expression)}
    assert firing == metrics_source.firing_alerts


def test_prometheus_loaded_every_rule_healthy(prometheus: Prometheus) -> None:
    groups = prometheus.get("/api/v1/rules")["data"]["groups"]
    loaded = {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}
    assert set(loaded) == {expression.where.removeprefix("rule ") for expression in rule_expressions()}
    assert set(loaded.values()) <= {"ok", "unknown"}


def test_every_metric_name_used_exists(prometheus: Prometheus, metrics_source: MetricsSource) -> None:
    exposed = exposed_metric_names(metrics_source.target)
    missing = {
        f"{expression.where}: {name}"
        for expression in all_expressions()
        for name in expression.metric_names()
        if name not in exposed
    }
    assert not missing, "metric names not exposed by opswarden:\n" + "\n".join(sorted(missing))


def test_cpu_and_collections_are_served_for_the_worker_and_its_input_process(prometheus: Prometheus) -> None:
    """The input-stage process's CPU and garbage collections reach Prometheus through the worker's endpoint, under
    its own label."""
    result = prometheus.query("opswarden_cpu_seconds_total")["data"]["result"]
    spent = {series["metric"]["process"]: float(series["value"][1]) for series in result}
    assert set(spent) == {"worker", "input-0"}
    assert all(seconds > 0 for seconds in spent.values()), spent
    result = prometheus.query("opswarden_gc_pause_seconds_count")["data"]["result"]
    timed = {(series["metric"]["process"], series["metric"]["generation"]) for series in result}
    assert timed == {(process, generation) for process in ("worker", "input-0") for generation in "012"}

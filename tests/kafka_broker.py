"""Pytest plugin: a real Kafka broker for the tests that need one.

`kafka_bootstrap` uses the cluster named by KAFKA_BOOTSTRAP when set, otherwise starts one Apache Kafka 4.x
broker for the whole session through scripts/kafka_broker.py. A broker that cannot be had fails the run
under CI=true (so CI never goes green without the Kafka tests) and skips them elsewhere.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # confluent_kafka.admin re-exports it, undeclared for mypy

BROKER_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "kafka_broker.py"


def _broker_script() -> ModuleType:
    """scripts/ is not a package (the script must run before the venv exists), so load it by path."""
    name = "opswarden_kafka_broker_script"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BROKER_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve the module's annotations through sys.modules.
    spec.loader.exec_module(module)
    return module


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Kafka broker unavailable under CI: {reason}", pytrace=False)
    pytest.skip(f"Kafka broker unavailable: {reason}")


def _check_reachable(bootstrap: str) -> None:
    """Ask for cluster metadata through librdkafka, the client the tests use, before handing it out."""
    try:
        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=15)
    except KafkaException as exc:
        _unavailable(f"{bootstrap} does not answer: {exc}")
    if not metadata.brokers:
        _unavailable(f"{bootstrap} lists no live broker")


def _start_local(script: ModuleType) -> Any:
    """A broker started by scripts/kafka_broker.py (its `Broker`), tied to this pytest process."""
    try:
        return script.start(die_with_parent=True)
    except script.BrokerError as exc:
        reason = str(exc)  # Reported outside the handler, so the failure is not shown as a chained traceback.
    _unavailable(reason)


def pytest_configure(config: pytest.Config) -> None:
    """Register `kafka` when the plugin is used in a project whose ini does not declare it."""
    if not any(line.split(":")[0].strip() == "kafka" for line in config.getini("markers")):
        config.addinivalue_line("markers", "kafka: needs a real Kafka broker")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Any test that reaches the broker is marked `kafka`, so `-m "not kafka"` deselects it reliably."""
    for item in items:
        if "kafka_bootstrap" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The "host:port" bootstrap address of a live Kafka cluster, one for the whole session."""
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        _check_reachable(external)
        yield external
        return
    script = _broker_script()
    broker = _start_local(script)
    try:
        _check_reachable(broker.bootstrap)
        yield broker.bootstrap
    finally:
        script.stop(broker)


@pytest.fixture
def kafka_topic(kafka_bootstrap: str) -> Iterator[Callable[..., str]]:
    """Factory: `kafka_topic(partitions=3)` creates a uniquely named topic and returns its name.

    Topics are deleted after the test (best effort), so a long session keeps the broker small.
    """
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    created: list[str] = []

    def create(partitions: int = 1, *, prefix: str = "test", config: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        futures = admin.create_topics([NewTopic(name, num_partitions=partitions, config=config or {})])
        futures[name].result(timeout=30)
        created.append(name)
        return name

    yield create
    if created:
        concurrent.futures.wait(list(admin.delete_topics(created).values()), timeout=30)

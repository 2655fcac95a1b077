"""The probes an orchestrator asks: `/healthz` fails once the event loop stops beating, `/readyz` until the global
topics are read; both are served on the metrics port beside `/metrics`."""

from __future__ import annotations

import doctest
import urllib.error
import urllib.request
from collections.abc import Iterator

import orjson
import pytest

from streams import health as health_module
from streams import metrics
from streams.health import Health


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_docstring_example() -> None:
    assert doctest.testmod(health_module).failed == 0


def test_a_worker_that_has_not_beaten_is_starting_live_but_not_ready() -> None:
    health = Health(stall_after_s=30, clock=Clock())
    assert health.live().ok
    assert health.live().status == "starting"
    assert not health.ready().ok


def test_ready_once_beating_with_global_state_loaded() -> None:
    clock = Clock()
    health = Health(stall_after_s=30, clock=clock)
    health.beat(loaded=False)
    assert health.live().ok
    assert (health.ready().ok, health.ready().status) == (False, "loading")
    health.beat(loaded=True)
    assert (health.ready().ok, health.ready().status) == (True, "ok")


def test_a_loop_silent_past_stall_after_is_neither_live_nor_ready() -> None:
    clock = Clock()
    health = Health(stall_after_s=30, clock=clock)
    health.beat(loaded=True)
    clock.now += 29
    assert health.live().ok
    clock.now += 2
    live = health.live()
    assert (live.ok, live.status) == (False, "stalled")
    assert "31 s" in live.detail
    assert not health.ready().ok
    health.beat(loaded=True)
    assert health.live().ok
    assert health.ready().ok


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def served() -> Iterator[tuple[str, Health, Clock]]:
    clock = Clock()
    health = Health(stall_after_s=30, clock=clock)
    server = metrics.serve_metrics(0, "127.0.0.1", health)
    try:
        yield f"http://127.0.0.1:{server.server_port}", health, clock
    finally:
        server.shutdown()
        server.server_close()


def test_probes_answer_json_with_200_or_503_beside_the_metrics(served: tuple[str, Health, Clock]) -> None:
    base, health, clock = served
    status, body = get(f"{base}/readyz")
    assert status == 503
    assert orjson.loads(body)["status"] == "starting"
    health.beat(loaded=True)
    assert get(f"{base}/readyz")[0] == 200
    assert get(f"{base}/healthz")[0] == 200
    clock.now += 60
    status, body = get(f"{base}/healthz")
    assert (status, orjson.loads(body)["status"]) == (503, "stalled")
    status, body = get(f"{base}/metrics")
    assert status == 200
    assert b"# TYPE opswarden_findings_issued_total counter" in body

"""Liveness and readiness, for an orchestrator's probes, served beside `/metrics` on the metrics port.

- `/healthz` (live): the worker's event loop has beaten within `stall_after_s`. A loop blocked that long (a
  hung call, a runaway step) judges nothing and answers no heartbeat to Kafka; restarting the worker hands
  its partitions to another. A worker that has not beaten yet is starting, and counts as live.
- `/readyz` (ready): live, and the global topics (authorizations, registry) have been read to where they
  ended at start. Until then the engines hold every change, since an incomplete index would misjudge it.

Both answer JSON, `{"status": ..., "detail": ...}`, with 200 or 503.

>>> now = [100.0]
>>> health = Health(stall_after_s=30, clock=lambda: now[0])
>>> health.live().status, health.ready().status
('starting', 'starting')
>>> health.beat(loaded=True)
>>> now[0] += 31
>>> health.live().ok, health.live().status
(False, 'stalled')
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

#: What a WSGI application is called with and returns (wsgiref's types, without importing its private module).
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    status: str
    detail: str

    def as_json(self) -> bytes:
        return orjson.dumps({"status": self.status, "detail": self.detail})


class Health:
    """Written by the worker's event loop (`beat`), read by the metrics server's threads (`live`, `ready`)."""

    def __init__(self, stall_after_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_after_s = stall_after_s
        self._clock = clock
        self._last_beat: float | None = None
        self._loaded = False

    def beat(self, *, loaded: bool) -> None:
        """From a task of the event loop, every second or so: the loop runs, and whether global state is read."""
        self._last_beat = self._clock()
        self._loaded = loaded

    def live(self) -> Verdict:
        if self._last_beat is None:
            return Verdict(True, "starting", "the event loop has not beaten yet")
        silent = self._clock() - self._last_beat
        if silent > self.stall_after_s:
            return Verdict(False, "stalled", f"the event loop has not run for {silent:.0f} s")
        return Verdict(True, "ok", f"last heartbeat {silent:.1f} s ago")

    def ready(self) -> Verdict:
        live = self.live()
        if not live.ok or live.status == "starting":
            return Verdict(False, live.status, live.detail)
        if not self._loaded:
            return Verdict(False, "loading", "reading the authorization and registry topics")
        return Verdict(True, "ok", "global state loaded, event loop running")


def with_probes(app: WSGIApp, health: Health) -> WSGIApp:
    """`app` (the metrics), with `/healthz` and `/readyz` answered from `health`."""
    probes = {"/healthz": health.live, "/readyz": health.ready}

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        probe = probes.get(environ.get("PATH_INFO", ""))
        if probe is None:
            return app(environ, start_response)
        verdict = probe()
        start_response("200 OK" if verdict.ok else "503 Service Unavailable", [("Content-Type", "application/json")])
        return [verdict.as_json()]

    return serve

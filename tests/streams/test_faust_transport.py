"""The worker's Faust consumer answers fetches within the batch window, not faust-streaming's fixed 1.5 s."""

from __future__ import annotations

import asyncio

from streams.app import create_faust_app
from streams.faust_transport import PromptFetchConsumerThread
from streams.settings import Settings


def test_the_engines_consumer_is_built_with_the_batch_window_as_its_fetch_wait() -> None:
    app = create_faust_app(Settings(bootstrap_servers="127.0.0.1:9", app_id="fetch-test", batch_within_s=0.035))
    thread = app.consumer._thread  # type: ignore[attr-defined]
    assert isinstance(thread, PromptFetchConsumerThread)

    async def build() -> int:  # aiokafka consumers are made inside a running loop
        consumer = thread._create_worker_consumer(app.transport)
        return int(consumer._fetch_max_wait_ms)

    assert asyncio.run(build()) == 35
